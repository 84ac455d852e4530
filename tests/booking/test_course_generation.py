"""Turning a protocol into a patient's concrete sessions (booking's course_start)."""

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import ValidationError

from clinic.models import Closure
from scheduling.booking.models import Course, Protocol, Session
from scheduling.booking.services import course_extend_horizon, course_start, courses_extend_horizon

from ..conftest import at

LONDON = zoneinfo.ZoneInfo("Europe/London")
MON, TUE, WED, THU, FRI = range(5)


def start(patient, protocol, day, weekdays, time=dt.time(10), now=None):
    return course_start(
        patient=patient,
        protocol=protocol,
        start_date=day,
        preferred_weekdays=weekdays,
        preferred_time=time,
        by=None,
        now=now or at(2027, 1, 1),
    )


def local_days(course):
    return [s.starts_at.astimezone(LONDON).date() for s in course.sessions.order_by("number")]


def local_times(course):
    return {s.starts_at.astimezone(LONDON).time() for s in course.sessions.all()}


def d(month, day, year=2027):
    return dt.date(year, month, day)


def assert_gaps_at_least(course, hours):
    starts = [s.starts_at.astimezone(LONDON).replace(tzinfo=None) for s in course.sessions.all()]
    starts.sort()
    for a, b in zip(starts, starts[1:], strict=False):
        assert b - a >= dt.timedelta(hours=hours), (a, b)


def test_standard_iv_course_has_the_exact_dates(patient, iv_standard):
    course = start(patient, iv_standard, d(1, 4), [MON, THU])

    assert local_days(course) == [
        d(1, 4),  # week 1: one infusion
        d(1, 11), d(1, 14),  # week 2: two, not on consecutive days
        d(1, 18), d(1, 25), d(2, 1),  # weeks 3-5: one a week
        # Monthly maintenance, 28-35 days after the session before (never week 6), up to
        # the 90-day horizon (1 April).
        d(3, 1), d(3, 29),
    ]  # fmt: skip
    assert local_times(course) == {dt.time(10)}
    phases = [s.phase.name for s in course.sessions.order_by("number")]
    assert phases == ["Week 1", "Week 2", "Week 2"] + ["Weeks 3-5"] * 3 + ["Maintenance"] * 2
    assert [s.number for s in course.sessions.order_by("starts_at")] == list(range(1, 9))
    assert course.planned_until == d(4, 1)


def test_the_first_iv_maintenance_session_is_a_month_after_the_last_weekly_one(
    patient, iv_standard
):
    # Thursdays only: the last weekly session is Thu 4 Feb; a month is 28-35 days later.
    course = start(patient, iv_standard, d(1, 7), [THU])
    sessions = list(course.sessions.order_by("number").select_related("phase"))
    weekly = [s for s in sessions if s.phase.name != "Maintenance"]
    monthly = [s for s in sessions if s.phase.name == "Maintenance"]
    days = [s.starts_at.astimezone(LONDON).date() for s in [weekly[-1], *monthly]]
    gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
    assert monthly and all(28 <= g <= 35 for g in gaps), gaps
    assert all(day.weekday() == THU for day in days)


def test_two_sessions_in_a_week_are_never_on_consecutive_days(patient, iv_standard):
    # Monday and Tuesday preferred: Tuesday is only 24 h after Monday, so Wednesday is used.
    course = start(patient, iv_standard, d(1, 4), [MON, TUE])

    assert local_days(course)[1:3] == [d(1, 11), d(1, 13)]
    assert_gaps_at_least(course, 48)


def test_esketamine_trd_course_has_the_exact_dates(patient, esketamine_trd):
    course = start(patient, esketamine_trd, d(1, 4), [TUE, FRI], time=dt.time(9))

    assert local_days(course) == [
        d(1, 5), d(1, 8), d(1, 12), d(1, 15), d(1, 19), d(1, 22), d(1, 26), d(1, 29),  # weeks 1-4
        d(2, 2), d(2, 9), d(2, 16), d(2, 23),  # weeks 5-8: weekly
        d(3, 2), d(3, 16), d(3, 30),  # then every two weeks, to the horizon
    ]  # fmt: skip
    assert local_times(course) == {dt.time(9)}
    assert_gaps_at_least(course, 48)


def test_esketamine_with_suicidal_ideation_is_twice_weekly_for_four_weeks(patient):
    protocol = Protocol.objects.get(clinic=None, code="esketamine-mdsi")
    course = start(patient, protocol, d(1, 4), [MON, THU])

    assert local_days(course) == [
        d(1, 4), d(1, 7), d(1, 11), d(1, 14), d(1, 18), d(1, 21), d(1, 25), d(1, 28)
    ]  # fmt: skip
    assert course.planned_until is None


def test_six_in_twelve_days_keeps_local_time_across_a_daylight_saving_change(patient):
    protocol = Protocol.objects.get(clinic=None, code="iv-six-in-twelve")
    # British Summer Time starts on Sunday 28 March 2027.
    course = start(patient, protocol, d(3, 22), [MON, WED, FRI], now=at(2027, 3, 1))

    sessions = list(course.sessions.order_by("number"))
    assert local_days(course) == [d(3, 22), d(3, 24), d(3, 26), d(3, 29), d(3, 31), d(4, 2)]
    assert local_times(course) == {dt.time(10)}
    utc_hours = [s.starts_at.astimezone(dt.UTC).hour for s in sessions]
    assert utc_hours == [10, 10, 10, 9, 9, 9]  # GMT, then BST
    assert all(s.ends_at - s.starts_at == dt.timedelta(minutes=120) for s in sessions)


