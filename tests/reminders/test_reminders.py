"""Reminders without a worker: planning, timing, quiet hours and daylight saving, the
claim, sending once, the words, the links, SMS delivery reports and staff notices.

The sweep and the sending service are called in-process with a pinned `now`; the
end-to-end versions with a real Celery worker, Redis and SMTP are in
test_reminders_worker.py.
"""

import datetime as dt
import smtplib
import zoneinfo
from unittest import mock

import pytest
import time_machine
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.test import Client

from scheduling.booking.discreet import FORBIDDEN_WORDS
from scheduling.booking.models import Protocol, Session, StaffNotice
from scheduling.booking.services import (
    course_start,
    no_show_notices_raise_due,
    session_cancel,
    session_move,
    session_no_show,
    session_restore,
)
from scheduling.reminders.content import (
    reminder_context,
    reminder_render,
    session_response_token,
    session_response_url,
)
from scheduling.reminders.models import Reminder, ReminderPolicy, ReminderRule, ReminderTemplate
from scheduling.reminders.services import (
    reminder_delivery_record,
    reminders_dispatch_due,
    reminders_plan_for_sessions,
    reminders_send_batch,
)
from scheduling.reminders.sms import LocmemSmsBackend, SmsError, SmsMessage, TwilioSmsBackend
from scheduling.reminders.timing import QuietHours, reminder_timing, wall_clock_to_utc

from ..conftest import at, make_clear_screening, make_ready_patient

UTC = dt.UTC
LONDON = zoneinfo.ZoneInfo("Europe/London")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
NOW = at(2027, 1, 1)
R = Reminder.Status
K = Reminder.Kind
C = Reminder.Channel
MON, THU = 0, 3


@pytest.fixture(autouse=True)
def _clean_sms_outbox():
    LocmemSmsBackend.outbox.clear()


@pytest.fixture
def patient(clinic):
    clinic.address = "1 Harbour Street\nPortsmouth PO1 1AA"
    clinic.phone = "+442392000000"
    clinic.save()
    return make_ready_patient(clinic, email="pat@example.org", phone="+447700900123")


def start(patient, code="iv-standard", day=dt.date(2027, 1, 4), time=dt.time(10), now=NOW):
    return course_start(
        patient=patient,
        protocol=Protocol.objects.get(clinic=None, code=code),
        start_date=day,
        preferred_weekdays=[day.weekday(), (day.weekday() + 3) % 7 or 1],
        preferred_time=time,
        by=None,
        now=now,
    )


def first(course) -> Session:
    return course.sessions.get(number=1)


def rows(session, **filters):
    return {(r.kind, r.channel): r for r in Reminder.objects.filter(session=session, **filters)}


def local(d: dt.datetime, tz=LONDON) -> tuple[dt.date, dt.time]:
    d = d.astimezone(tz)
    return d.date(), d.time()


def run_sweep(now, **kwargs) -> dict[str, int]:
    """One sweep and the batches it claims, in-process, as the worker would run them."""
    outcomes: dict[str, int] = {}
    for token in reminders_dispatch_due(now=now, **kwargs):
        for key, n in reminders_send_batch(claim_token=token, now=now).items():
            outcomes[key] = outcomes.get(key, 0) + n
    return outcomes


def sweep_through(until: dt.datetime) -> None:
    """Sweep at each due time in turn up to `until`, as beat would."""
    while (
        due := Reminder.objects.filter(status=R.PENDING, due_at__lte=until)
        .order_by("due_at")
        .first()
    ) is not None:
        run_sweep(due.due_at)


# --- Planning ------------------------------------------------------------------------------


def test_booking_plans_one_reminder_per_kind_and_channel_for_every_session(patient):
    course = start(patient)

    sessions = course.sessions.count()
    assert Reminder.objects.filter(session__course=course).count() == sessions * 3 * 2
    assert set(rows(first(course))) == {(k, c) for k in K.values for c in C.values}


def test_reminders_are_due_48_24_and_2_hours_before_in_local_wall_clock_time(patient):
    s1 = first(start(patient))  # Monday 4 January 2027, 10:00 London

    planned = rows(s1)
    assert local(planned[K.CONFIRM, C.EMAIL].due_at) == (dt.date(2027, 1, 2), dt.time(10))
    assert local(planned[K.PREPARE, C.SMS].due_at) == (dt.date(2027, 1, 3), dt.time(10))
    assert local(planned[K.RIDE, C.EMAIL].due_at) == (dt.date(2027, 1, 4), dt.time(8))
    assert all(r.status == R.PENDING for r in planned.values())


def test_a_reminder_whose_time_has_passed_when_booked_is_skipped_not_sent_late(patient):
    # Booked on Sunday 3 January at noon for Monday 10:00: the 48-hour and 24-hour
    # reminders are already past.
    s1 = first(start(patient, now=at(2027, 1, 3, 12)))

    planned = rows(s1)
    for channel in C.values:
        assert planned[K.CONFIRM, channel].status == R.SKIPPED
        assert planned[K.CONFIRM, channel].skip_reason == Reminder.SkipReason.PAST_WHEN_PLANNED
        assert planned[K.PREPARE, channel].skip_reason == Reminder.SkipReason.PAST_WHEN_PLANNED
        assert planned[K.RIDE, channel].status == R.PENDING
    assert run_sweep(at(2027, 1, 4, 9)) == {"sent": 2}


def test_planning_twice_changes_nothing(patient):
    course = start(patient)
    before = list(Reminder.objects.order_by("id").values())

    changed = reminders_plan_for_sessions(sessions=list(course.sessions.all()), now=NOW)

    assert changed == []
    assert list(Reminder.objects.order_by("id").values()) == before


def test_a_clinic_can_turn_a_kind_off_and_change_lead_times_and_channels(patient, clinic):
    ReminderRule.objects.create(
        clinic=clinic, kind=K.CONFIRM, is_active=False, lead_minutes=2880, latest_minutes=720
    )
    ReminderRule.objects.create(
        clinic=clinic, kind=K.PREPARE, lead_minutes=20 * 60, latest_minutes=600, by_sms=False
    )

    planned = rows(first(start(patient)))

    assert set(planned) == {(K.PREPARE, C.EMAIL), (K.RIDE, C.EMAIL), (K.RIDE, C.SMS)}
    assert local(planned[K.PREPARE, C.EMAIL].due_at) == (dt.date(2027, 1, 3), dt.time(14))


