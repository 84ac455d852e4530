"""The session chart is usable from the Django admin, through the same services."""

import datetime as dt

import pytest
from django.utils import timezone

from scheduling.booking.models import Course, Session
from scheduling.booking.services import session_transition
from scheduling.chart.models import (
    Alert,
    CheckIn,
    Discharge,
    DoseAdministration,
    RemsReport,
    VitalSigns,
)
from scheduling.chart.services import ready_to_leave_record, vitals_record

from ..conftest import NORMAL_VITALS, chart_check_in, chart_dose, make_ready_patient

S = Session.Status
MIN = dt.timedelta(minutes=1)


def make_session(clinic, protocol, starts_at, mrn="ADM-CH"):
    """A session at a given instant, placed directly: these tests are about the admin."""
    patient = make_ready_patient(clinic, mrn)
    course = Course.objects.create(
        clinic=clinic, patient=patient, protocol=protocol, preferred_time=dt.time(10),
        start_date=starts_at.astimezone(clinic.tz).date(),
    )  # fmt: skip
    return Session.objects.create(
        clinic=clinic, course=course, patient=patient, number=1, chair=clinic.chairs.first(),
        starts_at=starts_at, ends_at=starts_at + 150 * MIN,
    )  # fmt: skip


@pytest.fixture
def today(clinic, esketamine_trd):
    """An esketamine session starting now."""
    return make_session(clinic, esketamine_trd, timezone.now())


@pytest.fixture
def checked_in(today, staff):
    chart_check_in(today, nurse=staff["nurse"], now=timezone.now())
    return today


@pytest.fixture
def nurse(client, staff):
    client.force_login(staff["nurse"])
    return client


def vitals_form(session, **values):
    data = dict(NORMAL_VITALS, session=session.pk, timepoint="pre_dose")
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


