"""A patient's reminder settings: channels, opting out, quiet hours and time zone, set on
the portal, in the API or the admin; reminders already planned follow at once."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.contrib import admin
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from rest_framework.test import APIClient

from patients.models import Patient
from patients.services import patient_reminder_settings_set
from scheduling.booking.models import Protocol
from scheduling.booking.services import course_start
from scheduling.reminders.models import Reminder
from scheduling.reminders.services import reminders_dispatch_due, reminders_send_batch

from ..conftest import api_token, at, force_login_verified, make_ready_patient

UTC = dt.UTC
LONDON = zoneinfo.ZoneInfo("Europe/London")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
NOW = at(2027, 1, 1)  # booked on Friday 1 January for Monday 4 January, 10:00 London
R, K, C = Reminder.Status, Reminder.Kind, Reminder.Channel
SKIP = Reminder.SkipReason


@pytest.fixture
def patient(clinic):
    return make_ready_patient(clinic, email="pat@example.org", phone="+447911123456")


@pytest.fixture
def session(patient):
    course = course_start(
        patient=patient, protocol=Protocol.objects.get(clinic=None, code="iv-standard"),
        start_date=dt.date(2027, 1, 4), preferred_weekdays=[0, 3], preferred_time=dt.time(10),
        by=None, now=NOW,
    )  # fmt: skip
    return course.sessions.get(number=1)


def planned(session) -> dict:
    return {(r.kind, r.channel): r for r in Reminder.objects.filter(session=session)}


def local(value: dt.datetime, tz=LONDON) -> tuple[dt.date, dt.time]:
    value = value.astimezone(tz)
    return value.date(), value.time()


def sweep(now) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for token in reminders_dispatch_due(now=now):
        for key, n in reminders_send_batch(claim_token=token, now=now).items():
            outcomes[key] = outcomes.get(key, 0) + n
    return outcomes


def test_new_quiet_hours_move_the_planned_reminders_out_of_them(patient, session):
    with time_machine.travel(NOW, tick=False):
        patient_reminder_settings_set(
            patient=patient, by=None, quiet_hours_start=dt.time(7), quiet_hours_end=dt.time(12)
        )
    rows = planned(session)
    # Saturday and Sunday 10:00 are quiet now: noon instead.
    assert local(rows[K.CONFIRM, C.EMAIL].due_at) == (dt.date(2027, 1, 2), dt.time(12))
    assert local(rows[K.PREPARE, C.SMS].due_at) == (dt.date(2027, 1, 3), dt.time(12))
    # The ride reminder (08:00, useful until 09:00) would go at noon: too late, skipped.
    ride = rows[K.RIDE, C.SMS]
    assert (ride.status, ride.skip_reason) == (R.SKIPPED, SKIP.QUIET_HOURS_TOO_LATE)

    with time_machine.travel(NOW, tick=False):  # both blank: the clinic's again (21-08)
        patient_reminder_settings_set(
            patient=patient, by=None, quiet_hours_start=None, quiet_hours_end=None
        )
    rows = planned(session)
    assert local(rows[K.CONFIRM, C.EMAIL].due_at) == (dt.date(2027, 1, 2), dt.time(10))
    assert local(rows[K.RIDE, C.SMS].due_at) == (dt.date(2027, 1, 4), dt.time(8))
    assert rows[K.RIDE, C.SMS].status == R.PENDING and rows[K.RIDE, C.SMS].skip_reason == ""


def test_a_new_time_zone_through_the_api_moves_them_to_the_patients_new_local_time(
    patient, session, staff
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(staff['front_desk'])}")
    with time_machine.travel(NOW, tick=False):
        response = client.patch(
            f"/api/v1/patients/{patient.pk}/", {"timezone": "America/New_York"}, format="json"
        )
    assert response.status_code == 200, response.json()
    rows = planned(session)
    # 10:00 London is 05:00 in New York. 48 hours before, Saturday 05:00 there, is in the
    # clinic's quiet hours (21:00-08:00, now in the patient's zone): 08:00 New York.
    assert local(rows[K.CONFIRM, C.EMAIL].due_at, NEW_YORK) == (dt.date(2027, 1, 2), dt.time(8))
    assert rows[K.CONFIRM, C.EMAIL].due_at == dt.datetime(2027, 1, 2, 13, tzinfo=UTC)
    assert rows[K.PREPARE, C.EMAIL].due_at == dt.datetime(2027, 1, 3, 13, tzinfo=UTC)
    # Monday 03:00 New York would wait for 08:00 there, after the session has begun.
    assert rows[K.RIDE, C.EMAIL].skip_reason == SKIP.QUIET_HOURS_TOO_LATE


def test_turning_a_channel_back_on_sends_what_is_still_useful_and_never_resends(patient, session):
    patient_reminder_settings_set(patient=patient, by=None, remind_by_sms=False)
    saturday = dt.datetime(2027, 1, 2, 10, tzinfo=UTC)
    assert sweep(saturday) == {"sent": 1, "skipped": 1}  # the confirm e-mail; no text
    assert planned(session)[K.CONFIRM, C.SMS].skip_reason == SKIP.OPTED_OUT
    sent_at = planned(session)[K.CONFIRM, C.EMAIL].sent_at

    later = saturday + dt.timedelta(hours=2)
    with time_machine.travel(later, tick=False):
        patient_reminder_settings_set(patient=patient, by=None, remind_by_sms=True)
    text = planned(session)[K.CONFIRM, C.SMS]
    assert (text.status, text.due_at) == (R.PENDING, later)  # still useful: it goes now
    assert sweep(later) == {"sent": 1}
    rows = planned(session)
    assert rows[K.CONFIRM, C.SMS].status == R.SENT
    assert rows[K.CONFIRM, C.EMAIL].sent_at == sent_at  # the e-mail was not sent again
    assert len(mail.outbox) == 1


def test_a_channel_turned_back_on_in_quiet_hours_waits_for_them_to_end(patient, session):
    patient_reminder_settings_set(patient=patient, by=None, remind_by_sms=False)
    sweep(dt.datetime(2027, 1, 2, 10, tzinfo=UTC))
    evening = dt.datetime(2027, 1, 2, 23, tzinfo=UTC)  # the clinic's quiet hours: 21-08
    with time_machine.travel(evening, tick=False):
        patient_reminder_settings_set(patient=patient, by=None, remind_by_sms=True)
    text = planned(session)[K.CONFIRM, C.SMS]
    assert text.status == R.PENDING
    assert local(text.due_at) == (dt.date(2027, 1, 3), dt.time(8))


def test_half_a_quiet_window_is_refused_by_field_and_nothing_changes(patient, session):
    before = list(Reminder.objects.order_by("id").values())
    with pytest.raises(ValidationError) as exc:
        patient_reminder_settings_set(patient=patient, by=None, quiet_hours_start=dt.time(9))
    assert "quiet_hours_end" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        patient_reminder_settings_set(patient=patient, by=None, mrn="X-1")
    assert "mrn" in exc.value.message_dict
    patient.refresh_from_db()
    assert patient.quiet_hours_start is None and patient.mrn != "X-1"
    assert list(Reminder.objects.order_by("id").values()) == before


def _portal(client, django_user_model, patient):
    patient.user = django_user_model.objects.create_user("pat", password="x")
    patient.save()
    client.force_login(patient.user)  # (idle sessions end: log in at the test's time)
    return client


def test_the_patient_sets_quiet_hours_on_the_portal(client, django_user_model, patient, session):
    with time_machine.travel(NOW, tick=False):
        _portal(client, django_user_model, patient)
        page = client.get("/portal/reminders/")
        assert page.status_code == 200 and "Quiet from" in page.content.decode()
        done = client.post("/portal/reminders/", {
            "remind_by_email": "on", "quiet_hours_start": "09:00", "quiet_hours_end": "12:00",
        })  # fmt: skip
        assert done.status_code == 302
        portal = client.get(done["Location"]).content.decode()
    assert "Your reminder settings are saved." in portal
    assert "by e-mail, never between 09:00 and 12:00" in portal
    patient.refresh_from_db()
    assert (patient.remind_by_email, patient.remind_by_sms) == (True, False)
    assert local(planned(session)[K.CONFIRM, C.EMAIL].due_at)[1] == dt.time(12)


def test_the_portal_names_the_field_of_a_refused_choice(
    client, django_user_model, patient, session
):
    _portal(client, django_user_model, patient)
    before = list(Reminder.objects.order_by("id").values())
    page = client.post("/portal/reminders/", {"remind_by_sms": "on", "quiet_hours_end": "08:00"})
    assert page.status_code == 200
    errors = page.context["form"].errors
    assert "quiet_hours_end" in errors, errors
    patient.refresh_from_db()
    assert patient.quiet_hours_end is None and patient.remind_by_email is True
    assert list(Reminder.objects.order_by("id").values()) == before


def test_a_change_in_the_admin_moves_them_too(client, admin_user, patient, session):
    model_admin = admin.site._registry[Patient]
    request = RequestFactory().get("/")
    request.user = admin_user
    form = model_admin.get_form(request, patient)(instance=patient)
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        if value is True:
            data[name] = "on"
        elif isinstance(value, dt.date):
            data[name] = value.isoformat()
        else:
            data[name] = str(value)
    data.update(quiet_hours_start="09:00", quiet_hours_end="12:00")
    with time_machine.travel(NOW, tick=False):
        force_login_verified(client, admin_user)  # a superuser owes the second factor
        response = client.post(f"/admin/patients/patient/{patient.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert local(planned(session)[K.PREPARE, C.EMAIL].due_at) == (dt.date(2027, 1, 3), dt.time(12))