def test_a_rule_whose_latest_moment_is_not_after_its_time_is_refused(clinic):
    rule = ReminderRule(clinic=clinic, kind=K.RIDE, lead_minutes=60, latest_minutes=90)
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert "latest_minutes" in exc.value.message_dict


# --- Quiet hours, time zones, daylight saving ---------------------------------------------


def test_a_reminder_due_in_quiet_hours_goes_when_they_end(patient, clinic):
    ReminderPolicy.objects.create(clinic=clinic, quiet_start=dt.time(21), quiet_end=dt.time(9))

    planned = rows(first(start(patient)))  # ride reminder at 08:00: quiet until 09:00

    assert local(planned[K.RIDE, C.SMS].due_at) == (dt.date(2027, 1, 4), dt.time(9))
    assert planned[K.RIDE, C.SMS].status == R.PENDING


def test_quiet_hours_are_the_patients_own_and_in_the_patients_time_zone(patient):
    # The patient is in New York (5 hours behind London in January) and sleeps 22:00-08:00.
    patient.timezone = "America/New_York"
    patient.quiet_hours_start, patient.quiet_hours_end = dt.time(22), dt.time(8)
    patient.save()

    planned = rows(first(start(patient, time=dt.time(14))))  # 14:00 London = 09:00 New York

    # 2 hours before is 07:00 in New York: quiet, so 08:00 there (13:00 London).
    assert local(planned[K.RIDE, C.EMAIL].due_at, NEW_YORK) == (dt.date(2027, 1, 4), dt.time(8))
    # 48 hours before is Saturday 09:00 New York wall-clock time.
    assert local(planned[K.CONFIRM, C.EMAIL].due_at, NEW_YORK) == (dt.date(2027, 1, 2), dt.time(9))


def test_a_reminder_that_quiet_hours_would_make_too_late_is_skipped(patient):
    patient.quiet_hours_start, patient.quiet_hours_end = dt.time(20), dt.time(9, 30)
    patient.save()

    planned = rows(first(start(patient, time=dt.time(10))))  # ride at 08:00 -> 09:30: too late

    assert planned[K.RIDE, C.SMS].status == R.SKIPPED
    assert planned[K.RIDE, C.SMS].skip_reason == Reminder.SkipReason.QUIET_HOURS_TOO_LATE
    assert planned[K.PREPARE, C.SMS].status == R.PENDING


def test_lead_times_keep_local_time_across_the_spring_daylight_saving_change(patient):
    # London moves to BST on Sunday 28 March 2027. Session: Monday 29 March, 10:00 BST.
    s1 = first(start(patient, day=dt.date(2027, 3, 29), now=at(2027, 3, 1)))

    planned = rows(s1)
    confirm, prepare = planned[K.CONFIRM, C.EMAIL].due_at, planned[K.PREPARE, C.EMAIL].due_at
    assert local(confirm) == (dt.date(2027, 3, 27), dt.time(10))  # Saturday, GMT
    assert local(prepare) == (dt.date(2027, 3, 28), dt.time(10))  # Sunday, BST
    assert s1.starts_at - confirm == dt.timedelta(hours=47)  # one hour lost to the change
    assert confirm == dt.datetime(2027, 3, 27, 10, tzinfo=UTC)


def test_lead_times_keep_local_time_across_the_autumn_daylight_saving_change(patient):
    # Back to GMT on Sunday 31 October 2027. Session: Monday 1 November, 10:00 GMT.
    make_clear_screening(patient, now=at(2027, 9, 1))
    s1 = first(start(patient, day=dt.date(2027, 11, 1), now=at(2027, 10, 1)))

    confirm = rows(s1)[K.CONFIRM, C.SMS].due_at
    assert local(confirm) == (dt.date(2027, 10, 30), dt.time(10))  # Saturday, BST
    assert s1.starts_at - confirm == dt.timedelta(hours=49)


def test_quiet_hours_end_across_a_daylight_saving_change_in_the_patients_zone(patient):
    # New York moves to EDT on Sunday 14 March 2027; London stays on GMT until the 28th.
    patient.timezone = "America/New_York"
    patient.quiet_hours_start, patient.quiet_hours_end = dt.time(22), dt.time(9)
    patient.save()

    s1 = first(start(patient, day=dt.date(2027, 3, 15), time=dt.time(14), now=at(2027, 3, 1)))

    planned = rows(s1)
    # 14:00 GMT is 10:00 EDT. Ride reminder: 08:00 EDT is quiet -> 09:00 EDT = 13:00 UTC.
    assert planned[K.RIDE, C.EMAIL].due_at == dt.datetime(2027, 3, 15, 13, tzinfo=UTC)
    # 48 hours before in New York wall-clock time: Saturday 10:00 EST = 15:00 UTC.
    assert planned[K.CONFIRM, C.EMAIL].due_at == dt.datetime(2027, 3, 13, 15, tzinfo=UTC)


def test_a_wall_clock_time_in_the_spring_gap_lands_just_after_it():
    # 01:30 does not exist in London on 28 March 2027.
    assert wall_clock_to_utc(dt.datetime(2027, 3, 28, 1, 30), LONDON) == dt.datetime(
        2027, 3, 28, 1, 30, tzinfo=UTC
    )  # = 02:30 BST


def test_quiet_hours_within_one_day_and_none_at_all():
    lunch = QuietHours(dt.time(12), dt.time(13))
    assert lunch.contains(dt.time(12, 30)) and not lunch.contains(dt.time(13))
    assert not QuietHours(dt.time(0), dt.time(0)).contains(dt.time(3))
    timing = reminder_timing(
        session_starts_at=dt.datetime(2027, 1, 4, 14, 30, tzinfo=UTC),
        lead=dt.timedelta(hours=2),
        latest=dt.timedelta(hours=1),
        tz=LONDON,
        quiet=lunch,
        now=NOW,
    )
    assert timing.due_at == dt.datetime(2027, 1, 4, 13, tzinfo=UTC)


