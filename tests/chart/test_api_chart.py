"""The chart through the API: the nurse's session from check-in to discharge."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from scheduling.booking.models import Session
from scheduling.chart.models import Alert, DoseAdministration, VitalSigns

from ..conftest import NORMAL_VITALS, api_token

MIN = dt.timedelta(minutes=1)


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    return client


@pytest.fixture
def nurse(staff):
    return api(staff["nurse"])


@pytest.fixture
def clinician(staff):
    return api(staff["clinician"])


def check_in(client, session):
    response = client.post(f"/api/v1/sessions/{session.pk}/check-in/", {
        "fasting_confirmed": True, "escort_confirmed": True, "escort_name": "B. Friend",
        "weight_kg": "70.0",
    }, format="json")  # fmt: skip
    assert response.status_code == 200, response.json()


def vitals(session, timepoint, **values):
    return {"session": session.pk, "timepoint": timepoint, **{**NORMAL_VITALS, **values}}


def test_a_nurse_charts_an_iv_session_through_the_api(iv_session, nurse, clinician):
    s = iv_session
    url = f"/api/v1/sessions/{s.pk}"
    with time_machine.travel(s.starts_at - 10 * MIN, tick=False) as clock:
        checked = nurse.post(f"{url}/check-in/", {
            "fasting_confirmed": True, "escort_confirmed": True, "escort_name": "A. Friend",
            "weight_kg": "80.0", "pre_dose_vitals": NORMAL_VITALS,
        }, format="json")  # fmt: skip
        assert checked.status_code == 200, checked.json()
        assert checked.json()["status"] == Session.Status.CHECKED_IN

        clock.shift(10 * MIN)
        guessed = nurse.post(f"{url}/dose/", {}, format="json")
        assert guessed.status_code == 400
        assert "mg/kg" in guessed.json()["errors"]["mg_per_kg"][0]
        chart = nurse.post(f"{url}/dose/", {"mg_per_kg": "0.50"}, format="json")
        assert chart.status_code == 200, chart.json()
        dose = chart.json()["dose"]
        assert (dose["mg_per_kg"], dose["weight_kg"], dose["total_mg"]) == ("0.50", "80.0", "40.0")

        clock.shift(20 * MIN)
        high = nurse.post("/api/v1/vitals/", vitals(s, "during", systolic=185), format="json")
        assert high.status_code == 201, high.json()
        open_alerts = nurse.get("/api/v1/alerts/", {"open": "true", "session": s.pk}).json()
        assert [a["kind"] for a in open_alerts["results"]] == [Alert.Kind.VITALS_THRESHOLD]

        clock.shift(25 * MIN)
        assert nurse.post(f"{url}/monitoring/", {}, format="json").status_code == 200
        nurse.post("/api/v1/vitals/", vitals(s, "post_dose_40"), format="json")
        early = nurse.post(f"{url}/discharge/", {}, format="json")
        assert early.status_code == 400
        assert set(early.json()["errors"]) >= {"observation", "alerts"}

        clock.shift(60 * MIN)
        alert_id = open_alerts["results"][0]["id"]
        ack = clinician.post(f"/api/v1/alerts/{alert_id}/acknowledge/", {"note": "Rechecked"},
                             format="json")  # fmt: skip
        assert ack.status_code == 200 and ack.json()["is_open"] is False
        nurse.post("/api/v1/vitals/", vitals(s, "pre_discharge"), format="json")
        done = nurse.post(f"{url}/discharge/", {}, format="json")
        assert done.status_code == 200, done.json()
        assert done.json()["status"] == Session.Status.DISCHARGED


def test_a_dose_is_refused_over_an_open_pre_dose_alert_until_a_clinician_acknowledges_it(
    iv_session, nurse, clinician
):
    url = f"/api/v1/sessions/{iv_session.pk}"
    with time_machine.travel(iv_session.starts_at - 10 * MIN, tick=False) as clock:
        checked = nurse.post(f"{url}/check-in/", {
            "fasting_confirmed": True, "escort_confirmed": True, "escort_name": "A. Friend",
            "weight_kg": "80.0",
            "pre_dose_vitals": {**NORMAL_VITALS, "systolic": 165, "diastolic": 100},
        }, format="json")  # fmt: skip
        assert checked.status_code == 200, checked.json()
        clock.shift(10 * MIN)
        refused = nurse.post(f"{url}/dose/", {"mg_per_kg": "0.50"}, format="json")
        assert refused.status_code == 400
        assert "systolic 165 mmHg is above 140" in refused.json()["errors"]["alerts"][0]
        assert "A clinician acknowledges the alert" in refused.json()["errors"]["alerts"][-1]
        assert not DoseAdministration.objects.filter(session=iv_session).exists()

        (alert,) = nurse.get("/api/v1/alerts/", {"open": "true", "session": iv_session.pk}).json()[
            "results"
        ]
        ack = clinician.post(f"/api/v1/alerts/{alert['id']}/acknowledge/",
                             {"note": "Rechecked at rest: 138/86"}, format="json")  # fmt: skip
        assert ack.status_code == 200
        dosed = nurse.post(f"{url}/dose/", {"mg_per_kg": "0.50"}, format="json")
        assert dosed.status_code == 200, dosed.json()


def test_a_dose_above_the_ceiling_is_a_400_even_signed_off_by_a_clinician(iv_session, clinician):
    with time_machine.travel(iv_session.starts_at, tick=False):
        check_in(clinician, iv_session)
        clinician.post("/api/v1/vitals/", vitals(iv_session, "pre_dose"), format="json")
        refused = clinician.post(f"/api/v1/sessions/{iv_session.pk}/dose/", {
            "mg_per_kg": "99.99", "sign_off_reason": "Clinician insists",
        }, format="json")  # fmt: skip
    assert refused.status_code == 400, refused.json()
    assert "above the ceiling of 2.00 mg/kg" in refused.json()["errors"]["mg_per_kg"][0]
    assert not DoseAdministration.objects.filter(session=iv_session).exists()


def test_an_impossible_vital_is_a_400_naming_the_field_and_nothing_is_written(iv_session, nurse):
    with time_machine.travel(iv_session.starts_at, tick=False):
        check_in(nurse, iv_session)
        before = VitalSigns.objects.count()
        response = nurse.post(
            "/api/v1/vitals/", vitals(iv_session, "pre_dose", systolic=400), format="json"
        )
        assert response.status_code == 400
        assert "systolic" in response.json()["errors"]
        assert VitalSigns.objects.count() == before


def test_vitals_are_amended_never_edited_or_deleted(iv_session, nurse):
    with time_machine.travel(iv_session.starts_at, tick=False):
        check_in(nurse, iv_session)
        first = nurse.post("/api/v1/vitals/", vitals(iv_session, "pre_dose", heart_rate=130),
                           format="json").json()  # fmt: skip
        assert nurse.patch(f"/api/v1/vitals/{first['id']}/", {"heart_rate": 80},
                           format="json").status_code == 405  # fmt: skip
        assert nurse.delete(f"/api/v1/vitals/{first['id']}/").status_code == 405
        fix = nurse.post("/api/v1/vitals/", {
            **vitals(iv_session, "pre_dose", heart_rate=80), "amends": first["id"],
            "amendment_reason": "Typed 130 for 80",
        }, format="json")  # fmt: skip
        assert fix.status_code == 201, fix.json()
        original = nurse.get(f"/api/v1/vitals/{first['id']}/").json()
        assert original["heart_rate"] == 130 and original["amended_by"] == fix.json()["id"]


def test_side_effects_cannot_be_deleted_through_the_api(iv_session, nurse):
    with time_machine.travel(iv_session.starts_at, tick=False):
        check_in(nurse, iv_session)
        created = nurse.post("/api/v1/side-effects/", {
            "session": iv_session.pk, "kind": "nausea", "severity": "mild",
        }, format="json")  # fmt: skip
        assert created.status_code == 201, created.json()
        effect = created.json()["id"]
        assert nurse.delete(f"/api/v1/side-effects/{effect}/").status_code == 405
        assert nurse.put(f"/api/v1/side-effects/{effect}/", {}, format="json").status_code == 405


def test_another_clinics_session_is_no_session_of_yours(iv_session, other_clinic):
    """A nurse of another clinic, and a session id that does not exist, get the same 400
    naming the session: nothing says whether it exists, and nothing is written."""
    from django.contrib.auth import get_user_model

    from clinic.models import StaffMembership

    stranger = get_user_model().objects.create_user(username="other-nurse", password="x" * 12)
    StaffMembership.objects.create(user=stranger, clinic=other_clinic, role="nurse")
    before = VitalSigns.objects.count()
    with time_machine.travel(iv_session.starts_at, tick=False):
        theirs = api(stranger).post(
            "/api/v1/vitals/", vitals(iv_session, "pre_dose"), format="json"
        )
        missing = api(stranger).post(
            "/api/v1/vitals/", {**vitals(iv_session, "pre_dose"), "session": 10**9},
            format="json",
        )  # fmt: skip
    for response in (theirs, missing):
        assert response.status_code == 400, response.json()
        assert response.json()["errors"] == {"session": ["No such session among yours."]}
    assert VitalSigns.objects.count() == before


def test_who_may_post_vitals_is_who_charts():
    """The vitals API leaves the scope check to the service's lock (CARE): that is only
    the API's own rule while the two lists are the same roles."""
    from clinic.api.base import CLINICAL
    from scheduling.chart.api import VitalSignsViewSet
    from scheduling.chart.services import CARE

    assert set(VitalSignsViewSet.roles["create"]) == set(CLINICAL) == set(CARE)


