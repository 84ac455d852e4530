"""A patient's answer from a reminder link racing the staff's writes to their course
(PostgreSQL: row locks and the foreign-key checks at COMMIT are PostgreSQL's).

The patient's answer is held open just before its COMMIT; the staff's write runs in its
own thread and connection meanwhile, until it is done or waits on a lock; then the
answer commits. Under the Locust smoke load a front desk booking into the course of a
patient confirming deadlocked at the answer's COMMIT (a 500): the answer locked the
clinic's and the patient's rows with its session, and its second UPDATE of the session
had PostgreSQL re-check the session's foreign keys at COMMIT, waiting on the course the
booking had locked.
"""

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction

from scheduling.booking.models import Session
from scheduling.booking.services import (
    course_maintenance_frequency_set,
    course_start,
    session_book,
)
from scheduling.reminders.services import session_respond as answer

from ..booking.test_booking import NOW, local, start_course
from ..conftest import at

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


def _waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def race(session: Session, response: str, staff_write) -> dict[str, object]:
    """The answer, held before its COMMIT while `staff_write` runs; each side's outcome:
    "done" or the error it raised, and whether the staff's write had to wait."""
    held, release = threading.Event(), threading.Event()
    staff_pid: list[int] = []
    outcome: dict[str, object] = {}

    def patient():
        try:
            with transaction.atomic():
                answer(
                    session=session, planned_starts_at=session.starts_at, answer=response, now=NOW
                )
                held.set()
                release.wait(timeout=30)
            outcome["patient"] = "done"
        except Exception as exc:  # a deadlock among them: the test must see it
            outcome["patient"] = repr(exc)
        finally:
            held.set()
            connection.close()

    def staff():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                staff_pid.append(cursor.fetchone()[0])
            staff_write()
            outcome["staff"] = "done"
        except Exception as exc:
            outcome["staff"] = repr(exc)
        finally:
            connection.close()

    first = threading.Thread(target=patient)
    first.start()
    assert held.wait(timeout=30)
    second = threading.Thread(target=staff)
    second.start()
    # Until the staff's write is done or waits on a lock (not a timing: a state).
    give_up = time.monotonic() + 30
    while second.is_alive() and time.monotonic() < give_up:
        if staff_pid and _waits_on_a_lock(staff_pid[0]):
            outcome["staff waited"] = True
            break
        time.sleep(0.01)
    release.set()
    first.join(timeout=60)
    second.join(timeout=60)
    assert not first.is_alive() and not second.is_alive(), "a writer hung"
    return outcome


def test_a_front_desk_booking_into_the_course_of_a_patient_confirming_does_not_wait_for_it(
    patient,
):
    course = start_course(patient, start=dt.date(2027, 2, 1))
    session = course.sessions.get(number=1)

    outcome = race(
        session,
        Session.Response.CONFIRMED,
        lambda: session_book(course=course, starts_at=local(1, 20, 14), by=None, now=NOW),
    )

    # The answer locks its session alone: the booking takes nothing the answer holds.
    assert outcome == {"patient": "done", "staff": "done"}, outcome
    session.refresh_from_db()
    assert session.patient_response == Session.Response.CONFIRMED
    assert course.sessions.filter(starts_at=local(1, 20, 14), status=Session.Status.BOOKED)


def test_a_clinician_changing_the_maintenance_of_a_patient_confirming_waits_then_goes_on(
    patient, esketamine_trd, staff
):
    # The clinician's change locks the course, then cancels the sessions to come, the
    # confirmed one among them: it waits for the answer, which needs nothing of it.
    course = course_start(
        patient=patient, protocol=esketamine_trd, start_date=dt.date(2027, 1, 5),
        preferred_weekdays=[1, 4], preferred_time=dt.time(9, 30), by=None, now=at(2027, 1, 1),
    )  # fmt: skip
    session = course.sessions.filter(phase__name="Maintenance").earliest("starts_at")

    outcome = race(
        session,
        Session.Response.CONFIRMED,
        lambda: course_maintenance_frequency_set(
            course=course, every_weeks=1, by=staff["clinician"], reason="Relapse", now=NOW
        ),
    )

    assert outcome == {"patient": "done", "staff": "done", "staff waited": True}, outcome
    session.refresh_from_db()
    assert (session.status, session.patient_response) == (
        Session.Status.CANCELLED,
        Session.Response.CONFIRMED,
    )


def test_a_clinician_changing_the_maintenance_of_a_patient_cancelling_waits_then_goes_on(
    patient, esketamine_trd, staff
):
    # Cancelling writes the session twice (the answer, then session_cancel), so its
    # foreign keys are checked at COMMIT: the answer takes the course first, as the
    # clinician's change does, and the change waits for it before touching the session.
    course = course_start(
        patient=patient, protocol=esketamine_trd, start_date=dt.date(2027, 1, 5),
        preferred_weekdays=[1, 4], preferred_time=dt.time(9, 30), by=None, now=at(2027, 1, 1),
    )  # fmt: skip
    session = course.sessions.filter(phase__name="Maintenance").earliest("starts_at")

    outcome = race(
        session,
        Session.Response.CANCELLED,
        lambda: course_maintenance_frequency_set(
            course=course, every_weeks=1, by=staff["clinician"], reason="Relapse", now=NOW
        ),
    )

    assert outcome == {"patient": "done", "staff": "done", "staff waited": True}, outcome
    session.refresh_from_db()
    assert (session.status, session.patient_response) == (
        Session.Status.CANCELLED,
        Session.Response.CANCELLED,
    )
    assert session.status_changes.get(to_status=Session.Status.CANCELLED).note == (
        "Cancelled by the patient from a reminder."
    )