# --- Cancel, move, restore -----------------------------------------------------------------


def test_cancelling_a_session_cancels_its_reminders_and_sends_nothing(patient):
    course = start(patient)
    s1 = first(course)

    session_cancel(session=s1, by=None, reason="Patient unwell", now=NOW)

    assert {r.status for r in rows(s1).values()} == {R.CANCELLED}
    assert run_sweep(at(2027, 1, 4, 9)) == {}  # nothing else is due by then
    assert not [m for m in mail.outbox if "Monday 4 January" in m.body]
    assert not [m for m in LocmemSmsBackend.outbox if "Monday 4 January" in m.body]


def test_a_session_cancelled_after_its_reminder_was_claimed_sends_nothing(patient):
    s1 = first(start(patient))
    tokens = reminders_dispatch_due(now=at(2027, 1, 2, 10))  # claims the 48-hour reminders

    session_cancel(session=s1, by=None, reason="Patient unwell", now=at(2027, 1, 2, 10))
    for token in tokens:
        reminders_send_batch(claim_token=token, now=at(2027, 1, 2, 10))

    assert mail.outbox == [] and LocmemSmsBackend.outbox == []
    assert {r.status for r in rows(s1).values()} == {R.CANCELLED}


def test_the_sender_rechecks_the_session_even_if_nothing_cancelled_its_reminders(patient):
    s1 = first(start(patient))
    tokens = reminders_dispatch_due(now=at(2027, 1, 2, 10))
    Session.objects.filter(pk=s1.pk).update(status=Session.Status.CANCELLED)  # behind our back

    for token in tokens:
        reminders_send_batch(claim_token=token, now=at(2027, 1, 2, 10))

    assert mail.outbox == []
    confirm = rows(s1)[K.CONFIRM, C.EMAIL]
    assert (confirm.status, confirm.skip_reason) == (R.SKIPPED, "session_cancelled")


def test_a_moved_session_sends_only_its_new_time(patient):
    s1 = first(start(patient))
    tokens = reminders_dispatch_due(now=at(2027, 1, 2, 10))  # claimed for Monday 10:00

    session_move(session=s1, starts_at=dt.datetime(2027, 1, 5, 15, tzinfo=LONDON), by=None, now=NOW)
    for token in tokens:  # the old claim: nothing goes out for Monday
        reminders_send_batch(claim_token=token, now=at(2027, 1, 2, 10))
    assert mail.outbox == []

    planned = rows(s1)
    assert local(planned[K.CONFIRM, C.EMAIL].due_at) == (dt.date(2027, 1, 3), dt.time(15))
    run_sweep(at(2027, 1, 3, 15))
    assert len(mail.outbox) == 1
    assert "Tuesday 5 January 2027 at 15:00" in mail.outbox[0].body
    assert "Monday" not in mail.outbox[0].body


def test_moving_a_session_clears_the_answer_given_for_its_old_time(patient):
    s1 = first(start(patient))
    Session.objects.filter(pk=s1.pk).update(patient_response="confirmed", responded_at=NOW)

    session_move(session=s1, starts_at=dt.datetime(2027, 1, 5, 15, tzinfo=LONDON), by=None, now=NOW)

    s1.refresh_from_db()
    assert (s1.patient_response, s1.responded_at) == ("", None)


def test_restoring_a_cancelled_session_plans_its_reminders_again(patient, staff):
    s1 = first(start(patient))
    session_cancel(session=s1, by=None, now=NOW)

    session_restore(session=s1, by=staff["clinician"], reason="Cancelled by mistake", now=NOW)

    assert {r.status for r in rows(s1).values()} == {R.PENDING}


def test_a_no_show_cancels_what_is_left_unsent(patient):
    s1 = first(start(patient))
    Reminder.objects.filter(session=s1, kind=K.RIDE).update(due_at=at(2027, 1, 4, 11))

    session_no_show(session=s1, by=None, now=at(2027, 1, 4, 10, 30))

    assert rows(s1, kind=K.RIDE)[K.RIDE, C.SMS].status == R.CANCELLED


# --- The sweep and sending once ------------------------------------------------------------


def test_the_sweep_claims_only_due_pending_reminders(patient):
    start(patient)

    tokens = reminders_dispatch_due(now=at(2027, 1, 2, 9, 59))
    assert tokens == []
    tokens = reminders_dispatch_due(now=at(2027, 1, 2, 10))
    claimed = Reminder.objects.filter(status=R.SENDING)
    assert len(tokens) == 1 and claimed.count() == 2
    assert {r.kind for r in claimed} == {K.CONFIRM}


def test_two_sweeps_never_claim_the_same_reminder(patient):
    start(patient)
    now = at(2027, 1, 20)

    first_sweep = reminders_dispatch_due(now=now, batch_size=5)
    second_sweep = reminders_dispatch_due(now=now, batch_size=5)

    assert first_sweep and second_sweep == []
    assert Reminder.objects.filter(status=R.SENDING).values(
        "claim_token"
    ).distinct().count() == len(first_sweep)


def test_a_session_cancelled_between_the_batch_read_and_the_send_is_not_sent(patient):
    from scheduling.reminders import services as svc

    s1 = first(start(patient))
    now = at(2027, 1, 2, 10)
    (token,) = reminders_dispatch_due(now=now)
    real = svc._skip_reason_at_send

    def cancelled_meanwhile(reminder, session, now):
        # The batch read the session as booked; it is cancelled before the send.
        Session.objects.filter(pk=session.pk).update(status=Session.Status.CANCELLED)
        return real(reminder, session, now)

    with mock.patch.object(svc, "_skip_reason_at_send", side_effect=cancelled_meanwhile):
        outcome = reminders_send_batch(claim_token=token, now=now)

    assert outcome == {"skipped": 2}
    assert mail.outbox == [] and LocmemSmsBackend.outbox == []
    assert {r.skip_reason for r in rows(s1, kind=K.CONFIRM).values()} == {"session_cancelled"}


