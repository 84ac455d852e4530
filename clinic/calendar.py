"""A clinic's calendar as plain data: when it is open, and which days it is closed.

Loaded once (two queries) by `clinic.selectors.clinic_calendar` and then asked many
questions without touching the database, so planning a course is cheap.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

UTC = dt.UTC


@dataclass(frozen=True)
class ClinicCalendar:
    tz: zoneinfo.ZoneInfo
    # weekday (Monday = 0) -> (opens, closes), local wall-clock times
    hours: dict[int, tuple[dt.time, dt.time]]
    # inclusive (first, last) closed days
    closures: tuple[tuple[dt.date, dt.date], ...] = field(default_factory=tuple)

    def is_closed(self, day: dt.date) -> bool:
        return any(first <= day <= last for first, last in self.closures)

    def is_open_on(self, weekday: int) -> bool:
        return weekday in self.hours

    def time_fits_hours(self, weekday: int, at: dt.time, minutes: int) -> bool:
        """Does a session starting at `at` and lasting `minutes` fit that weekday's hours?"""
        if weekday not in self.hours:
            return False
        opens, closes = self.hours[weekday]
        start = dt.datetime.combine(dt.date(2000, 1, 3), at)
        end = start + dt.timedelta(minutes=minutes)
        return opens <= at and end <= dt.datetime.combine(start.date(), closes)

    def local_to_utc(self, day: dt.date, at: dt.time) -> dt.datetime | None:
        """The UTC instant of a local wall-clock time; None if that time does not exist
        on that day (skipped by a daylight-saving change)."""
        local = dt.datetime.combine(day, at, tzinfo=self.tz)
        utc = local.astimezone(UTC)
        if utc.astimezone(self.tz).replace(tzinfo=None) != local.replace(tzinfo=None):
            return None
        return utc

    def fits(self, day: dt.date, at: dt.time, minutes: int) -> bool:
        """Can a session of `minutes` start at local time `at` on `day`?"""
        return (
            not self.is_closed(day)
            and self.time_fits_hours(day.weekday(), at, minutes)
            and self.local_to_utc(day, at) is not None
        )
