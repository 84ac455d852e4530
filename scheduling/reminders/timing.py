"""When a reminder goes: lead time, quiet hours and daylight saving. Pure, no database.

Lead times are counted in the patient's local wall-clock time, like the sessions
themselves: the reminder "48 hours before" a Monday 10:00 session goes on Saturday at
10:00 local time, even when the clocks change on the Sunday in between (47 or 49 real
hours). Quiet hours are in the patient's own time zone; a reminder that falls in them
goes when they end, unless that is later than its latest useful moment.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass

UTC = dt.UTC


@dataclass(frozen=True)
class QuietHours:
    start: dt.time
    end: dt.time

    def contains(self, t: dt.time) -> bool:
        if self.start == self.end:
            return False  # no quiet hours at all
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # across midnight, e.g. 21:00-08:00

    def end_after(self, local: dt.datetime) -> dt.datetime:
        """The local wall-clock moment these quiet hours end, for a time inside them."""
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += dt.timedelta(days=1)  # evening part: they end tomorrow morning
        return dt.datetime.combine(day, self.end)


@dataclass(frozen=True)
class Timing:
    due_at: dt.datetime  # UTC
    send_by: dt.datetime  # UTC
    skip_reason: str  # "" when the reminder should be sent


PAST_WHEN_PLANNED = "past_when_planned"
QUIET_HOURS_TOO_LATE = "quiet_hours_too_late"
TOO_LATE = "too_late"


def wall_clock_to_utc(local: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """A naive local wall-clock time as a UTC instant.

    A time in the spring-forward gap (01:30 in London on the last Sunday of March) is
    read with the offset before the change, which lands just after the gap; an
    ambiguous autumn time is its first occurrence.
    """
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def reminder_timing(
    *,
    session_starts_at: dt.datetime,
    lead: dt.timedelta,
    latest: dt.timedelta,
    tz: zoneinfo.ZoneInfo,
    quiet: QuietHours | None,
    now: dt.datetime,
    catch_up: bool = False,
) -> Timing:
    """When to send a reminder `lead` before a session, and whether to skip it.

    Planned at booking, a time already past is skipped. Re-timed later (`catch_up`: the
    patient changed their time zone or quiet hours), a reminder whose time has passed
    goes now, quiet hours allowing, if it can still be useful.
    """
    local_start = session_starts_at.astimezone(tz).replace(tzinfo=None)
    due = wall_clock_to_utc(local_start - lead, tz)
    send_by = session_starts_at - latest
    if due < now:
        if not catch_up:
            return Timing(due, send_by, PAST_WHEN_PLANNED)
        due = now
    local_due = due.astimezone(tz)
    quieted = quiet is not None and quiet.contains(local_due.time())
    if quieted:
        due = wall_clock_to_utc(quiet.end_after(local_due.replace(tzinfo=None)), tz)
    if due > send_by:
        return Timing(due, send_by, QUIET_HOURS_TOO_LATE if quieted else TOO_LATE)
    return Timing(due, send_by, "")