def test_the_sweep_runs_every_10_seconds_from_beat_and_nothing_waits_in_the_broker(settings):
    from clinic.celery import app

    sweep = app.conf.beat_schedule["reminders-dispatch-due"]
    assert sweep["task"] == "scheduling.tasks.reminders_dispatch_due"
    # A dead worker's claims come back within REMINDER_STALL_SECONDS plus one sweep: 30 s.
    assert sweep["schedule"] == 10.0
    assert settings.REMINDER_STALL_SECONDS + sweep["schedule"] <= 30
    assert sweep["options"]["expires"] < sweep["schedule"]
    assert "eta" not in sweep["options"] and "countdown" not in sweep["options"]


def test_a_batch_run_twice_sends_each_reminder_once(patient):
    start(patient)
    now = at(2027, 1, 2, 10)
    (token,) = reminders_dispatch_due(now=now)

    assert reminders_send_batch(claim_token=token, now=now) == {"sent": 2}
    assert reminders_send_batch(claim_token=token, now=now) == {}  # redelivered task
    assert len(mail.outbox) == 1 and len(LocmemSmsBackend.outbox) == 1


def _batch_queries(size: int, now: dt.datetime) -> tuple[int, dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    (token,) = reminders_dispatch_due(now=now, batch_size=size, limit=size)
    with CaptureQueriesContext(connection) as ctx:
        outcome = reminders_send_batch(claim_token=token, now=now)
    return len(ctx.captured_queries), outcome


def test_a_batch_asks_the_database_the_same_number_of_times_per_reminder(patient):
    # Every e-mail reminder of the course due now: the sender's read must hold all it
    # uses, or each reminder asks again (a field left out of its `.only()`).
    course = start(patient)
    now = at(2027, 1, 2, 10)
    Reminder.objects.filter(channel=C.SMS).update(due_at=now + dt.timedelta(days=30))
    Reminder.objects.filter(session__course=course, status=R.PENDING, channel=C.EMAIL).update(
        due_at=now - dt.timedelta(minutes=1), send_by=now + dt.timedelta(hours=1)
    )
    assert Reminder.objects.filter(status=R.PENDING).count() >= 15

    small, sent_small = _batch_queries(3, now)
    large, sent_large = _batch_queries(12, now)

    assert sent_small == {"sent": 3} and sent_large == {"sent": 12}
    # Per reminder: the mark and its (save)point; per batch: the read, the heartbeat,
    # the clinic's settings and the protocol.
    assert (large - small) == 3 * (12 - 3)
    assert small - 3 * 3 <= 6


def test_the_answer_link_is_the_one_reverse_writes(settings):
    from django.urls import reverse

    for session_id, when in ((1, NOW), (987654, at(2031, 7, 1, 23, 59))):
        token = session_response_token(session_id=session_id, starts_at=when)
        assert session_response_url(session_id=session_id, starts_at=when) == (
            settings.SITE_URL + reverse("reminders:respond", args=[token])
        )
    for site in ("https://clinic.example.org/infusions", "https://TOKEN.example.org"):
        settings.SITE_URL = site
        token = session_response_token(session_id=1, starts_at=NOW)
        assert session_response_url(session_id=1, starts_at=NOW) == (
            site + reverse("reminders:respond", args=[token])
        )


def test_a_claim_whose_worker_died_is_taken_back_after_the_timeout_and_sent_once(patient, settings):
    settings.REMINDER_CLAIM_TIMEOUT_SECONDS = 600
    start(patient)
    now = at(2027, 1, 2, 10)
    (dead,) = reminders_dispatch_due(now=now)  # its worker is killed: nothing more happens

    assert reminders_dispatch_due(now=now + dt.timedelta(minutes=5)) == []  # still claimed
    (token,) = reminders_dispatch_due(now=now + dt.timedelta(minutes=11))
    reminders_send_batch(claim_token=token, now=now + dt.timedelta(minutes=11))
    reminders_send_batch(claim_token=dead, now=now + dt.timedelta(minutes=12))  # late redelivery

    assert len(mail.outbox) == 1 and len(LocmemSmsBackend.outbox) == 1
    confirm = rows(first(patient.courses.get()))[K.CONFIRM, C.EMAIL]
    assert (confirm.status, confirm.attempts) == (R.SENT, 2)


def test_a_started_batch_whose_worker_fell_silent_is_taken_back_after_the_stall_time(
    patient, settings
):
    from scheduling.reminders import services as svc

    settings.REMINDER_STALL_SECONDS = 15
    start(patient)
    now = at(2027, 1, 2, 10)
    (dead,) = reminders_dispatch_due(now=now)
    svc._reminder_claim_heartbeat(claim_token=dead, now=now)  # it started, then was killed

    assert reminders_dispatch_due(now=now + dt.timedelta(seconds=14)) == []  # may be alive
    (token,) = reminders_dispatch_due(now=now + dt.timedelta(seconds=16))
    assert reminders_send_batch(claim_token=token, now=now + dt.timedelta(seconds=16)) == {
        "sent": 2
    }
    assert reminders_send_batch(claim_token=dead, now=now + dt.timedelta(seconds=20)) == {}
    assert len(mail.outbox) == 1 and len(LocmemSmsBackend.outbox) == 1


def test_a_queued_batch_is_not_taken_back_at_the_stall_time(patient, settings):
    # Not started yet: it may be waiting behind a long queue, so it has the claim timeout.
    settings.REMINDER_STALL_SECONDS = 15
    settings.REMINDER_CLAIM_TIMEOUT_SECONDS = 600
    start(patient)
    now = at(2027, 1, 2, 10)
    (queued,) = reminders_dispatch_due(now=now)

    assert reminders_dispatch_due(now=now + dt.timedelta(minutes=9)) == []
    assert reminders_send_batch(claim_token=queued, now=now + dt.timedelta(minutes=9)) == {
        "sent": 2
    }


def test_a_reminder_whose_workers_keep_dying_is_failed_and_staff_told(patient, settings):
    settings.REMINDER_CLAIM_TIMEOUT_SECONDS = 60
    settings.REMINDER_MAX_ATTEMPTS = 2
    start(patient)
    now = at(2027, 1, 2, 10)
    reminders_dispatch_due(now=now)
    reminders_dispatch_due(now=now + dt.timedelta(minutes=2))  # second attempt, dies too

    reminders_dispatch_due(now=now + dt.timedelta(minutes=4))

    failed = Reminder.objects.filter(status=R.FAILED)
    assert failed.count() == 2
    assert StaffNotice.objects.filter(kind=StaffNotice.Kind.REMINDER_FAILED).count() == 2


def test_a_transient_failure_is_retried_with_backoff(patient):
    start(patient)
    now = at(2027, 1, 2, 10)
    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages",
        side_effect=smtplib.SMTPServerDisconnected("gone"),
    ):
        run_sweep(now)

    confirm = rows(first(patient.courses.get()))[K.CONFIRM, C.EMAIL]
    assert confirm.status == R.PENDING
    assert confirm.due_at == now + dt.timedelta(minutes=1)
    assert "SMTPServerDisconnected" in confirm.last_error
    assert run_sweep(now + dt.timedelta(minutes=1)) == {"sent": 1}
    assert len(mail.outbox) == 1


