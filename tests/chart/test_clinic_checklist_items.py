"""The check-in checklist belongs to the protocol, and a clinic adds items of its own
(issue 18, item 5): asked at check-in, recorded as asked, completed or waived like the
built-in items, and gating the dose through the one checklist gate."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from scheduling.booking.models import Protocol
from scheduling.chart.models import (
    CheckIn,
    ClinicChecklistAnswer,
    ClinicChecklistItem,
    DoseAdministration,
)
from scheduling.chart.selectors import session_chart
from scheduling.chart.services import checklist_complete, checklist_waive, session_check_in

from ..conftest import api_token, at, chart_check_in, chart_dose

DECONGESTANT = "No nasal decongestant in the last hour"
CHECK_IN = at(2027, 1, 5, 9, 30)  # the esketamine session: Tuesday 5 January, 10:00 London
DOSE = at(2027, 1, 5, 9, 40)
MIN = dt.timedelta(minutes=1)


@pytest.fixture
def decongestant(clinic):
    return ClinicChecklistItem.objects.create(
        clinic=clinic, label=DECONGESTANT, drug=Protocol.Drug.ESKETAMINE
    )


def clinic_lines(chart):
    return [(line.label, line.done) for line in chart.checklist if line.clinic_item_id]


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    return client


# --- through the service -----------------------------------------------------------------


def test_a_checklist_item_added_by_a_clinic_gates_the_dose(esketamine_session, decongestant, staff):
    s, nurse = esketamine_session, staff["nurse"]
    assert clinic_lines(session_chart(session=s, now=CHECK_IN)) == [(DECONGESTANT, False)]

    chart_check_in(s, nurse=nurse, now=CHECK_IN)
    with pytest.raises(ValidationError) as refused:
        chart_dose(s, nurse=nurse, now=DOSE)
    assert refused.value.message_dict["checklist"] == [
        f"{DECONGESTANT}: not done. Complete it, or a clinician waives it with a reason."
    ]
    assert not DoseAdministration.objects.exists()

    checklist_complete(session=s, by=nurse, clinic_items_done=[decongestant.id], now=DOSE)
    answer = ClinicChecklistAnswer.objects.get()
    assert (answer.done, answer.done_by, answer.done_at) == (True, nurse, DOSE)
    assert answer.history.count() == 2  # asked and not done, then done: both kept
    assert chart_dose(s, nurse=nurse, now=DOSE).session_id == s.id


def test_a_clinic_item_ticked_at_check_in_lets_the_dose_go_ahead(
    esketamine_session, decongestant, staff
):
    chart_check_in(
        esketamine_session, nurse=staff["nurse"], now=CHECK_IN,
        clinic_items_done=[decongestant.id],
    )  # fmt: skip

    assert clinic_lines(session_chart(session=esketamine_session)) == [(DECONGESTANT, True)]
    assert chart_dose(esketamine_session, nurse=staff["nurse"], now=DOSE)


def test_a_clinician_waives_a_clinic_item_with_a_reason_and_the_dose_goes_ahead(
    esketamine_session, decongestant, staff
):
    s = esketamine_session
    chart_check_in(s, nurse=staff["nurse"], now=CHECK_IN)
    with pytest.raises(PermissionDenied):
        checklist_waive(
            session=s, item=decongestant.key, by=staff["nurse"], reason="Fine", now=CHECK_IN
        )

    waiver = checklist_waive(
        session=s, item=decongestant.key, by=staff["clinician"],
        reason="Saline spray only, not a decongestant.", now=CHECK_IN,
    )  # fmt: skip

    assert waiver.item == f"clinic_item_{decongestant.id}"
    line = next(x for x in session_chart(session=s).checklist if x.clinic_item_id)
    assert line.waiver == waiver and line.satisfied and not line.done
    assert chart_dose(s, nurse=staff["nurse"], now=DOSE)


def test_a_clinic_item_is_asked_only_for_its_drug_or_its_protocols(
    clinic, iv_session, esketamine_session, iv_standard, decongestant
):
    for_iv = ClinicChecklistItem.objects.create(clinic=clinic, label="Cannula site checked")
    for_iv.protocols.set([iv_standard])
    everywhere = ClinicChecklistItem.objects.create(clinic=clinic, label="Phone on silent")

    iv = session_chart(session=iv_session, now=CHECK_IN)
    esketamine = session_chart(session=esketamine_session, now=CHECK_IN)

    assert [label for label, _ in clinic_lines(iv)] == ["Cannula site checked", "Phone on silent"]
    assert [label for label, _ in clinic_lines(esketamine)] == [DECONGESTANT, "Phone on silent"]
    assert everywhere.is_active


def test_a_retired_item_is_no_longer_asked_but_old_check_ins_keep_it_as_asked(
    esketamine_session, decongestant, staff
):
    first = esketamine_session
    chart_check_in(first, nurse=staff["nurse"], now=CHECK_IN)

    decongestant.label = "No decongestant spray today"
    decongestant.is_active = False
    decongestant.save()

    assert clinic_lines(session_chart(session=first)) == [(DECONGESTANT, False)]
    second = first.course.sessions.get(number=2)  # Friday 8 January
    assert clinic_lines(session_chart(session=second, now=at(2027, 1, 8, 9, 30))) == []
    chart_check_in(second, nurse=staff["nurse"], now=at(2027, 1, 8, 9, 30))
    assert not ClinicChecklistAnswer.objects.filter(check_in__session=second).exists()
    # The first session still waits for it: retiring an item lifts no gate already asked.
    with pytest.raises(ValidationError) as refused:
        chart_dose(first, nurse=staff["nurse"], now=DOSE)
    assert DECONGESTANT in refused.value.message_dict["checklist"][0]


def test_another_clinics_item_is_refused_at_check_in_and_nothing_is_written(
    esketamine_session, decongestant, other_clinic, staff
):
    theirs = ClinicChecklistItem.objects.create(clinic=other_clinic, label="Their item")

    with pytest.raises(ValidationError) as refused:
        session_check_in(
            session=esketamine_session, by=staff["nurse"], fasting_confirmed=True,
            escort_confirmed=True, escort_name="A. Friend",
            clinic_items_done=[decongestant.id, theirs.id], now=CHECK_IN,
        )  # fmt: skip

    assert refused.value.message_dict["clinic_items_done"] == [
        f"Not on this session's checklist: item {theirs.id}."
    ]
    assert not CheckIn.objects.exists() and not ClinicChecklistAnswer.objects.exists()


def test_only_an_item_asked_at_check_in_can_be_completed_later(
    clinic, esketamine_session, decongestant, staff
):
    chart_check_in(esketamine_session, nurse=staff["nurse"], now=CHECK_IN)
    added_since = ClinicChecklistItem.objects.create(clinic=clinic, label="Added after check-in")

    with pytest.raises(ValidationError) as refused:
        checklist_complete(
            session=esketamine_session, by=staff["nurse"],
            clinic_items_done=[decongestant.id, added_since.id], now=DOSE,
        )  # fmt: skip

    assert "clinic_items_done" in refused.value.message_dict
    assert not ClinicChecklistAnswer.objects.get().done  # refused whole: nothing ticked


# --- the built-in checklist is the protocol's ----------------------------------------------


def test_the_protocol_says_whether_check_in_asks_for_fasting_and_the_weight(
    esketamine_session, esketamine_trd, iv_standard
):
    esketamine_trd.check_in_fasting = esketamine_trd.check_in_weight = False
    esketamine_trd.save()

    items = [line.item for line in session_chart(session=esketamine_session).checklist]
    assert items == ["escort", "pre_dose_vitals"]
    iv_standard.check_in_weight = False
    with pytest.raises(ValidationError) as refused:
        iv_standard.full_clean()
    assert "check_in_weight" in refused.value.message_dict


# --- through the API -----------------------------------------------------------------------


def test_through_the_api_a_clinic_item_is_asked_at_check_in_and_gates_the_dose(
    esketamine_session, decongestant, staff
):
    nurse, url = api(staff["nurse"]), f"/api/v1/sessions/{esketamine_session.pk}"
    with time_machine.travel(esketamine_session.starts_at - 10 * MIN, tick=False):
        before = nurse.get(f"{url}/chart/").json()["checklist"]
        asked = [line for line in before if line["clinic_item"]]
        assert [(x["item"], x["label"]) for x in asked] == [(decongestant.key, DECONGESTANT)]

        checked = nurse.post(f"{url}/check-in/", {
            "fasting_confirmed": True, "escort_confirmed": True, "escort_name": "A. Friend",
            "weight_kg": "70.0", "clinic_items_done": [],
        }, format="json")  # fmt: skip
        assert checked.status_code == 200, checked.json()
        nurse.post("/api/v1/vitals/", {
            "session": esketamine_session.pk, "timepoint": "pre_dose", "systolic": 122,
            "diastolic": 78, "heart_rate": 72, "spo2": 98,
        }, format="json")  # fmt: skip
        dose = {"dose_mg": 56, "lot_number": "LOT-1"}
        refused = nurse.post(f"{url}/dose/", dose, format="json")
        assert refused.status_code == 400
        assert refused.json()["errors"]["checklist"] == [
            f"{DECONGESTANT}: not done. Complete it, or a clinician waives it with a reason."
        ]

        ticked = nurse.post(
            f"{url}/checklist/", {"clinic_items_done": [decongestant.id]}, format="json"
        )
        assert ticked.status_code == 200, ticked.json()
        line = next(x for x in ticked.json()["checklist"] if x["clinic_item"])
        assert (line["label"], line["done"], line["satisfied"]) == (DECONGESTANT, True, True)
        assert nurse.post(f"{url}/dose/", dose, format="json").status_code == 200


def test_through_the_api_a_clinician_waives_a_clinic_item(esketamine_session, decongestant, staff):
    url = f"/api/v1/sessions/{esketamine_session.pk}"
    chart_check_in(esketamine_session, nurse=staff["nurse"], now=CHECK_IN)
    with time_machine.travel(DOSE, tick=False):
        body = {"item": decongestant.key, "reason": "Saline spray only."}
        assert api(staff["nurse"]).post(f"{url}/waive/", body, format="json").status_code == 403
        waived = api(staff["clinician"]).post(f"{url}/waive/", body, format="json")
        assert waived.status_code == 200, waived.json()
        line = next(x for x in waived.json()["checklist"] if x["clinic_item"])
        assert (line["waived"], line["satisfied"]) == (True, True)
        unknown = api(staff["clinician"]).post(
            f"{url}/waive/", {"item": "clinic_item_999999", "reason": "x"}, format="json"
        )
        assert unknown.status_code == 400 and "item" in unknown.json()["errors"]
        dosed = api(staff["nurse"]).post(
            f"{url}/dose/", {"dose_mg": 56, "lot_number": "LOT-1"}, format="json"
        )
        assert dosed.status_code == 200, dosed.json()


@pytest.mark.parametrize("ids", [["another clinic's"], [999999], ["x"], [0]])
def test_through_the_api_an_item_not_on_the_checklist_is_a_400_naming_the_field(
    esketamine_session, decongestant, other_clinic, staff, ids
):
    theirs = ClinicChecklistItem.objects.create(clinic=other_clinic, label="Their item")
    ids = [theirs.id if i == "another clinic's" else i for i in ids]
    with time_machine.travel(esketamine_session.starts_at - 10 * MIN, tick=False):
        response = api(staff["nurse"]).post(
            f"/api/v1/sessions/{esketamine_session.pk}/check-in/",
            {"fasting_confirmed": True, "escort_confirmed": False, "clinic_items_done": ids},
            format="json",
        )
    assert response.status_code == 400
    # a malformed id is named by its place in the list (clinic_items_done.0)
    assert [f.split(".")[0] for f in response.json()["errors"]] == ["clinic_items_done"]
    assert not CheckIn.objects.exists()


# --- the pages and the admin ---------------------------------------------------------------


def test_the_check_in_form_and_the_completion_form_ask_the_clinics_items(
    client, esketamine_session, decongestant, staff
):
    field = f"clinic_item_{decongestant.id}"
    chart = reverse("pages:chart", args=[esketamine_session.id])
    with time_machine.travel(CHECK_IN, tick=False):
        client.force_login(staff["nurse"])
        page = client.get(chart)
        assert page.status_code == 200, page
        page = page.content.decode()
        assert DECONGESTANT in page and f'name="{field}"' in page
        checked = client.post(
            reverse("pages:chart_check_in", args=[esketamine_session.id]),
            {"fasting_confirmed": "on", "escort_confirmed": "on", "escort_name": "A. Friend"},
        )
        assert checked.status_code == 200
        assert f'name="{field}"' in checked.content.decode()  # asked again: not done
        done = client.post(
            reverse("pages:chart_checklist", args=[esketamine_session.id]), {field: "on"}
        )
    assert done.status_code == 200
    assert ClinicChecklistAnswer.objects.get().done
    assert f'name="{field}"' not in done.content.decode()


def test_a_clinic_admin_adds_an_item_for_their_own_clinic_in_the_admin_and_retires_it(
    client, clinic, other_clinic, staff, esketamine_trd
):
    theirs = Protocol.objects.create(
        clinic=other_clinic, code="theirs", name="Their esketamine", drug="esketamine",
        route="intranasal", session_minutes=150, min_observation_minutes=120,
    )  # fmt: skip
    client.force_login(staff["clinic_admin"])
    add = reverse("admin:scheduling_clinicchecklistitem_add")
    fields = {"clinic": clinic.id, "label": DECONGESTANT, "drug": "esketamine", "order": 0}

    assert client.post(add, {**fields, "protocols": [theirs.id]}).status_code == 200  # refused
    assert client.post(add, {**fields, "clinic": other_clinic.id}).status_code == 200
    assert not ClinicChecklistItem.objects.exists()
    saved = client.post(add, {**fields, "protocols": [esketamine_trd.id], "is_active": "on"})
    assert saved.status_code == 302
    item = ClinicChecklistItem.objects.get()
    assert (item.clinic, list(item.protocols.all())) == (clinic, [esketamine_trd])

    change = reverse("admin:scheduling_clinicchecklistitem_change", args=[item.id])
    assert client.post(change, {**fields, "protocols": [esketamine_trd.id]}).status_code == 302
    item.refresh_from_db()
    assert not item.is_active
    delete = reverse("admin:scheduling_clinicchecklistitem_delete", args=[item.id])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert ClinicChecklistItem.objects.filter(pk=item.pk).exists()


def test_the_demo_clinic_asks_about_nasal_decongestants_for_esketamine(db, settings):
    settings.DEBUG = True
    call_command("demo_seed", verbosity=0)
    call_command("demo_seed", verbosity=0)  # idempotent

    item = ClinicChecklistItem.objects.get()
    assert (item.clinic.slug, item.label, item.drug) == ("harbour", DECONGESTANT, "esketamine")


def test_in_the_admin_a_clinic_item_is_ticked_at_check_in_or_waived_by_a_clinician(
    client, clinic, other_clinic, esketamine_session, decongestant, staff
):
    from django.utils import timezone

    theirs = ClinicChecklistItem.objects.create(clinic=other_clinic, label="Their item")
    s = esketamine_session
    s.starts_at, s.ends_at = timezone.now(), timezone.now() + 150 * MIN  # charted today
    s.save()
    client.force_login(staff["nurse"])
    body = {"session": s.pk, "fasting_confirmed": "on", "escort_confirmed": "on",
            "escort_name": "Kim Escort", "weight_kg": "70.5"}  # fmt: skip
    add = "/admin/scheduling/checkin/add/"
    assert client.post(add, {**body, "clinic_items_done": [theirs.id]}).status_code == 200
    assert not CheckIn.objects.exists()  # another clinic's item is not offered
    assert client.post(add, body).status_code == 302
    assert not ClinicChecklistAnswer.objects.get().done

    client.force_login(staff["clinician"])
    waiver = {"session": s.pk, "item": decongestant.key, "reason": "Saline spray only."}
    response = client.post("/admin/scheduling/checklistwaiver/add/", waiver)
    assert response.status_code == 302, response.content.decode()[:2000]
    line = next(x for x in session_chart(session=s).checklist if x.clinic_item_id)
    assert line.waiver.waived_by == staff["clinician"]
