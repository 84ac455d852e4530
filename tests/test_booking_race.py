"""Bookings that race: many at once for one time each take a free chair (PostgreSQL).

Each writer runs in its own thread with its own connection, all released at once. A
placement is refused only when no chair is free, never because another writer took the
chair it had picked a moment before; no chair is ever booked twice, nothing raises.
"""

import threading
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from scheduling.models import Session

from .conftest import make_clinic, make_ready_patient
from .test_booking import local, start_course

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