def test_a_permanent_failure_is_recorded_and_shown_to_staff(patient):
    start(patient)
    refused = smtplib.SMTPRecipientsRefused({"pat@example.org": (550, b"no such user")})
    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=refused
    ):
        run_sweep(at(2027, 1, 2, 10))

    confirm = rows(first(patient.courses.get()))[K.CONFIRM, C.EMAIL]
    assert confirm.status == R.FAILED
    assert confirm.last_error == "SMTP recipient refused (550)"  # no address in the record
    notice = StaffNotice.objects.get(kind=StaffNotice.Kind.REMINDER_FAILED)
    assert notice.reminder == confirm and "pat@example.org" not in notice.message


def test_a_backlog_that_delays_a_reminder_past_its_useful_time_skips_it(patient):
    start(patient)

    run_sweep(at(2027, 1, 3, 23))  # the 48-hour reminder is 37 hours late

    confirm = rows(first(patient.courses.get()))[K.CONFIRM, C.EMAIL]
    assert (confirm.status, confirm.skip_reason) == (R.SKIPPED, "too_late")


def test_patients_who_opted_out_or_have_no_contact_are_skipped_at_send_time(patient):
    start(patient)
    patient.remind_by_sms = False
    patient.email = ""
    patient.save()

    run_sweep(at(2027, 1, 2, 10))

    planned = rows(first(patient.courses.get()), kind=K.CONFIRM)
    assert planned[K.CONFIRM, C.SMS].skip_reason == "opted_out"
    assert planned[K.CONFIRM, C.EMAIL].skip_reason == "no_contact"
    assert mail.outbox == [] and LocmemSmsBackend.outbox == []


def test_a_patient_who_opted_out_of_everything_gets_nothing(patient):
    start(patient)
    patient.reminders_opt_out = True
    patient.save()

    run_sweep(at(2027, 1, 20))

    assert mail.outbox == [] and LocmemSmsBackend.outbox == []


# --- The words -----------------------------------------------------------------------------


def test_the_email_names_clinic_address_phone_local_time_and_preparation(patient):
    start(patient)

    run_sweep(at(2027, 1, 3, 10))  # the 24-hour preparation reminder

    (email,) = [m for m in mail.outbox if "getting ready" in m.subject]
    assert email.subject == (
        "Clinic harbour: getting ready for your appointment on Monday 4 January 2027 at 10:00"
    )
    assert "1 Harbour Street, Portsmouth PO1 1AA" in email.body
    assert "+44 23 9200 0000" in email.body
    assert "Monday 4 January 2027 at 10:00 (GMT)" in email.body
    assert "Do not eat for 6 hours before." in email.body
    assert "Clear liquids only until 2 hours before" in email.body
    assert "responsible adult to take you home" in email.body
    assert "for the rest of the day" in email.body
    html, mime = email.alternatives[0]
    assert mime == "text/html" and "<li>Do not eat for 6 hours before.</li>" in html
    assert email.extra_headers["Message-ID"].startswith("<reminder.")


def test_the_time_is_the_patients_local_time(patient):
    patient.timezone = "America/New_York"
    patient.save()
    start(patient, time=dt.time(14))

    run_sweep(at(2027, 1, 2, 14))

    (sms,) = LocmemSmsBackend.outbox
    assert "Monday 4 January 2027 at 09:00 (EST)" in sms.body


def test_intranasal_preparation_says_no_driving_until_the_next_day_and_how_long_to_stay(clinic):
    patient = make_ready_patient(clinic, "MRN-9", email="e@example.org", phone="+447700900999")
    start(patient, code="esketamine-trd")

    run_sweep(at(2027, 1, 3, 10))

    email = next(m for m in mail.outbox if "getting ready" in m.subject)
    assert "No food" not in email.body and "Do not eat for 2 hours before." in email.body
    assert "Do not drink anything for 30 minutes before." in email.body
    assert "until the next day" in email.body
    assert "Plan to stay about 2 hours 30 minutes, including at least 2 hours" in email.body


def test_one_batch_gives_each_protocol_its_own_preparation(clinic):
    """The sender works out a clinic's words once per protocol in a batch, not once per
    batch: an infusion's and an intranasal session's reminders, sent together, differ."""
    iv = make_ready_patient(clinic, "MRN-I", email="iv@example.org", phone="+447700900998")
    nasal = make_ready_patient(clinic, "MRN-N", email="in@example.org", phone="+447700900999")
    start(iv, code="iv-standard")
    start(nasal, code="esketamine-trd")

    outcomes = run_sweep(at(2027, 1, 3, 10))

    assert outcomes.get("sent", 0) >= 4  # both patients' e-mails and texts, in one sweep
    prepare = {m.to[0]: m.body for m in mail.outbox if "getting ready" in m.subject}
    assert "until the next day" in prepare["in@example.org"]
    assert "for the rest of the day" in prepare["iv@example.org"]
    assert "until the next day" not in prepare["iv@example.org"]


