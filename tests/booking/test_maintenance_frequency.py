"""Esketamine TRD maintenance: weekly or every two weeks, switched by a clinician for the
rest of a course (Spravato label)."""

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from scheduling.booking.models import Session
from scheduling.booking.services import (
    course_extend_horizon,
    course_maintenance_frequency_set,
    course_start,
)

from ..conftest import at

LONDON = zoneinfo.ZoneInfo("Europe/London")
S = Session.Status


@pytest.fixture
def trd_course(patient, esketamine_trd):
    return course_start(
        patient=patient, protocol=esketamine_trd, start_date=dt.date(2027, 1, 5),
        preferred_weekdays=[1, 4], preferred_time=dt.time(9, 30), by=None, now=at(2027, 1, 1),
    )  # fmt: skip


def maintenance_days(course, status=S.BOOKED):
    return [
        s.starts_at.astimezone(LONDON).date()
        for s in course.sessions.filter(phase__name="Maintenance", status=status).order_by(
            "starts_at"
        )
    ]


def test_a_clinician_switches_trd_maintenance_to_weekly_for_the_rest_of_the_course(
    trd_course, staff
):
    d = dt.date
    assert maintenance_days(trd_course) == [d(2027, 3, 2), d(2027, 3, 16), d(2027, 3, 30)]

    new = course_maintenance_frequency_set(
        course=trd_course, every_weeks=1, by=staff["clinician"],
        reason="Relapse signs on every-2-week dosing", now=at(2027, 2, 15),
    )  # fmt: skip

    days = maintenance_days(trd_course)
    assert days[0] == d(2027, 3, 2) and [s.starts_at for s in new] == sorted(
        s.starts_at for s in new
    )
    assert all((b - a).days == 7 for a, b in zip(days, days[1:], strict=False)), days
    assert all(day.weekday() == 1 for day in days)  # Tuesdays, as preferred
    cancelled = trd_course.sessions.filter(status=S.CANCELLED)
    assert cancelled.count() == 3
    note = cancelled.first().status_changes.order_by("-changed_at").first().note
    assert note == "Maintenance now every 1 week(s): Relapse signs on every-2-week dosing"
    trd_course.refresh_from_db()
    assert trd_course.maintenance_every_weeks == 1
    switched = trd_course.history.filter(maintenance_every_weeks=1).earliest("history_date")
    assert (switched.history_user, switched.history_change_reason) == (staff["clinician"], note)

    # The horizon, written out later, keeps to the new interval.
    assert course_extend_horizon(course=trd_course, now=at(2027, 3, 1)) > 0
    days = maintenance_days(trd_course)
    assert all((b - a).days == 7 for a, b in zip(days, days[1:], strict=False)), days


def test_switching_back_to_every_two_weeks_continues_from_the_last_session(trd_course, staff):
    course_maintenance_frequency_set(
        course=trd_course, every_weeks=1, by=staff["clinician"], reason="Relapse",
        now=at(2027, 2, 15),
    )  # fmt: skip
    course_maintenance_frequency_set(
        course=trd_course, every_weeks=2, by=staff["clinician"], reason="Stable again",
        now=at(2027, 3, 5),
    )  # fmt: skip
    days = maintenance_days(trd_course)
    assert days[0] == dt.date(2027, 3, 2)  # held before the switch: kept
    assert all((b - a).days == 14 for a, b in zip(days, days[1:], strict=False)), days


def test_only_a_clinician_switches_maintenance_and_with_a_reason(trd_course, staff):
    with pytest.raises(PermissionDenied):
        course_maintenance_frequency_set(
            course=trd_course, every_weeks=1, by=staff["nurse"], reason="x", now=at(2027, 2, 15)
        )
    with pytest.raises(ValidationError) as exc:
        course_maintenance_frequency_set(
            course=trd_course, every_weeks=3, by=staff["clinician"], reason="x",
            now=at(2027, 2, 15),
        )  # fmt: skip
    assert "weekly (1) or every two weeks (2)" in exc.value.message_dict["every_weeks"][0]
    with pytest.raises(ValidationError) as exc:
        course_maintenance_frequency_set(
            course=trd_course, every_weeks=1, by=staff["clinician"], reason=" ",
            now=at(2027, 2, 15),
        )  # fmt: skip
    assert "reason" in exc.value.message_dict
    assert not trd_course.sessions.filter(status=S.CANCELLED).exists()


def test_the_switch_through_the_api_is_a_clinicians(trd_course, staff):
    import time_machine
    from rest_framework.test import APIClient

    url = f"/api/v1/courses/{trd_course.pk}/maintenance-frequency/"
    client = APIClient()
    with time_machine.travel(at(2027, 2, 15), tick=False):
        client.force_authenticate(staff["nurse"])
        assert client.post(url, {"every_weeks": 1, "reason": "x"}, format="json").status_code == 403
        client.force_authenticate(staff["clinician"])
        bad = client.post(url, {"every_weeks": 3, "reason": "x"}, format="json")
        assert bad.status_code == 400 and "every_weeks" in bad.json()["errors"]
        done = client.post(url, {"every_weeks": 1, "reason": "Relapse"}, format="json")
    assert done.status_code == 200, done.json()
    assert len(done.json()) == len(maintenance_days(trd_course))  # every one to come, anew
