"""Bookings that race: many at once for one time each take a free chair (PostgreSQL).

Each writer runs in its own thread with its own connection, all released at once. A
placement is refused only when no chair is free, never because another writer took the
chair it had picked a moment before; no chair is ever booked twice, nothing raises.
"""

import datetime as dt
import threading
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from clinic.models import Chair, Clinic
from patients.models import Patient
from scheduling.booking.models import Course, Protocol, Session
from scheduling.booking.services import session_book, session_move

from ..conftest import make_clinic, make_ready_patient
from .test_booking import NOW, local, start_course

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


def at_once(calls) -> list[str]:
    """Run each call in its own thread (own connection), all released together; each
    outcome is "done", "refused: {field: messages}" or "error: ..." (a server error)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(call):
        try:
            barrier.wait(timeout=20)
            call()
            result = "done"
        except ValidationError as exc:
            result = f"refused: {exc.message_dict}"
        except Exception as exc:  # a server error: the test must see it
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == len(calls), "a writer hung"
    return outcomes


def patients(clinic, n):
    return [make_ready_patient(clinic, f"RACE-{i}") for i in range(n)]


def assert_no_chair_booked_twice():
    held = Counter(
        Session.objects.filter(status__in=Session.HOLDING).values_list("chair_id", "starts_at")
    )
    assert max(held.values(), default=1) == 1, [k for k, v in held.items() if v > 1]


def test_courses_started_at_once_for_one_time_each_take_a_free_chair():
    clinic = make_clinic(chairs=17)
    starters = [lambda p=p: start_course(p) for p in patients(clinic, 16)]

    outcomes = at_once(starters)

    assert outcomes == ["done"] * 16, outcomes
    first = Session.objects.filter(number=1, starts_at=local(1, 4))
    assert first.values("chair").distinct().count() == 16
    assert_no_chair_booked_twice()


def test_courses_started_at_once_beyond_the_free_chairs_are_refused_naming_the_chair():
    clinic = make_clinic(chairs=5)
    starters = [lambda p=p: start_course(p) for p in patients(clinic, 12)]

    outcomes = at_once(starters)

    assert outcomes.count("done") == 5, outcomes
    refused = [o for o in outcomes if o != "done"]
    assert all(o.startswith("refused: {'chair': [") for o in refused), refused
    assert all("no chair is free at that time" in o for o in refused), refused
    assert Session.objects.filter(number=1).values("chair").distinct().count() == 5
    assert_no_chair_booked_twice()


def test_sessions_booked_at_once_for_one_time_each_take_a_free_chair():
    clinic = make_clinic(chairs=13)
    # Courses from February; each books one more session on 20 January at 14:00, any chair.
    courses = [start_course(p, start=dt.date(2027, 2, 1)) for p in patients(clinic, 12)]
    when = local(1, 20, 14)

    outcomes = at_once(
        [
            lambda c=c: session_book(course=c, starts_at=when, chair=None, by=None, now=NOW)
            for c in courses
        ]
    )

    assert outcomes == ["done"] * 12, outcomes
    assert Session.objects.filter(starts_at=when).values("chair").distinct().count() == 12
    assert_no_chair_booked_twice()


def test_sessions_moved_at_once_to_one_time_each_take_a_free_chair():
    clinic = make_clinic(chairs=13)
    courses = [start_course(p, start=dt.date(2027, 2, 1)) for p in patients(clinic, 12)]
    # Each course's first session in Chair 1, on its own January day: all prefer Chair 1.
    chair_1 = Chair.objects.get(clinic=clinic, name="Chair 1")
    days = [d for d in range(4, 30) if dt.date(2027, 1, d).weekday() < 5][: len(courses)]
    firsts = []
    for c, day in zip(courses, days, strict=True):
        first = c.sessions.get(number=1)
        length = first.ends_at - first.starts_at
        Session.objects.filter(pk=first.pk).update(
            chair=chair_1, starts_at=local(1, day), ends_at=local(1, day) + length
        )
        firsts.append(first)
    when = local(1, 20, 14)

    outcomes = at_once(
        [lambda s=s: session_move(session=s, starts_at=when, by=None, now=NOW) for s in firsts]
    )

    assert outcomes == ["done"] * 12, outcomes
    assert Session.objects.filter(starts_at=when).values("chair").distinct().count() == 12
    assert_no_chair_booked_twice()


# --- what a placement waits for ------------------------------------------------------------


def held(rows) -> dict[str, str]:
    """Which of these rows another writer must wait for, asked from another connection
    (FOR NO KEY UPDATE: what a placement takes; it does not wait for a new session's
    foreign keys)."""
    seen = {}

    def probe():
        try:
            for name, model, pk in rows:
                try:
                    with transaction.atomic():
                        model.objects.select_for_update(no_key=True, nowait=True).get(pk=pk)
                    seen[name] = "free"
                except DatabaseError:
                    seen[name] = "locked"
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(timeout=30)
    return seen


def test_a_booking_holds_its_course_and_the_clinics_chairs_and_not_the_clinic_or_protocol():
    """Another clinic's booking of the same built-in protocol is not held up by it, nor a
    check-in at this clinic."""
    clinic = make_clinic(chairs=2)
    (patient,) = patients(clinic, 1)
    course = start_course(patient, start=dt.date(2027, 2, 1))
    chair_2 = Chair.objects.get(clinic=clinic, name="Chair 2")

    with transaction.atomic():
        session_book(course=course, starts_at=local(1, 20, 14), chair=None, by=None, now=NOW)
        seen = held(
            [
                ("course", Course, course.pk),
                ("chair 2", Chair, chair_2.pk),
                ("clinic", Clinic, clinic.pk),
                ("protocol", Protocol, course.protocol_id),
                ("patient", Patient, patient.pk),
            ]
        )

    assert seen == {
        "course": "locked",
        "chair 2": "locked",
        "clinic": "free",
        "protocol": "free",
        "patient": "free",
    }


def test_a_move_holds_its_session_and_the_clinics_chairs_and_not_the_clinic():
    clinic = make_clinic(chairs=2)
    (patient,) = patients(clinic, 1)
    course = start_course(patient, start=dt.date(2027, 2, 1))
    first = course.sessions.get(number=1)
    chair_2 = Chair.objects.get(clinic=clinic, name="Chair 2")

    with transaction.atomic():
        session_move(session=first, starts_at=local(1, 20, 14), by=None, now=NOW)
        seen = held(
            [
                ("session", Session, first.pk),
                ("chair 2", Chair, chair_2.pk),
                ("clinic", Clinic, clinic.pk),
            ]
        )

    assert seen == {"session": "locked", "chair 2": "locked", "clinic": "free"}
