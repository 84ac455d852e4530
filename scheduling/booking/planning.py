"""Turning a protocol into concrete session dates. Pure: no database, no clock.

A course is a sequence of phases; each phase is a run of periods (weeks or months,
counted from the phase's first day), and each period holds a fixed number of sessions.
For each period we pick days in the clinic's local calendar:

1. the patient's preferred weekdays first, in date order;
2. if those are not enough (a closure, or fewer preferred days than sessions), the
   days nearest an unused preferred day, a later day before an earlier one, so a
   closed Thursday moves to Friday rather than Wednesday;
3. every pick must be a day the clinic is open at that time, not a closure, and at
   least the protocol's minimum gap from every other session of the course.

If a period still cannot hold its sessions, the search runs on past its end (a
closed week pushes its session into the next), up to one more period; past that
the plan is refused with a message. Open-ended phases are planned up to `until`.
A phase of one session a month places each 28-35 days after the session before it (the
first maintenance session a month after the last weekly one), not by calendar month.

The gap is measured in local wall-clock time: "not on consecutive days" must not
depend on whether a daylight-saving change fell between two sessions.
"""

import calendar as _calendar
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from clinic.calendar import ClinicCalendar

# "Once a month" is 28-35 days after the session before, on a preferred weekday
# (CLINICAL.md section 11), whatever the calendar month's length.
MONTHLY_GAP_DAYS = (28, 35)


class PlanningError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PhaseSpec:
    key: object  # the ProtocolPhase id, or anything the caller uses to recognise it
    sessions_per_period: int
    period_unit: str  # "week" or "month"
    period_length: int
    periods: int | None  # None = open-ended


@dataclass(frozen=True)
class PlannedSession:
    number: int
    phase_key: object
    period_index: int  # 0-based, within its phase
    local_start: dt.datetime  # naive local wall-clock time
    starts_at: dt.datetime  # UTC
    ends_at: dt.datetime  # UTC


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def _period_bounds(spec: PhaseSpec, phase_start: dt.date, index: int) -> tuple[dt.date, dt.date]:
    """[first, end) local dates of period `index` of a phase starting on phase_start."""
    if spec.period_unit == "week":
        first = phase_start + dt.timedelta(weeks=index * spec.period_length)
        return first, first + dt.timedelta(weeks=spec.period_length)
    first = add_months(phase_start, index * spec.period_length)
    return first, add_months(phase_start, (index + 1) * spec.period_length)


def _days(first: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = first
    while day < end:
        yield day
        day += dt.timedelta(days=1)


def plan_course(
    *,
    phases: Sequence[PhaseSpec],
    start_date: dt.date,
    weekdays: Sequence[int],
    at_time: dt.time,
    session_minutes: int,
    min_gap: dt.timedelta,
    calendar: ClinicCalendar,
    until: dt.date,
) -> list[PlannedSession]:
    """Every session of the course in date order; open-ended phases stop at `until`."""
    if not weekdays:
        raise PlanningError("preferred_weekdays", "Choose at least one weekday.")
    preferred = set(weekdays)
    chosen: list[dt.datetime] = []  # naive local starts of every session so far
    planned: list[PlannedSession] = []
    phase_start = start_date

    def gap_ok(candidate: dt.datetime) -> bool:
        return all(abs(candidate - other) >= min_gap for other in chosen)

    def usable(day: dt.date) -> bool:
        return calendar.fits(day, at_time, session_minutes)

    for spec in phases:
        index = 0
        while spec.periods is None or index < spec.periods:
            first, end = _period_bounds(spec, phase_start, index)
            overflow_end = _period_bounds(spec, phase_start, index + 1)[1]
            if spec.period_unit == "month" and spec.sessions_per_period == 1 and chosen:
                # Once a month: a month after the session before, never the next week.
                last = max(chosen).date()
                lo, hi = (days * spec.period_length for days in MONTHLY_GAP_DAYS)
                first, end = last + dt.timedelta(days=lo), last + dt.timedelta(days=hi + 1)
                overflow_end = end + dt.timedelta(weeks=1)
            if spec.periods is None and first > until:
                break
            picks = _pick_days(
                first=first,
                end=end,
                overflow_end=overflow_end,
                wanted=spec.sessions_per_period,
                preferred=preferred,
                at_time=at_time,
                usable=usable,
                gap_ok=gap_ok,
                chosen=chosen,
            )
            if len(picks) < spec.sessions_per_period:
                raise PlanningError(
                    "start_date",
                    f"Cannot fit {spec.sessions_per_period} session(s) in the period starting "
                    f"{first.isoformat()}: the clinic is shut or the minimum gap cannot be kept. "
                    "Choose other weekdays, another time or another start date.",
                )
            for local in sorted(picks):
                utc = calendar.local_to_utc(local.date(), local.time())
                planned.append(
                    PlannedSession(
                        number=len(planned) + 1,
                        phase_key=spec.key,
                        period_index=index,
                        local_start=local,
                        starts_at=utc,
                        ends_at=utc + dt.timedelta(minutes=session_minutes),
                    )
                )
            index += 1
        if spec.periods is None:
            break  # an open-ended phase is the last one that can run
        phase_start = _period_bounds(spec, phase_start, spec.periods - 1)[1]
    planned.sort(key=lambda p: p.starts_at)
    return [
        PlannedSession(
            number=i,
            phase_key=p.phase_key,
            period_index=p.period_index,
            local_start=p.local_start,
            starts_at=p.starts_at,
            ends_at=p.ends_at,
        )
        for i, p in enumerate(planned, start=1)
    ]


def _pick_days(
    *,
    first: dt.date,
    end: dt.date,
    overflow_end: dt.date,
    wanted: int,
    preferred: set[int],
    at_time: dt.time,
    usable,
    gap_ok,
    chosen: list[dt.datetime],
) -> list[dt.datetime]:
    picks: list[dt.datetime] = []

    def take(day: dt.date) -> bool:
        candidate = dt.datetime.combine(day, at_time)
        if len(picks) < wanted and usable(day) and gap_ok(candidate):
            picks.append(candidate)
            chosen.append(candidate)
            return True
        return False

    window = list(_days(first, end))
    unused_preferred = [d for d in window if d.weekday() in preferred and not take(d)]
    if len(picks) == wanted:
        return picks

    def nearness(day: dt.date) -> tuple[int, int]:
        if not unused_preferred:
            return 0, day.toordinal()  # nothing to be near: plain date order
        distance = min(abs((day - p).days) for p in unused_preferred)
        # later before earlier at the same distance: a closure postpones a session
        return distance, -day.toordinal()

    for day in sorted((d for d in window if d.weekday() not in preferred), key=nearness):
        take(day)
    # The period is full of closures or too short for its sessions: run on past its end.
    for day in _days(end, overflow_end):
        take(day)
    return picks
