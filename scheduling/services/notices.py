"""Staff notices: something the front desk or a nurse must act on, one per fact.

Booking's own facts are swept here (no-shows to follow up, maintenance to book); the
chart and the reminders raise theirs through `staff_notice_raise` and
`staff_notices_raise`."""

import datetime as dt
import logging
from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from ..models import StaffNotice
from ..selectors import courses_maintenance_to_book, sessions_no_show_to_follow_up

logger = logging.getLogger(__name__)


def staff_notice_raise(
    *, clinic_id: int, kind: str, dedupe_key: str, message: str, now, **links
) -> bool:
    _, created = StaffNotice.objects.get_or_create(
        dedupe_key=dedupe_key,
        defaults=dict(clinic_id=clinic_id, kind=kind, message=message, created_at=now, **links),
    )
    return created


def staff_notices_raise(due: list[dict], *, now: dt.datetime) -> int:
    """Raise each of the `due` notices (staff_notice_raise's keywords) not raised before.
    The facts already noticed are found in one query per thousand, so a sweep that finds
    nothing new writes nothing (at a network's size the facts run to tens of thousands)."""
    keys = [n["dedupe_key"] for n in due]
    noticed = set()
    for i in range(0, len(keys), 1000):
        chunk = StaffNotice.objects.filter(dedupe_key__in=keys[i : i + 1000])
        noticed.update(chunk.values_list("dedupe_key", flat=True))
    created = sum(staff_notice_raise(**n, now=now) for n in due if n["dedupe_key"] not in noticed)
    if created:
        logger.info("raised %s staff notices", created)
    return created


def staff_notices_raise_due(*, now: dt.datetime | None = None) -> int:
    """The periodic check of booking's facts: a notice for each no-show to follow up and
    each open-ended course whose maintenance needs booking, once per fact however often
    this runs."""
    now = now or timezone.now()
    due: list[dict] = []
    for session in sessions_no_show_to_follow_up(now=now):
        local = session.starts_at.astimezone(session.clinic.tz)
        due.append(dict(
            clinic_id=session.clinic_id,
            kind=StaffNotice.Kind.NO_SHOW,
            dedupe_key=f"no_show:{session.pk}",
            message=f"Session {session.number} of course {session.course_id} on "
            f"{local:%a %d %b %Y %H:%M} was a no-show. Call the patient and rebook.",
            session_id=session.pk,
            course_id=session.course_id,
        ))  # fmt: skip
    for course, last in courses_maintenance_to_book(now=now):
        local = last.astimezone(course.clinic.tz) if last else None
        when = f"{local:%a %d %b %Y}" if local else "none"
        due.append(dict(
            clinic_id=course.clinic_id,
            kind=StaffNotice.Kind.MAINTENANCE_DUE,
            dedupe_key=f"maintenance_due:{course.pk}:{local.date() if local else 'none'}",
            message=f"Course {course.pk} needs its next maintenance sessions booked (last "
            f"booked session: {when}).",
            course_id=course.pk,
            due_on=local.date() if local else now.date(),
        ))  # fmt: skip
    return staff_notices_raise(due, now=now)


def staff_notice_resolve(
    *, notices: Iterable[StaffNotice], by: AbstractBaseUser | None, now: dt.datetime
) -> int:
    ids = [n.pk for n in notices]
    return StaffNotice.objects.filter(pk__in=ids, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=by
    )