@pytest.mark.parametrize(
    "code", ["iv-standard", "iv-six-in-twelve", "esketamine-trd", "esketamine-mdsi"]
)
def test_no_reminder_names_the_drug_or_the_diagnosis_in_any_kind_or_channel(clinic, code):
    patient = make_ready_patient(clinic, "MRN-W", email="w@example.org", phone="+447700900111")
    course = start(patient, code=code)

    sweep_through(at(2027, 3, 31))

    sent = Reminder.objects.filter(session__course=course, status=R.SENT)
    assert {(r.kind, r.channel) for r in sent} == {(k, c) for k in K.values for c in C.values}
    texts = [f"{m.subject}\n{m.body}\n{m.alternatives[0][0]}" for m in mail.outbox]
    texts += [m.body for m in LocmemSmsBackend.outbox]
    assert len(texts) == sent.count()
    for text in texts:
        lowered = text.lower()
        assert not [w for w in FORBIDDEN_WORDS if w in lowered], text
        assert "depression" not in lowered and "suicid" not in lowered


def test_every_shipped_template_renders_without_forbidden_words(clinic, esketamine_trd):
    context = reminder_context(
        kind=K.CONFIRM,
        clinic=clinic,
        sender_name="",
        first_name="Sam",
        tz=LONDON,
        protocol=esketamine_trd,
        session_id=1,
        starts_at=at(2027, 1, 4, 10),
    )
    for kind in K.values:
        for channel in C.values:
            message = reminder_render(kind=kind, channel=channel, context={**context, "kind": kind})
            assert message.text.strip()
            if channel == C.SMS:
                assert len(message.text) <= 480  # three SMS segments at most


def test_a_clinic_template_that_names_the_drug_is_refused(clinic):
    template = ReminderTemplate(
        clinic=clinic, kind=K.RIDE, channel=C.SMS, text="Your ketamine session is at {{ time }}"
    )
    with pytest.raises(ValidationError) as exc:
        template.full_clean()
    assert "text" in exc.value.message_dict


def test_a_clinic_template_is_used_and_a_forbidden_word_reaching_the_text_fails_the_reminder(
    patient, clinic
):
    ReminderTemplate.objects.create(
        clinic=clinic, kind=K.CONFIRM, channel=C.SMS, text="{{ clinic_name }}: see you {{ when }}."
    )
    ReminderPolicy.objects.create(clinic=clinic, sender_name="Harbour Wellbeing")
    start(patient)
    run_sweep(at(2027, 1, 2, 10))
    assert LocmemSmsBackend.outbox[0].body == (
        "Harbour Wellbeing: see you Monday 4 January 2027 at 10:00 (GMT)."
    )

    # A template's own text that names the drug (saved around the admin's check) must
    # not go out: the rendered message is checked whoever wrote it.
    ReminderTemplate.objects.create(
        clinic=clinic, kind=K.PREPARE, channel=C.SMS, text="Your ketamine session: {{ when }}"
    )
    run_sweep(at(2027, 1, 3, 10))
    prepare = rows(first(patient.courses.get()), kind=K.PREPARE)
    assert prepare[K.PREPARE, C.SMS].status == R.FAILED
    assert "ketamine" in prepare[K.PREPARE, C.SMS].last_error
    assert prepare[K.PREPARE, C.EMAIL].status == R.SENT
    assert len(LocmemSmsBackend.outbox) == 1


# --- Confirm and cancel links --------------------------------------------------------------


def link(session) -> str:
    token = session_response_token(session_id=session.pk, starts_at=session.starts_at)
    return f"/reminders/answer/{token}/"


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def post_with_csrf(browser, url, **data):
    page = browser.get(url)
    data["csrfmiddlewaretoken"] = page.context["csrf_token"]
    return browser.post(url, data)


def booked_session(patient):
    # A session in the real future, so the link's "already started" check passes.
    from django.utils import timezone

    today = timezone.now().astimezone(LONDON).date()
    monday = today + dt.timedelta(days=14 - today.weekday())
    return first(start(patient, day=monday, now=timezone.now()))


def test_opening_the_link_shows_a_page_and_changes_nothing(patient, browser):
    s1 = booked_session(patient)

    page = browser.get(link(s1))

    assert page.status_code == 200
    assert b"Confirm: I will come" in page.content and b"Cancel this appointment" in page.content
    s1.refresh_from_db()
    assert (s1.status, s1.patient_response) == (Session.Status.BOOKED, "")


def test_the_confirm_button_records_the_answer_on_the_session(patient, browser):
    s1 = booked_session(patient)

    page = post_with_csrf(browser, link(s1), answer="confirm")

    assert page.status_code == 200 and b"confirmed" in page.content
    s1.refresh_from_db()
    assert s1.patient_response == "confirmed" and s1.responded_at is not None
    assert s1.status == Session.Status.BOOKED


def test_the_cancel_button_frees_the_chair_and_tells_the_front_desk(patient, browser):
    s1 = booked_session(patient)

    post_with_csrf(browser, link(s1), answer="cancel")

    s1.refresh_from_db()
    assert (s1.status, s1.patient_response) == (Session.Status.CANCELLED, "cancelled")
    assert not {r.status for r in rows(s1).values()} & {R.PENDING, R.SENDING}
    assert rows(s1)[K.CONFIRM, C.EMAIL].status == R.CANCELLED
    notice = StaffNotice.objects.get(kind=StaffNotice.Kind.PATIENT_CANCELLED)
    assert notice.session == s1 and "Test" not in notice.message  # no patient name
    assert s1.status_changes.last().note == "Cancelled by the patient from a reminder."


def test_a_post_without_the_pages_csrf_token_is_refused(patient, browser):
    s1 = booked_session(patient)

    assert browser.post(link(s1), {"answer": "cancel"}).status_code == 403
    s1.refresh_from_db()
    assert s1.status == Session.Status.BOOKED