def test_a_nurse_checks_a_patient_in_from_the_admin(nurse, today):
    response = nurse.post(
        "/admin/scheduling/checkin/add/",
        {
            "session": today.pk, "fasting_confirmed": "on", "escort_confirmed": "on",
            "escort_name": "Kim Escort", "weight_kg": "70.5",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    check_in = CheckIn.objects.get(session=today)
    assert (check_in.escort_name, str(check_in.weight_kg)) == ("Kim Escort", "70.5")
    today.refresh_from_db()
    assert today.status == S.CHECKED_IN


def test_the_add_form_is_prefilled_with_the_session(nurse, today):
    response = nurse.get(f"/admin/scheduling/checkin/add/?session={today.pk}")
    assert response.status_code == 200
    assert f'<option value="{today.pk}" selected>'.encode() in response.content


def test_an_impossible_vital_in_the_admin_names_the_field_and_writes_nothing(nurse, checked_in):
    before = VitalSigns.objects.count()
    response = nurse.post(
        "/admin/scheduling/vitalsigns/add/", vitals_form(checked_in, systolic=20, diastolic=10)
    )
    assert response.status_code == 200
    assert b"Systolic pressure 20 mmHg is not possible" in response.content
    assert VitalSigns.objects.count() == before


def test_vitals_past_a_threshold_in_the_admin_raise_an_alert(nurse, checked_in):
    response = nurse.post("/admin/scheduling/vitalsigns/add/", vitals_form(checked_in, spo2=89))
    assert response.status_code == 302, response.content.decode()[:3000]
    alert = Alert.objects.get(session=checked_in)
    assert "SpO2 89% is below 92%" in alert.message


def test_a_dose_is_recorded_from_the_admin(nurse, checked_in):
    response = nurse.post(
        "/admin/scheduling/doseadministration/add/",
        {"session": checked_in.pk, "dose_mg": "56", "lot_number": "LOT-A1"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    dose = DoseAdministration.objects.get(session=checked_in)
    assert (dose.devices, dose.lot_number) == (2, "LOT-A1")


def test_a_dose_refused_in_the_admin_shows_the_rule(nurse, checked_in):
    response = nurse.post(
        "/admin/scheduling/doseadministration/add/",
        {"session": checked_in.pk, "dose_mg": "84", "lot_number": "LOT-A1"},
    )
    assert response.status_code == 200
    assert b"first esketamine dose is 56 mg" in response.content
    assert not DoseAdministration.objects.exists()


def test_a_clinician_acknowledges_an_alert_in_the_admin_and_a_nurse_cannot(
    client, staff, checked_in
):
    vitals = vitals_record(
        session=checked_in, by=staff["nurse"], timepoint="pre_dose",
        **dict(NORMAL_VITALS, systolic=150),
    )  # fmt: skip
    alert = Alert.objects.get(vitals=vitals)
    url = f"/admin/scheduling/alert/{alert.pk}/change/"

    client.force_login(staff["nurse"])
    assert client.post(url, {"acknowledgement_note": "Seen"}).status_code == 403
    alert.refresh_from_db()
    assert alert.is_open

    client.force_login(staff["clinician"])
    response = client.post(url, {"acknowledgement_note": "Rechecked after 5 min: 136/84."})
    assert response.status_code == 302, response.content.decode()[:3000]
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.acknowledgement_note) == (
        staff["clinician"], "Rechecked after 5 min: 136/84."
    )  # fmt: skip


def test_the_session_page_shows_the_chart(nurse, staff, checked_in):
    chart_dose(checked_in, nurse=staff["nurse"], now=timezone.now())
    response = nurse.get(f"/admin/scheduling/session/{checked_in.pk}/change/")
    assert response.status_code == 200
    for text in (b"Checklist", b"56.0 mg</strong> = 2 x 28 mg devices", b"Next due", b"REMS"):
        assert text in response.content


def test_discharge_from_the_admin_is_refused_with_reasons_then_allowed(
    nurse, staff, clinic, esketamine_trd
):
    started = timezone.now() - 150 * MIN
    session = make_session(clinic, esketamine_trd, started, mrn="ADM-DIS")
    chart_check_in(session, nurse=staff["nurse"], now=started)
    chart_dose(session, nurse=staff["nurse"], now=started + 5 * MIN)
    session_transition(session=session, to=S.MONITORING, by=staff["nurse"], now=started + 10 * MIN)

    refused = nurse.post("/admin/scheduling/discharge/add/", {"session": session.pk})
    assert refused.status_code == 200
    assert b"Record vitals after the dose before discharge" in refused.content
    assert not Discharge.objects.exists()

    vitals_record(session=session, by=staff["nurse"], timepoint="pre_discharge", **NORMAL_VITALS)
    refused = nurse.post("/admin/scheduling/discharge/add/", {"session": session.pk})
    assert b"A clinician records the time the patient was ready to leave" in refused.content
    ready_to_leave_record(session=session, by=staff["clinician"])
    response = nurse.post("/admin/scheduling/discharge/add/", {"session": session.pk})
    assert response.status_code == 302, response.content.decode()[:3000]
    session.refresh_from_db()
    assert session.status == S.DISCHARGED
    assert session.discharge.monitoring_minutes >= 144


def test_the_rems_answers_are_recorded_and_stay_editable_until_filed(nurse, checked_in):
    data = {
        "session": checked_in.pk, "benzodiazepines": "0", "non_benzo_sedatives": "0",
        "psychostimulants": "1", "maois": "0",
    }  # fmt: skip
    assert nurse.post("/admin/scheduling/remsreport/add/", data).status_code == 302
    report = RemsReport.objects.get(session=checked_in)
    assert report.psychostimulants is True

    url = f"/admin/scheduling/remsreport/{report.pk}/change/"
    page = nurse.get(url)
    assert b"REMS monitoring form" in page.content
    refused = nurse.post(url, dict(data, psychostimulants="0", mark_filed="on"))
    assert refused.status_code == 200
    assert b"Missing: total monitoring minutes" in refused.content
    report.refresh_from_db()
    assert (report.psychostimulants, report.filed_at) == (True, None)


@pytest.mark.parametrize(
    "model",
    [
        "checkin", "checklistwaiver", "doseadministration", "vitalsigns", "sideeffect",
        "alert", "discharge", "remsreport",
    ],
)  # fmt: skip
@pytest.mark.parametrize("role", ["nurse", "clinician"])
def test_chart_pages_answer_for_nurses_and_clinicians(client, staff, checked_in, model, role):
    client.force_login(staff[role])
    assert client.get(f"/admin/scheduling/{model}/").status_code == 200
    can_add = model not in ("alert",) and not (model == "checklistwaiver" and role == "nurse")
    add = client.get(f"/admin/scheduling/{model}/add/?session={checked_in.pk}")
    assert add.status_code == (200 if can_add else 403)


def test_questionnaires_are_entered_from_the_admin_and_item_9_alerts(nurse, checked_in):
    response = nurse.post(
        "/admin/patients/questionnaireresponse/add/",
        {
            "patient": checked_in.patient_id, "kind": "phq9", "items": "1,1,1,1,1,1,1,1,2",
            "session": checked_in.pk,
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Alert.objects.get(session=checked_in).kind == Alert.Kind.PHQ9_ITEM9

    bad = nurse.post(
        "/admin/patients/questionnaireresponse/add/",
        {"patient": checked_in.patient_id, "kind": "phq9", "items": "1,1,1,1,1,1,1,1,7"},
    )
    assert b"Item 9 is scored 0-3, not 7" in bad.content


def test_the_front_desk_cannot_open_the_chart_forms(client, staff, checked_in):
    client.force_login(staff["front_desk"])
    assert client.get("/admin/scheduling/vitalsigns/add/").status_code == 403


def test_times_typed_in_the_admin_are_the_clinics_local_time(nurse, checked_in):
    clinic = checked_in.clinic
    clinic.timezone = "America/New_York"
    clinic.save()
    when = (timezone.now() - 5 * MIN).replace(second=0, microsecond=0)
    local = when.astimezone(clinic.tz)

    response = nurse.post(
        "/admin/scheduling/vitalsigns/add/",
        vitals_form(checked_in, measured_at=f"{local:%Y-%m-%d %H:%M:%S}"),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    assert VitalSigns.objects.filter(session=checked_in).latest("id").measured_at == when


def test_a_recorded_reading_opens_read_only_in_the_admin(nurse, staff, checked_in):
    vitals = vitals_record(
        session=checked_in, by=staff["nurse"], timepoint="pre_dose", **NORMAL_VITALS
    )
    page = nurse.get(f"/admin/scheduling/vitalsigns/{vitals.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # no editing: corrections are amendments
