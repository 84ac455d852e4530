"""Reads for scheduling."""

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from clinic.models import Clinic
from clinic.selectors import chairs_active, clinic_calendar

from .models import Course, Session, StaffNotice


def clinics_for_user(*, user: AbstractBaseUser) -> QuerySet[Clinic]:
    if user.is_superuser:
        return Clinic.objects.all()
    return Clinic.objects.filter(memberships__user=user).distinct()


def sessions_upcoming(*, clinics, now: dt.datetime, limit: int = 50) -> QuerySet[Session]:
    """The next sessions at these clinics, with what a list shows, in two queries or so."""
    return (
        Session.objects.filter(clinic__in=clinics, ends_at__gte=now)
        .exclude(status=Session.Status.CANCELLED)
        .select_related("patient", "chair", "course__protocol", "phase", "clinic")
        .order_by("starts_at")[:limit]
    )


def sessions_for_patient(*, patient, now: dt.datetime) -> QuerySet[Session]:
    return (
        Session.objects.filter(patient=patient, ends_at__gte=now)
        .exclude(status=Session.Status.CANCELLED)
        # The policy too: its sender name is the clinic's name as patients see it.
        .select_related("clinic__reminder_policy", "course__protocol")
        .order_by("starts_at")
    )


@dataclass(frozen=True)
class Slot:
    chair_id: int
    chair_name: str
    starts_at: dt.datetime  # UTC
    ends_at: dt.datetime  # UTC
    local_start: dt.datetime  # in the clinic's time zone


def slots_free(
    *,
    course: Course,
    start: dt.date,
    days: int = 14,
    now: dt.datetime,
    limit: int = 20,
    step_minutes: int = 15,
    exclude_session_id: int | None = None,
) -> list[Slot]:
    """The next free (chair, start) pairs for one more session of `course`.

    From local day `start` for `days` days, every `step_minutes` within opening hours,
    skipping closures, the past, times closer than the protocol's minimum gap to the
    course's other sessions, times the patient is elsewhere, and taken chairs.
    Five queries whatever the window, then plain arithmetic: cheap enough to run on
    every keystroke of a booking form. Same rules as `services.placements_check`.
    """
    clinic, protocol = course.clinic, course.protocol
    tz = clinic.tz
    duration = dt.timedelta(minutes=protocol.session_minutes)
    gap = dt.timedelta(hours=protocol.min_gap_hours)
    step = dt.timedelta(minutes=step_minutes)
    calendar = clinic_calendar(clinic=clinic, start=start)
    chairs = list(chairs_active(clinic=clinic).values_list("id", "name"))
    window_start = dt.datetime.combine(start, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    window_end = dt.datetime.combine(
        start + dt.timedelta(days=days), dt.time(), tzinfo=tz
    ).astimezone(dt.UTC)

    holding = Session.objects.filter(status__in=Session.HOLDING).exclude(id=exclude_session_id)
    busy_by_day: dict[dt.date, list[tuple[int | None, int, dt.datetime, dt.datetime]]] = {}
    for chair_id, patient_id, s, e in holding.filter(
        Q(clinic=clinic) | Q(patient_id=course.patient_id),
        starts_at__lt=window_end,
        ends_at__gt=window_start,
    ).values_list("chair_id", "patient_id", "starts_at", "ends_at"):
        busy_by_day.setdefault(s.astimezone(tz).date(), []).append((chair_id, patient_id, s, e))
    course_starts = [
        s.astimezone(tz).replace(tzinfo=None)
        for s in holding.filter(
            course=course, starts_at__gte=window_start - gap, starts_at__lt=window_end + gap
        ).values_list("starts_at", flat=True)
    ]

    slots: list[Slot] = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        if calendar.is_closed(day) or not calendar.is_open_on(day.weekday()):
            continue
        opens, closes = calendar.hours[day.weekday()]
        busy = busy_by_day.get(day, [])
        local = dt.datetime.combine(day, opens)
        while local + duration <= dt.datetime.combine(day, closes):
            candidate, local = local, local + step
            starts_at = calendar.local_to_utc(day, candidate.time())
            if starts_at is None or starts_at < now:
                continue
            if any(abs(candidate - other) < gap for other in course_starts):
                continue
            ends_at = starts_at + duration
            clashing = [(c, p) for c, p, s, e in busy if s < ends_at and starts_at < e]
            if any(p == course.patient_id for _, p in clashing):
                continue
            taken = {c for c, _ in clashing}
            for chair_id, name in chairs:
                if chair_id not in taken:
                    slots.append(Slot(chair_id, name, starts_at, ends_at, starts_at.astimezone(tz)))
                    if len(slots) >= limit:
                        return slots
    return slots


# --- Reminders -----------------------------------------------------------------------------


def staff_notices_open(*, clinics) -> QuerySet[StaffNotice]:
    return StaffNotice.objects.filter(clinic__in=clinics, resolved_at__isnull=True).order_by(
        "-created_at"
    )


def sessions_no_show_to_follow_up(*, now: dt.datetime, days: int = 14) -> QuerySet[Session]:
    """No-shows of the last `days` days: the front desk calls and rebooks."""
    return Session.objects.filter(
        status=Session.Status.NO_SHOW,
        starts_at__gte=now - dt.timedelta(days=days),
        starts_at__lte=now,
    ).select_related("clinic")
