"""Where a session may sit: the one rule used by course start, booking and moving.

A placement is refused, naming the session, when it is in the past, outside opening
hours or on a closure, closer than the protocol's minimum gap to another session of
its course, at the same time as another of the patient's sessions, or in a chair that
is taken or not the clinic's. A few queries whatever the number of placements.

Placements at a clinic take turns: each first locks the clinic's active chairs (every
writer in the same order, name then id, so none deadlocks) until its transaction ends,
and only then reads sessions, so it sees those of the placements before it. Of many
bookings at once for one time, each takes a free chair; one is refused only when no
chair is free. SQLite has no row locks; there every transaction takes the write lock
before it reads. The database still has the last word on the chair and the patient
(exclusion constraints on PostgreSQL); this gives the clear message.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Q

from clinic.models import Clinic
from clinic.selectors import chairs_active, clinic_calendar

from ..models import Course, Session


@dataclass(frozen=True)
class Placement:
    starts_at: dt.datetime  # UTC
    ends_at: dt.datetime  # UTC
    chair_id: int | None = None  # this chair and no other
    prefer_chair_id: int | None = None  # this chair if free, any free one otherwise
    label: str = "The session"


def placement_label(*, clinic: Clinic, number: int | None, starts_at: dt.datetime) -> str:
    local = starts_at.astimezone(clinic.tz)
    what = f"Session {number}" if number else "The session"
    return f"{what} ({local:%a %d %b %Y %H:%M})"


def constraint_to_validation(exc: IntegrityError) -> ValidationError:
    """The database's overlap constraints, as the same clear errors as the checks above.
    Not reached while every writer of sessions places them through `placements_check`."""
    text = str(exc)
    if "session_chair_no_overlap" in text:
        return ValidationError({"chair": "That chair was booked by someone else just now."})
    if "session_patient_no_overlap" in text:
        return ValidationError({"starts_at": "The patient was booked at that time just now."})
    raise exc


def _overlaps(a_start, a_end, b_start, b_end) -> bool:
    return a_start < b_end and b_start < a_end


def placements_check(
    *,
    course: Course,
    placements: Sequence[Placement],
    moving_ids: Sequence[int] = (),
    screened_until: dt.datetime | None = None,
    now: dt.datetime,
) -> list[int]:
    """Check every placement; return the chair id chosen for each, in order.

    `moving_ids` are sessions being replaced by these placements: they neither block
    the new times nor count for the minimum gap. `screened_until`: when the patient's
    screening stops being current (the screening gate's answer); no session after it.
    """
    if not placements:
        return []
    clinic = course.clinic
    # First, before reading any session: the lock that makes placements take turns.
    chairs = dict(
        chairs_active(clinic=clinic).select_for_update(no_key=True).values_list("id", "name")
    )
    tz = clinic.tz
    protocol = course.protocol
    gap = dt.timedelta(hours=protocol.min_gap_hours)
    errors: dict[str, list[str]] = {}

    def refuse(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    first = min(p.starts_at for p in placements)
    last = max(p.ends_at for p in placements)
    calendar = clinic_calendar(clinic=clinic, start=first.astimezone(tz).date())
    for p in placements:
        local = p.starts_at.astimezone(tz)
        minutes = int((p.ends_at - p.starts_at).total_seconds() // 60)
        if p.starts_at < now:
            refuse("starts_at", f"{p.label} would be in the past.")
        elif screened_until is not None and p.starts_at >= screened_until:
            expires = screened_until.astimezone(tz)
            refuse(
                "screening",
                f"{p.label} would be after the patient's screening expires "
                f"({expires:%a %d %b %Y %H:%M}): screen the patient again first.",
            )
        elif calendar.is_closed(local.date()):
            refuse("starts_at", f"{p.label} falls on a day the clinic is closed.")
        elif not calendar.fits(local.date(), local.time(), minutes):
            refuse("starts_at", f"{p.label} is outside the clinic's opening hours.")

    # Minimum gap to the course's other sessions, in local wall-clock time.
    others = [
        s.astimezone(tz).replace(tzinfo=None)
        for s in Session.objects.filter(course=course, status__in=Session.HOLDING)
        .exclude(id__in=moving_ids)
        .values_list("starts_at", flat=True)
    ]
    local_new = [p.starts_at.astimezone(tz).replace(tzinfo=None) for p in placements]
    for i, (p, local) in enumerate(zip(placements, local_new, strict=True)):
        near = [o for o in others + local_new[:i] if abs(local - o) < gap]
        if near:
            refuse(
                "starts_at",
                f"{p.label} is less than {protocol.min_gap_hours} hours from another session "
                f"of the course ({min(near, key=lambda o: abs(local - o)):%a %d %b %H:%M}).",
            )

    busy = list(
        Session.objects.filter(
            Q(clinic=clinic) | Q(patient_id=course.patient_id),
            status__in=Session.HOLDING,
            starts_at__lt=last,
            ends_at__gt=first,
        )
        .exclude(id__in=moving_ids)
        .values_list("chair_id", "patient_id", "starts_at", "ends_at")
    )
    if not chairs:
        refuse("chair", f"{clinic.name} has no active chairs.")
    chosen: list[int] = []
    for p in placements:
        if any(
            patient_id == course.patient_id and _overlaps(p.starts_at, p.ends_at, s, e)
            for _, patient_id, s, e in busy
        ):
            refuse("starts_at", f"{p.label}: the patient has another session at that time.")
        taken = {
            chair_id
            for chair_id, _, s, e in busy
            if chair_id is not None and _overlaps(p.starts_at, p.ends_at, s, e)
        }
        if p.chair_id is not None:
            candidates = [p.chair_id]
        else:
            candidates = sorted(chairs, key=lambda c: c != p.prefer_chair_id)
        if p.chair_id is not None and p.chair_id not in chairs:
            refuse("chair", f"{p.label}: that chair is not an active chair of {clinic.name}.")
            chosen.append(p.chair_id)
            continue
        free = next((c for c in candidates if c not in taken), None)
        if free is None:
            if p.chair_id is not None:
                refuse("chair", f"{p.label}: {chairs[p.chair_id]} is booked at that time.")
            else:
                refuse("chair", f"{p.label}: no chair is free at that time.")
            chosen.append(p.chair_id)
            continue
        chosen.append(free)
        busy.append((free, course.patient_id, p.starts_at, p.ends_at))
    if errors:
        raise ValidationError(errors)
    return chosen