def test_a_tampered_link_is_refused(patient, client):
    s1 = booked_session(patient)
    token = session_response_token(session_id=s1.pk, starts_at=s1.starts_at)

    assert client.get(f"/reminders/answer/{token[:-2]}xx/").status_code == 404


def test_an_expired_link_is_refused(patient, client, settings):
    s1 = booked_session(patient)
    url = link(s1)
    settings.REMINDER_LINK_MAX_AGE_DAYS = 0

    with mock.patch("django.core.signing.time.time", return_value=signing.time.time() + 5):
        response = client.get(url)

    assert response.status_code == 410
    assert b"expired" in response.content


def test_a_link_for_a_session_that_has_moved_acts_no_more(patient, browser):
    s1 = booked_session(patient)
    url = link(s1)
    session_move(session=s1, starts_at=s1.starts_at + dt.timedelta(days=1), by=None)

    page = browser.get(url)
    assert page.status_code == 409 and b"has changed" in page.content
    assert b"Cancel this appointment" not in page.content


# --- SMS provider --------------------------------------------------------------------------


class FakeTwilioHttp:
    """Stands in for Twilio's HTTP client: the real `twilio` client builds the request."""

    def __init__(self, status=201, body=None):
        self.status, self.body, self.requests = status, body, []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, **kwargs):
        import json

        from twilio.http.response import Response

        self.requests.append((method, url, data))
        body = self.body or {"sid": "SM" + "0" * 32, "status": "queued"}
        return Response(self.status, json.dumps(body))


def twilio(http) -> TwilioSmsBackend:
    from twilio.rest import Client as TwilioClient

    client = TwilioClient("AC" + "1" * 32, "secret-token", http_client=http)
    return TwilioSmsBackend(client=client, from_number="+15005550006")


def test_the_twilio_backend_sends_through_the_official_client():
    http = FakeTwilioHttp()

    sid = twilio(http).send(
        SmsMessage(to="+447700900123", body="Hello", status_callback="https://x/cb")
    )

    assert sid == "SM" + "0" * 32
    method, url, data = http.requests[0]
    assert method == "POST" and url.endswith("/Accounts/AC" + "1" * 32 + "/Messages.json")
    assert data["To"] == "+447700900123" and data["From"] == "+15005550006"
    assert data["Body"] == "Hello" and data["StatusCallback"] == "https://x/cb"


@pytest.mark.parametrize(("status", "transient"), [(400, False), (429, True), (503, True)])
def test_twilio_errors_are_transient_or_permanent(status, transient):
    http = FakeTwilioHttp(status=status, body={"code": 21211, "message": "Invalid 'To'"})

    with pytest.raises(SmsError) as exc:
        twilio(http).send(SmsMessage(to="+447700900123", body="Hello"))

    assert exc.value.transient is transient


