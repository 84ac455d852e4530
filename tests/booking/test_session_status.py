"""The one transition function: allowed moves are recorded, illegal ones refused."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from scheduling.booking.models import Session, SessionStatusChange
from scheduling.booking.services import course_start, session_transition

from ..conftest import at, chart_through

S = Session.Status
ON_THE_DAY = at(2027, 1, 4, 9)  # session 1 is at 10:00 London (= UTC in winter)
AFTER_START = at(2027, 1, 4, 11)


@pytest.fixture
def session(patient, iv_standard, staff):
    course = course_start(
        patient=patient, protocol=iv_standard, start_date=dt.date(2027, 1, 4),
        preferred_weekdays=[0, 3], preferred_time=dt.time(10), by=staff["front_desk"],
        now=at(2027, 1, 1),
    )  # fmt: skip
    return course.sessions.get(number=1)


def test_a_session_moves_through_its_day_and_every_step_is_recorded(session, staff):
    nurse = staff["nurse"]
    # Dosing and discharge go through the chart, which records them and moves the status.
    session = chart_through(session, nurse=nurse, start=ON_THE_DAY)

    history = list(session.status_changes.values_list("from_status", "to_status", "changed_by"))
    assert history == [
        ("", S.BOOKED, staff["front_desk"].id),
        (S.BOOKED, S.CHECKED_IN, nurse.id),
        (S.CHECKED_IN, S.IN_PROGRESS, nurse.id),
        (S.IN_PROGRESS, S.MONITORING, nurse.id),
        (S.MONITORING, S.DISCHARGED, nurse.id),
    ]
    assert session.status == S.DISCHARGED


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], S.DISCHARGED),  # discharging a session that never started
        ([], S.IN_PROGRESS),  # starting without check-in
        ([S.CANCELLED], S.IN_PROGRESS),  # starting a cancelled one
        ([S.NO_SHOW], S.CHECKED_IN),
        ([S.DISCHARGED], S.CANCELLED),  # charted through to discharge
    ],
)
def test_an_illegal_move_is_refused_and_not_recorded(session, staff, path, illegal):
    for to in path:
        if to == S.DISCHARGED:
            session = chart_through(session, nurse=staff["nurse"], start=ON_THE_DAY)
        else:
            session = session_transition(session=session, to=to, by=staff["nurse"], now=AFTER_START)
    before = SessionStatusChange.objects.count()

    with pytest.raises(ValidationError) as exc:
        session_transition(session=session, to=illegal, by=staff["nurse"], now=AFTER_START)

    assert "status" in exc.value.message_dict
    assert SessionStatusChange.objects.count() == before
    session.refresh_from_db()
    assert session.status == (path[-1] if path else S.BOOKED)


def test_an_unknown_status_is_refused(session, staff):
    with pytest.raises(ValidationError) as exc:
        session_transition(session=session, to="teleported", by=staff["nurse"])
    assert "Unknown session status" in exc.value.message_dict["status"][0]