def test_a_new_york_clinic_keeps_its_own_local_time_across_its_own_change(other_clinic):
    from ..conftest import make_ready_patient

    patient = make_ready_patient(other_clinic)
    protocol = Protocol.objects.get(clinic=None, code="esketamine-mdsi")
    # US daylight saving starts on 14 March 2027, two weeks before Britain's.
    course = start(patient, protocol, d(3, 8), [MON, THU], time=dt.time(9), now=at(2027, 3, 1))

    new_york = zoneinfo.ZoneInfo("America/New_York")
    local = [s.starts_at.astimezone(new_york) for s in course.sessions.order_by("number")]
    assert {t.time() for t in local} == {dt.time(9)}
    assert [t.astimezone(dt.UTC).hour for t in local[:3]] == [14, 14, 13]


def test_a_closure_moves_the_affected_session_without_breaking_the_minimum_gap(
    clinic, patient, iv_standard
):
    Closure.objects.create(clinic=clinic, start_date=d(1, 14), end_date=d(1, 14), reason="Training")

    course = start(patient, iv_standard, d(1, 4), [MON, THU])

    days = local_days(course)
    assert d(1, 14) not in days
    assert days[1:3] == [d(1, 11), d(1, 15)]  # Thursday closed: Friday, not Wednesday
    assert_gaps_at_least(course, 48)


def test_a_closure_next_to_a_preferred_day_still_keeps_the_gap(clinic, patient, iv_standard):
    # Monday of week 2 closed; Wednesday stays; the second session must not be Tuesday
    # or Thursday (next to Wednesday), so it is Friday.
    Closure.objects.create(clinic=clinic, start_date=d(1, 11), end_date=d(1, 11))

    course = start(patient, iv_standard, d(1, 4), [MON, WED])

    assert local_days(course)[1:3] == [d(1, 13), d(1, 15)]
    assert_gaps_at_least(course, 48)


def test_a_closed_week_pushes_its_session_into_the_next_days(clinic, patient, iv_standard):
    Closure.objects.create(clinic=clinic, start_date=d(1, 18), end_date=d(1, 24))

    course = start(patient, iv_standard, d(1, 4), [MON])

    days = local_days(course)
    assert not any(d(1, 18) <= day <= d(1, 24) for day in days)
    assert days[3] == d(1, 25)  # week 3's session, pushed out of the closed week
    assert_gaps_at_least(course, 48)


def test_days_the_clinic_is_shut_are_skipped(clinic, patient, iv_standard):
    # Saturday hours end at 13:00; a 12:00 two-hour session does not fit, so the
    # second session of week 2 never lands on a Saturday.
    course = start(patient, iv_standard, d(1, 4), [MON, THU], time=dt.time(12))

    assert all(day.weekday() < 5 for day in local_days(course))


def test_maintenance_is_extended_by_the_periodic_task_up_to_the_horizon(patient, iv_standard):
    course = start(patient, iv_standard, d(1, 4), [MON, THU])
    assert course.sessions.count() == 8

    added = course_extend_horizon(course=course, now=at(2027, 3, 1))

    assert added == 2
    assert local_days(course)[-2:] == [d(4, 26), d(5, 24)]  # four weeks apart, on Mondays
    course.refresh_from_db()
    assert course.planned_until == d(5, 30)
    assert course_extend_horizon(course=course, now=at(2027, 3, 1)) == 0
    assert course.sessions.count() == 10


def test_the_extension_task_skips_courses_without_an_open_ended_phase(patient):
    protocol = Protocol.objects.get(clinic=None, code="iv-six-in-twelve")
    course = start(patient, protocol, d(1, 4), [MON, WED, FRI])

    assert courses_extend_horizon(now=at(2027, 6, 1)) == 0
    assert course.sessions.count() == 6


def test_sessions_are_booked_into_free_chairs(clinic, iv_standard):
    from ..conftest import make_ready_patient

    first = start(make_ready_patient(clinic, "A"), iv_standard, d(1, 4), [MON, THU])
    second = start(make_ready_patient(clinic, "B"), iv_standard, d(1, 4), [MON, THU])

    pairs = zip(first.sessions.order_by("number"), second.sessions.order_by("number"), strict=True)
    for a, b in pairs:
        assert a.starts_at == b.starts_at and a.chair_id != b.chair_id


def test_no_free_chair_refuses_the_whole_course(clinic, iv_standard):
    from ..conftest import make_ready_patient

    start(make_ready_patient(clinic, "A"), iv_standard, d(1, 4), [MON, THU])
    start(make_ready_patient(clinic, "B"), iv_standard, d(1, 4), [MON, THU])
    third = make_ready_patient(clinic, "C")

    with pytest.raises(ValidationError) as exc:
        start(third, iv_standard, d(1, 4), [MON, THU])

    assert "no chair is free" in exc.value.message_dict["chair"][0]
    assert not Course.objects.filter(patient=third).exists()
    assert not Session.objects.filter(patient=third).exists()


def test_every_planned_session_has_a_booked_status_change(patient, iv_standard):
    course = start(patient, iv_standard, d(1, 4), [MON, THU])

    for session in course.sessions.all():
        (change,) = session.status_changes.all()
        assert (change.from_status, change.to_status) == ("", Session.Status.BOOKED)
