"""The sent mark racing a cancellation (PostgreSQL: its re-check of a row another
transaction changed is PostgreSQL's).

The cancellation of the session is held open before its COMMIT, with the reminder's
claim already taken back; the sender's mark runs meanwhile in its own connection and
waits for the row. Once the cancellation commits, the mark must find the claim gone and
change nothing: no message goes out for a cancelled session.
"""

import threading
import time

import pytest
from django.db import connection, transaction

from scheduling.booking.services import session_cancel
from scheduling.reminders import services as svc
from scheduling.reminders.models import Reminder
from scheduling.reminders.services import reminders_dispatch_due

from ..conftest import at, make_ready_patient
from .test_reminders import first, start

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]
R = Reminder.Status


def _waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def test_a_mark_that_waited_for_a_cancellation_finds_the_claim_gone(clinic):
    patient = make_ready_patient(clinic, email="pat@example.org", phone="+447700900123")
    now = at(2027, 1, 2, 10)
    session = first(start(patient))
    (token,) = reminders_dispatch_due(now=now)
    (reminder,) = Reminder.objects.filter(claim_token=token, channel=Reminder.Channel.EMAIL)
    held, release = threading.Event(), threading.Event()
    marker_pid: list[int] = []
    outcome: dict[str, object] = {}

    def desk():
        try:
            with transaction.atomic():
                session_cancel(session=session, by=None, reason="Asked to", now=now)
                held.set()
                release.wait(timeout=30)
        finally:
            held.set()
            connection.close()

    def sender():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                marker_pid.append(cursor.fetchone()[0])
            with transaction.atomic():
                outcome["marked"] = svc._mark_sent(
                    reminder_id=reminder.pk, claim_token=token, now=now, message_id="<m@x>"
                )
        finally:
            connection.close()

    cancelling = threading.Thread(target=desk)
    cancelling.start()
    assert held.wait(timeout=30)
    marking = threading.Thread(target=sender)
    marking.start()
    give_up = time.monotonic() + 30
    while not (marker_pid and _waits_on_a_lock(marker_pid[0])) and time.monotonic() < give_up:
        time.sleep(0.01)
    outcome["waited"] = bool(marker_pid) and _waits_on_a_lock(marker_pid[0])
    release.set()
    cancelling.join(timeout=60)
    marking.join(timeout=60)

    assert outcome == {"waited": True, "marked": False}, outcome
    reminder.refresh_from_db()
    assert (reminder.status, reminder.claim_token, reminder.sent_at) == (R.CANCELLED, None, None)
