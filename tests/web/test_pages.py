"""The web pages through Django's test client: who sees what, forms call the services,
and the patient's calendar feed parsed back with icalendar."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from icalendar import Calendar

from patients.services import patient_calendar_token_reset
from scheduling.booking.models import Course, Session
from scheduling.booking.services import course_start, session_cancel
from scheduling.chart.models import Alert

from ..conftest import (
    NORMAL_VITALS,
    at,
    chart_check_in,
    chart_dose,
    make_clinic,
    make_ready_patient,
)

NOW = at(2027, 1, 4, 9)  # Monday 4 January 2027, 09:00 London


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def login(client, user):
    client.force_login(user)
    return client


def test_home_sends_each_role_to_its_page(client, staff, patient, django_user_model):
    cases = {
        "front_desk": "pages:board",
        "nurse": "pages:today",
        "clinician": "pages:courses",
    }
    for role, page in cases.items():
        login(client, staff[role])
        assert client.get(reverse("home"))["Location"] == reverse(page)
    patient.user = django_user_model.objects.create_user("pat", password="x")
    patient.save()
    login(client, patient.user)
    assert client.get(reverse("home"))["Location"] == reverse("pages:portal")


def test_the_day_board_shows_sessions_in_their_chair_with_the_patients_answer(
    client, staff, iv_session, frozen
):
    Session.objects.filter(pk=iv_session.pk).update(patient_response="confirmed")
    login(client, staff["front_desk"])
    response = client.get(reverse("pages:board"), {"date": "2027-01-04"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-session="{iv_session.id}" data-chair="{iv_session.chair.name}"' in html
    assert "Patient, Test" in html
    assert "✔ Confirmed" in html
    assert "10:00" in html  # clinic time


def test_a_patient_cannot_open_staff_pages(client, patient, django_user_model):
    patient.user = django_user_model.objects.create_user("pat", password="x")
    patient.save()
    login(client, patient.user)
    assert client.get(reverse("pages:board")).status_code == 403
    assert client.get(reverse("pages:courses")).status_code == 403


def test_another_clinics_session_is_a_404(
    client, staff, other_clinic, iv_standard, django_user_model
):
    other = make_ready_patient(other_clinic, "OTHER-1")
    course = course_start(
        patient=other, protocol=iv_standard, start_date=dt.date(2027, 1, 4),
        preferred_weekdays=[0, 3], preferred_time=dt.time(10), by=None, now=at(2027, 1, 1),
    )  # fmt: skip
    s = course.sessions.first()
    login(client, staff["nurse"])
    assert client.get(reverse("pages:chart", args=[s.id])).status_code == 404
    login(client, staff["front_desk"])
    assert client.get(reverse("pages:session", args=[s.id])).status_code == 404


def test_the_course_form_previews_then_books(client, staff, patient, iv_standard, frozen):
    login(client, staff["front_desk"])
    data = {
        "patient": patient.id, "protocol": iv_standard.id, "start_date": "2027-01-11",
        "preferred_weekdays": ["0", "3"], "preferred_time": "10:00",
    }  # fmt: skip
    preview = client.post(reverse("pages:course_new"), {**data, "action": "preview"})
    assert preview.status_code == 200
    assert b"will be booked" in preview.content
    assert not Course.objects.exists()
    booked = client.post(reverse("pages:course_new"), {**data, "action": "confirm"})
    assert booked.status_code == 302
    assert "date=2027-01-11" in booked["Location"]
    assert Course.objects.get().sessions.count() > 5


def test_the_screening_gate_is_shown_next_to_the_patient(
    client, staff, clinic, iv_standard, frozen
):
    from ..conftest import make_patient

    unscreened = make_patient(clinic, "NEW-1")
    login(client, staff["front_desk"])
    response = client.post(
        reverse("pages:course_new"),
        {
            "patient": unscreened.id,
            "protocol": iv_standard.id,
            "start_date": "2027-01-11",
            "preferred_weekdays": ["0"],
            "preferred_time": "10:00",
            "action": "preview",
        },  # fmt: skip
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["patient"]


def test_a_session_moves_with_its_scope(client, staff, iv_session, frozen):
    login(client, staff["front_desk"])
    response = client.post(
        reverse("pages:session_move", args=[iv_session.id]),
        {"date": "2027-01-05", "time": "11:00", "scope": "one", "chair": ""},
    )
    assert response.status_code == 302
    iv_session.refresh_from_db()
    assert iv_session.starts_at == at(2027, 1, 5, 11)


def test_an_impossible_move_is_shown_on_the_form(client, staff, iv_session, frozen):
    login(client, staff["front_desk"])
    response = client.post(
        reverse("pages:session_move", args=[iv_session.id]),
        {"date": "2027-01-05", "time": "21:00", "scope": "one", "chair": ""},
    )
    assert response.status_code == 400
    assert response.context["move_form"].errors


def test_the_nurse_charts_vitals_and_sees_the_alert(client, staff, iv_session, frozen):
    login(client, staff["nurse"])
    url = reverse("pages:chart", args=[iv_session.id])
    chart_check_in(iv_session, nurse=staff["nurse"], now=NOW)
    chart_dose(iv_session, nurse=staff["nurse"], now=NOW)
    vitals = {**NORMAL_VITALS, "systolic": 190, "timepoint": "during", "temperature_c": ""}
    response = client.post(reverse("pages:chart_vitals", args=[iv_session.id]), vitals)
    assert response.status_code == 200
    assert "Systolic 190 mmHg is at or above 180." in response.content.decode()
    assert Alert.objects.filter(session=iv_session).count() == 1
    page = client.get(url).content.decode()
    assert 'class="past">190/78' in page


def test_discharge_before_the_minimum_observation_is_refused(client, staff, iv_session, frozen):
    login(client, staff["nurse"])
    chart_check_in(iv_session, nurse=staff["nurse"], now=NOW)
    chart_dose(iv_session, nurse=staff["nurse"], now=NOW)
    response = client.post(reverse("pages:chart_discharge", args=[iv_session.id]), {})
    assert response.status_code == 400
    assert "Discharge refused" in response.content.decode()
    assert "minimum observation" in response.content.decode()


def test_the_chart_page_refuses_a_dose_over_an_open_alert_saying_who_unblocks_it(
    client, staff, iv_session, frozen
):
    from scheduling.chart.models import DoseAdministration
    from scheduling.chart.services import vitals_record

    chart_check_in(iv_session, nurse=staff["nurse"], now=NOW)
    vitals_record(
        session=iv_session, by=staff["nurse"], timepoint="pre_dose", now=NOW,
        **{**NORMAL_VITALS, "systolic": 165, "diastolic": 100},
    )  # fmt: skip
    dose = {"mg_per_kg": "0.50", "infusion_minutes": "40"}
    login(client, staff["nurse"])
    page = client.get(reverse("pages:chart", args=[iv_session.id])).content.decode()
    assert "Dosing and discharge wait until a clinician acknowledges it" in page
    refused = client.post(reverse("pages:chart_dose", args=[iv_session.id]), dose)
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "Pre-dose blood pressure caution" in text  # shown in full: test_pages_refusals
    assert "A clinician must acknowledge the alert with a note" in text
    assert not DoseAdministration.objects.exists()

    login(client, staff["clinician"])  # at the chair: acknowledges on the chart itself
    alert = Alert.objects.get()
    ack = reverse("pages:chart_acknowledge", args=[iv_session.id, alert.id])
    assert client.post(ack, {"note": ""}).status_code == 400
    assert client.post(ack, {"note": "Rechecked at rest: 138/86"}).status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_by == staff["clinician"]
    login(client, staff["nurse"])
    assert client.post(ack, {"note": "x"}).status_code == 403  # a nurse cannot
    assert client.post(reverse("pages:chart_dose", args=[iv_session.id]), dose).status_code == 200
    assert DoseAdministration.objects.filter(session=iv_session).exists()


def test_front_desk_cannot_chart(client, staff, iv_session):
    login(client, staff["front_desk"])
    assert client.get(reverse("pages:chart", args=[iv_session.id])).status_code == 403


def test_the_clinician_acknowledges_an_alert_from_the_course_page(
    client, staff, iv_session, frozen
):
    chart_check_in(iv_session, nurse=staff["nurse"], now=NOW)
    from scheduling.chart.services import vitals_record

    vitals_record(
        session=iv_session, by=staff["nurse"], timepoint="pre_dose", now=NOW,
        **{**NORMAL_VITALS, "systolic": 185},
    )  # fmt: skip
    alert = Alert.objects.get()
    login(client, staff["clinician"])
    page = client.get(reverse("pages:course", args=[iv_session.course_id]))
    assert b"Alerts to acknowledge" in page.content and b"phq9-series" in page.content
    empty = client.post(reverse("pages:acknowledge", args=[iv_session.course_id, alert.id]), {})
    assert empty.status_code == 400
    done = client.post(
        reverse("pages:acknowledge", args=[iv_session.course_id, alert.id]),
        {"note": "Rechecked, fine."},
    )
    assert done.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == staff["clinician"]


def test_the_patient_confirms_from_the_portal(client, iv_session, django_user_model, frozen):
    patient = iv_session.patient
    patient.user = django_user_model.objects.create_user("pat", password="x")
    patient.timezone = "America/New_York"
    patient.save()
    login(client, patient.user)
    page = client.get(reverse("pages:portal")).content.decode()
    assert "Monday 4 January 2027 at 05:00" in page  # 10:00 London is 05:00 in New York
    assert "you must not drive yourself" in page
    response = client.post(
        reverse("pages:portal_respond", args=[iv_session.id]),
        {"answer": "confirm", "planned": int(iv_session.starts_at.timestamp())},
    )
    assert response.status_code == 302
    iv_session.refresh_from_db()
    assert iv_session.patient_response == "confirmed"


def test_a_patient_cannot_answer_for_another_patients_session(
    client, clinic, iv_session, django_user_model, frozen
):
    other = make_ready_patient(clinic, "MRN-2")
    other.user = django_user_model.objects.create_user("other", password="x")
    other.save()
    login(client, other.user)
    response = client.post(
        reverse("pages:portal_respond", args=[iv_session.id]),
        {"answer": "cancel", "planned": int(iv_session.starts_at.timestamp())},
    )
    assert response.status_code == 404


def test_the_patient_fills_in_a_phq9(client, patient, django_user_model):
    patient.user = django_user_model.objects.create_user("pat", password="x")
    patient.save()
    login(client, patient.user)
    answers = {f"item{i}": "1" for i in range(9)}
    assert client.post(reverse("pages:phq9"), answers).status_code == 302
    assert patient.questionnaires.get().total == 9
    missing = client.post(reverse("pages:phq9"), {"item0": "1"})
    assert missing.status_code == 200 and missing.context["form"].errors


# --- the calendar feed ---------------------------------------------------------------------


def _feed(client, token):
    response = client.get(reverse("pages:calendar", args=[token]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    return Calendar.from_ical(response.content)


def test_the_calendar_feed_has_every_upcoming_session_at_the_right_local_time(
    client, iv_session, frozen
):
    patient = iv_session.patient
    token = patient_calendar_token_reset(patient=patient)
    cancelled = iv_session.course.sessions.get(number=2)
    session_cancel(session=cancelled, by=None, reason="test")
    cal = _feed(client, token)
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    upcoming = Session.objects.filter(patient=patient).exclude(status="cancelled")
    assert set(events) == {f"session-{s.id}@127.0.0.1:8000" for s in upcoming}
    assert f"session-{cancelled.id}@127.0.0.1:8000" not in events
    london = zoneinfo.ZoneInfo("Europe/London")
    for s in upcoming:
        start = events[f"session-{s.id}@127.0.0.1:8000"].decoded("dtstart")
        assert start == s.starts_at
        assert start.astimezone(london).time() == dt.time(10)  # the course's 10:00, DST or not
    first = events[f"session-{iv_session.id}@127.0.0.1:8000"]
    assert "Clinic harbour" in str(first["summary"])
    text = (str(first["summary"]) + str(first["description"])).lower()
    assert "ketamine" not in text and "depress" not in text


def test_a_bad_or_replaced_calendar_token_is_a_404(client, patient):
    old = patient_calendar_token_reset(patient=patient)
    new = patient_calendar_token_reset(patient=patient)
    assert client.get(reverse("pages:calendar", args=["nope"])).status_code == 404
    assert client.get(reverse("pages:calendar", args=[old])).status_code == 404
    assert client.get(reverse("pages:calendar", args=[new])).status_code == 200


def test_the_board_refreshes_as_a_fragment(client, staff, clinic, frozen):
    login(client, staff["front_desk"])
    response = client.get(reverse("pages:board"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'hx-trigger="every 45s"' in response.content
    assert b"<html" not in response.content


def test_a_clinic_you_do_not_work_at_is_not_offered(client, staff, clinic, frozen):
    other = make_clinic(slug="elsewhere")
    login(client, staff["front_desk"])
    response = client.get(reverse("pages:board"), {"clinic": other.id})
    assert response.status_code == 200
    assert response.context["board"].clinic == clinic


def test_the_chart_completes_the_checklist_after_check_in_and_a_clinician_waives_on_the_page(
    client, staff, iv_session, frozen
):
    from scheduling.chart.models import CheckIn, ChecklistWaiver

    chart_check_in(
        iv_session, nurse=staff["nurse"], now=NOW, fasting_confirmed=False, weight_kg=None
    )
    login(client, staff["nurse"])
    page = client.get(reverse("pages:chart", args=[iv_session.id])).content.decode()
    assert "Complete the checklist" in page and 'name="fasting_confirmed"' in page
    assert 'name="escort_confirmed"' not in page  # done at check-in: not asked again
    done = client.post(
        reverse("pages:chart_checklist", args=[iv_session.id]), {"fasting_confirmed": "on"}
    )
    assert done.status_code == 200
    check_in = CheckIn.objects.get(session=iv_session)
    assert check_in.fasting_confirmed and check_in.weight_kg is None
    assert check_in.history.count() == 2  # the check-in as first recorded is kept

    waive = reverse("pages:chart_waive", args=[iv_session.id])
    assert client.post(waive, {"item": "weight", "reason": "x"}).status_code == 403  # a nurse
    login(client, staff["clinician"])
    assert client.post(waive, {"item": "weight", "reason": ""}).status_code == 400
    assert client.post(waive, {"item": "weight", "reason": "Scale broken; 80 kg last week"})
    waiver = ChecklistWaiver.objects.get(session=iv_session)
    assert (waiver.item, waiver.waived_by) == ("weight", staff["clinician"])


def test_the_esketamine_check_in_asks_no_weight_and_the_iv_one_does(
    client, staff, iv_session, esketamine_session
):
    login(client, staff["nurse"])
    esketamine = client.get(reverse("pages:chart", args=[esketamine_session.id]))
    iv = client.get(reverse("pages:chart", args=[iv_session.id]))
    assert 'name="weight_kg"' not in esketamine.content.decode()  # dosed in devices
    assert 'name="weight_kg"' in iv.content.decode()