def status_post(client, settings, params, *, token="secret-token", signature=None):
    from twilio.request_validator import RequestValidator

    settings.TWILIO_AUTH_TOKEN = "secret-token"
    url = settings.SITE_URL + "/reminders/sms-status/"
    signature = signature or RequestValidator(token).compute_signature(url, params)
    return client.post("/reminders/sms-status/", params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_a_signed_delivery_report_is_recorded_on_the_reminder(patient, client, settings):
    start(patient)
    run_sweep(at(2027, 1, 2, 10))
    sms = Reminder.objects.get(status=R.SENT, channel=C.SMS)

    response = status_post(
        client, settings, {"MessageSid": sms.provider_message_id, "MessageStatus": "delivered"}
    )

    assert response.status_code == 204
    sms.refresh_from_db()
    assert sms.delivery_status == "delivered"
    # A late "sent" report does not undo "delivered".
    status_post(client, settings, {"MessageSid": sms.provider_message_id, "MessageStatus": "sent"})
    sms.refresh_from_db()
    assert sms.delivery_status == "delivered"


def test_an_undelivered_text_tells_the_front_desk(patient, client, settings):
    start(patient)
    run_sweep(at(2027, 1, 2, 10))
    sms = Reminder.objects.get(status=R.SENT, channel=C.SMS)

    status_post(
        client,
        settings,
        {
            "MessageSid": sms.provider_message_id,
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
        },
    )

    notice = StaffNotice.objects.get(kind=StaffNotice.Kind.REMINDER_FAILED)
    assert "30003" in notice.message and notice.session == sms.session


def test_a_delivery_report_with_a_bad_signature_is_refused(patient, client, settings):
    response = status_post(
        client, settings, {"MessageSid": "SMx", "MessageStatus": "failed"}, token="wrong-token"
    )
    assert response.status_code == 403


def test_delivery_report_needs_an_id_and_status():
    with pytest.raises(ValidationError):
        reminder_delivery_record(provider_message_id="", status="", now=NOW)


# --- Staff notices -------------------------------------------------------------------------


def test_a_no_show_raises_one_follow_up_notice(patient):
    s1 = first(start(patient))
    session_no_show(session=s1, by=None, now=at(2027, 1, 4, 11))

    assert no_show_notices_raise_due(now=at(2027, 1, 4, 12)) == 1
    assert no_show_notices_raise_due(now=at(2027, 1, 4, 12, 15)) == 0  # once per fact

    notice = StaffNotice.objects.get(kind=StaffNotice.Kind.NO_SHOW)
    assert notice.session == s1 and "no-show" in notice.message and "Test" not in notice.message


def test_a_sweep_that_finds_nothing_new_asks_a_fixed_few_queries_and_writes_nothing(
    patient, django_assert_num_queries
):
    """Facts already noticed are looked up together, not one query each: at a network's
    size (1,000 clinics) the sweep had asked once per fact, 47,180 of them, every 15
    minutes, and held a core for minutes (tests/load, `make load`)."""
    course = start(patient)
    for s in course.sessions.order_by("starts_at")[:3]:
        session_no_show(session=s, by=None, now=s.starts_at + dt.timedelta(hours=1))
    later = course.sessions.order_by("starts_at")[3].starts_at
    assert no_show_notices_raise_due(now=later) == 3
    # The no-shows, and the noticed keys (the other rooms' sweeps ask the same way).
    with django_assert_num_queries(2):
        assert no_show_notices_raise_due(now=later) == 0


def test_an_open_ended_course_about_to_run_out_of_booked_sessions_raises_a_notice(patient):
    from scheduling.reminders.services import maintenance_notices_raise_due

    course = start(patient)  # maintenance written out to 1 April 2027
    last = course.sessions.order_by("-starts_at").first()

    maintenance_notices_raise_due(now=at(2027, 1, 5))
    assert not StaffNotice.objects.filter(kind=StaffNotice.Kind.MAINTENANCE_DUE).exists()

    maintenance_notices_raise_due(now=last.starts_at - dt.timedelta(days=10))
    notice = StaffNotice.objects.get(kind=StaffNotice.Kind.MAINTENANCE_DUE)
    assert notice.course == course


def test_the_beat_task_runs_every_rooms_sweep_of_notices(patient):
    from scheduling.tasks import staff_notices_raise_due

    course = start(patient)
    last = course.sessions.order_by("-starts_at").first()
    now = last.starts_at - dt.timedelta(days=10)  # maintenance is due to be booked
    # A no-show of the last fortnight to follow up.
    recent = course.sessions.filter(starts_at__lt=now).order_by("-starts_at").first()
    moved = now - dt.timedelta(days=1)
    Session.objects.filter(pk=recent.pk).update(
        starts_at=moved, ends_at=moved + (recent.ends_at - recent.starts_at)
    )
    recent.refresh_from_db()
    session_no_show(session=recent, by=None, now=now)
    with time_machine.travel(now, tick=False):
        assert staff_notices_raise_due() == 2
    kinds = set(StaffNotice.objects.values_list("kind", flat=True))
    assert kinds == {StaffNotice.Kind.NO_SHOW, StaffNotice.Kind.MAINTENANCE_DUE}


def test_a_discharged_esketamine_session_without_its_rems_form_raises_a_notice(clinic, staff):
    from scheduling.chart.services import (
        rems_form_mark_filed,
        rems_form_notices_raise_due,
        rems_report_record,
    )

    from ..conftest import chart_through

    nurse = staff["nurse"]
    patient = make_ready_patient(clinic, "MRN-E", email="e@example.org")
    s1 = first(start(patient, code="esketamine-trd"))
    now = s1.starts_at
    chart_through(s1, nurse=nurse, start=now)

    rems_form_notices_raise_due(now=now + dt.timedelta(hours=3))
    notice = StaffNotice.objects.get(kind=StaffNotice.Kind.REMS_FORM_DUE)
    assert notice.session == s1 and notice.due_on == dt.date(2027, 1, 11)

    later = now + dt.timedelta(days=1)
    rems_report_record(
        session=s1, by=nurse, benzodiazepines=False, non_benzo_sedatives=False,
        psychostimulants=False, maois=False, monitoring_clinician=staff["clinician"], now=later,
    )  # fmt: skip
    rems_form_mark_filed(session=s1, by=nurse, now=later)
    notice.refresh_from_db()
    assert notice.resolved_at is not None
    StaffNotice.objects.all().delete()
    rems_form_notices_raise_due(now=now + dt.timedelta(days=2))
    assert not StaffNotice.objects.filter(kind=StaffNotice.Kind.REMS_FORM_DUE).exists()


def test_an_iv_session_needs_no_rems_form(patient, staff):
    from scheduling.chart.services import rems_form_notices_raise_due

    from ..conftest import chart_through

    s1 = first(start(patient))
    chart_through(s1, nurse=staff["nurse"], start=s1.starts_at)

    rems_form_notices_raise_due(now=s1.starts_at + dt.timedelta(hours=3))

    assert not StaffNotice.objects.filter(kind=StaffNotice.Kind.REMS_FORM_DUE).exists()


# --- The broker may be down ----------------------------------------------------------------


def test_a_booking_succeeds_when_the_broker_is_down(patient, django_capture_on_commit_callbacks):
    # Booked at 07:59:30 for 10:00: the 2-hour reminder is due within the minute, so the
    # booking asks for a sweep as soon as it commits. The broker is down.
    now = dt.datetime(2027, 1, 4, 7, 59, 30, tzinfo=UTC)
    down = mock.patch("celery.app.base.Celery.send_task", side_effect=ConnectionError("down"))
    with down as send_task, django_capture_on_commit_callbacks(execute=True):
        course = start(patient, now=now)

    assert send_task.call_args.args[0] == "scheduling.tasks.reminders_dispatch_due"
    ride = rows(first(course), kind=K.RIDE)[K.RIDE, C.SMS]
    assert ride.status == R.PENDING  # the plan is in the database: the next sweep sends it
    assert run_sweep(now + dt.timedelta(minutes=1)) == {"sent": 2}


def test_a_batch_that_could_not_be_queued_goes_back_to_pending(
    patient, django_capture_on_commit_callbacks
):
    start(patient)
    down = mock.patch("celery.app.base.Celery.send_task", side_effect=ConnectionError("down"))
    with down, django_capture_on_commit_callbacks(execute=True):
        tokens = reminders_dispatch_due(now=at(2027, 1, 2, 10))

    assert tokens
    assert Reminder.objects.filter(status=R.SENDING).count() == 0
    assert Reminder.objects.filter(status=R.PENDING, kind=K.CONFIRM, attempts=0).count() >= 2


def test_the_front_desk_sees_reminders_and_notices_in_the_admin(patient, staff, client):
    s1 = first(start(patient))
    client.force_login(staff["front_desk"])

    assert client.get("/admin/scheduling/reminder/").status_code == 200
    assert client.get("/admin/scheduling/staffnotice/").status_code == 200
    page = client.get(f"/admin/scheduling/session/{s1.pk}/change/")
    assert page.status_code == 200 and b"Preparation (24 hours before)" in page.content
    assert client.get("/admin/scheduling/remindertemplate/add/").status_code == 403