def test_the_front_desk_cannot_chart(iv_session, staff):
    desk = api(staff["front_desk"])
    with time_machine.travel(iv_session.starts_at, tick=False):
        response = desk.post("/api/v1/vitals/", vitals(iv_session, "pre_dose"), format="json")
        assert response.status_code == 403
        assert desk.get(f"/api/v1/sessions/{iv_session.pk}/chart/").status_code == 403


def test_a_patient_fills_in_their_own_phq9_and_item_9_alerts(iv_session, staff):
    from django.contrib.auth import get_user_model

    patient = iv_session.patient
    patient.user = get_user_model().objects.create_user("pat", password="x-test-only-9")
    patient.save()
    client = api(patient.user)
    response = client.post("/api/v1/questionnaires/", {
        "patient": patient.pk, "kind": "phq9", "items": [1, 1, 1, 1, 1, 1, 1, 1, 1],
    }, format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    assert (response.json()["total"], response.json()["band"]) == (9, "mild")
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.PHQ9_ITEM9).count() == 1
    assert client.get("/api/v1/questionnaires/").json()["count"] == 1


def test_a_patient_cannot_fill_in_anothers_phq9(iv_session, clinic):
    from django.contrib.auth import get_user_model

    from ..conftest import make_ready_patient

    other = make_ready_patient(clinic, "OTHER")
    other.user = get_user_model().objects.create_user("other", password="x-test-only-9")
    other.save()
    response = api(other.user).post("/api/v1/questionnaires/", {
        "patient": iv_session.patient.pk, "kind": "phq9", "items": [0] * 9,
    }, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "patient" in response.json()["errors"]


def test_bad_phq9_items_are_named(iv_session, nurse):
    response = nurse.post("/api/v1/questionnaires/", {
        "patient": iv_session.patient.pk, "kind": "phq9", "items": [0, 1, 2, 3, 4, 0, 0, 0, 0],
    }, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "items.4" in response.json()["errors"]


def _grow_chart(session, nurse, n):
    from scheduling.chart.models import SideEffect

    now = session.starts_at
    for _ in range(n):
        v = VitalSigns.objects.create(session=session, timepoint="after", measured_at=now,
                                      recorded_by=nurse, recorded_at=now,
                                      **NORMAL_VITALS)  # fmt: skip
        # A corrected reading too: the chart shows both, linked.
        VitalSigns.objects.create(session=session, timepoint="after", measured_at=now,
                                  recorded_by=nurse, recorded_at=now, amends=v,
                                  amendment_reason="typo", **NORMAL_VITALS)  # fmt: skip
        SideEffect.objects.create(session=session, kind="nausea", severity="mild", onset_at=now,
                                  recorded_by=nurse, recorded_at=now)  # fmt: skip
        Alert.objects.create(clinic=session.clinic, patient=session.patient, session=session,
                             kind="vitals_threshold", vitals=v, message="x",
                             raised_at=now)  # fmt: skip


def test_the_chart_api_asks_the_same_number_of_times_at_two_sizes(iv_session, staff, nurse):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = nurse.get(f"/api/v1/sessions/{iv_session.pk}/chart/")
        assert response.status_code == 200, response.json()
        return len(ctx.captured_queries), response.json()

    _grow_chart(iv_session, staff["nurse"], 5)
    # Frozen, and the token used once before: its last use is noted at most once a minute.
    with time_machine.travel(timezone.now(), tick=False):
        count()
        small, _ = count()
        _grow_chart(iv_session, staff["nurse"], 45)
        large, chart = count()
    assert len(chart["vitals"]) >= 50  # the current readings
    assert large == small


def test_recording_vitals_is_a_fixed_few_queries(
    iv_session, staff, nurse, django_assert_num_queries
):
    """The busiest write of the chart (issue 8): the token, the caller's roles, then
    in a transaction (its savepoint and release, nested in the test's) the session's
    clinic, the writer's role there, the lock on the session's row only, the session
    marked changed (its version, for the chart's and board's ETags) and the INSERT; a
    reading past a threshold adds its alert and the alert's history."""
    from ..conftest import chart_through

    start = iv_session.starts_at
    chart_through(iv_session, nurse=staff["nurse"], start=start, to=Session.Status.MONITORING)
    with time_machine.travel(start + 50 * MIN, tick=False):
        nurse.post("/api/v1/vitals/", vitals(iv_session, "after"), format="json")  # warm
        with django_assert_num_queries(9) as quiet:
            ok = nurse.post("/api/v1/vitals/", vitals(iv_session, "after"), format="json")
        assert ok.status_code == 201, ok.json()
        lock = quiet.captured_queries[5]["sql"]
        assert lock.startswith('SELECT "scheduling_session"."id"') and "clinic_clinic" not in lock
        if connection.vendor == "postgresql":
            assert lock.endswith('FOR UPDATE OF "scheduling_session"')
        with django_assert_num_queries(11):
            high = nurse.post(
                "/api/v1/vitals/", vitals(iv_session, "after", systolic=190), format="json"
            )
        assert high.status_code == 201, high.json()
    assert Alert.objects.filter(vitals_id=high.json()["id"]).count() == 1
    assert VitalSigns.objects.filter(session=iv_session).count() == 2 + 3  # charted + posted


def test_a_posted_reading_answers_as_the_serializer_documents_it(iv_session, staff, nurse):
    """The POST's answer is VitalSignsSerializer's, the same as a read of the reading, for
    a correction with a temperature."""
    from ..conftest import chart_through

    start = iv_session.starts_at
    chart_through(iv_session, nurse=staff["nurse"], start=start, to=Session.Status.MONITORING)
    first = VitalSigns.objects.filter(session=iv_session).order_by("id").last()
    body = {**vitals(iv_session, "after"), "amends": first.pk, "temperature_c": "36.9",
            "amendment_reason": "Wrong patient's cuff", "respiratory_rate": 14}  # fmt: skip
    with time_machine.travel(start + 50 * MIN, tick=False):
        posted = nurse.post("/api/v1/vitals/", body, format="json")
    assert posted.status_code == 201, posted.json()
    answer = posted.json()
    assert answer["temperature_c"] == "36.9" and answer["amends"] == first.pk
    assert answer["amended_by"] is None
    assert nurse.get(f"/api/v1/vitals/{answer['id']}/").json() == answer
    assert nurse.get(f"/api/v1/vitals/{first.pk}/").json()["amended_by"] == answer["id"]


def test_each_request_body_serializer_binds_fields_of_its_own():
    """InputSerializer copies plain fields shallowly (clinic.api.base): each instance
    still has its own fields, bound to it, the declared ones untouched, and a field with
    a child (a list) is a whole copy, its child bound to that copy."""
    from scheduling.booking.api import CourseStartInput
    from scheduling.chart.api import VitalsInput

    one, two = VitalsInput(data={}), VitalsInput(data={})
    for name, declared in VitalsInput._declared_fields.items():
        a, b = one.fields[name], two.fields[name]
        assert a is not b and a is not declared
        assert (a.parent, b.parent, declared.parent) == (one, two, None)
        assert a.field_name == b.field_name == name
    assert not one.is_valid() and "session" in one.errors
    assert two.is_valid() is False and set(two.errors) == set(one.errors)

    days = CourseStartInput().fields["preferred_weekdays"]
    declared = CourseStartInput._declared_fields["preferred_weekdays"]
    assert days is not declared and days.child is not declared.child
    assert days.child.parent is days


def test_a_field_with_a_mutable_default_is_a_whole_copy_per_serializer():
    from rest_framework import serializers

    from clinic.api.base import InputSerializer

    class Tagged(InputSerializer):
        tags = serializers.JSONField(default=[])
        note = serializers.CharField(default="")

    one, two = Tagged(), Tagged()
    assert one.fields["tags"].default == two.fields["tags"].default == []
    assert one.fields["tags"].default is not two.fields["tags"].default  # never shared
    assert one.fields["note"].parent is one and two.fields["note"].parent is two


def test_each_resource_has_one_url_and_an_unknown_one_is_a_json_404(nurse):
    """No format-suffix twins ("/vitals.json"): every request's URL is matched against
    the routes before its own, and the twins doubled that work (clinic.urls)."""
    assert nurse.get("/api/v1/vitals/").status_code == 200
    twin = nurse.get("/api/v1/vitals.json")
    assert twin.status_code == 404
    assert twin.json()["code"] == "not_found"


def test_esketamine_discharge_waits_for_a_clinicians_ready_to_leave_time_through_the_api(
    esketamine_session, staff, nurse, clinician
):
    from ..conftest import chart_through

    start = esketamine_session.starts_at - 10 * MIN
    s = chart_through(esketamine_session, nurse=staff["nurse"], start=start, to="monitoring")
    url = f"/api/v1/sessions/{s.pk}"
    with time_machine.travel(start + 130 * MIN, tick=False):
        nurse.post("/api/v1/vitals/", vitals(s, "pre_discharge"), format="json")
        refused = nurse.post(f"{url}/discharge/", {}, format="json")
        assert refused.status_code == 400
        assert list(refused.json()["errors"]) == ["ready_to_leave"]
        assert nurse.post(f"{url}/ready-to-leave/", {}, format="json").status_code == 403

        judged = clinician.post(f"{url}/ready-to-leave/", {"note": "Alert"}, format="json")
        assert judged.status_code == 200, judged.json()
        assert judged.json()["discharge_problems"] == {}
        done = nurse.post(f"{url}/discharge/", {}, format="json")
        assert done.status_code == 200, done.json()
        form = nurse.get(f"{url}/rems-form/").json()
        assert form["ready_to_leave_at"] is not None
