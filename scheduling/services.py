"""Writes for scheduling: protocols, starting and extending courses, session status.

Every function here is the one place its rule lives; the admin, the API, the pages
and the Celery tasks all call these.
"""

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.selectors import chairs_active, clinic_calendar
from patients.models import Patient

from .models import Course, Protocol, ProtocolPhase, Session, SessionStatusChange
from .planning import PhaseSpec, PlannedSession, PlanningError, plan_course

logger = logging.getLogger(__name__)


# --- Protocols -----------------------------------------------------------------------


@transaction.atomic
def protocol_create(*, phases: Sequence[dict[str, Any]], **fields: Any) -> Protocol:
    """Create a protocol and its ordered phases; all valid, or nothing is written.

    `fields` are Protocol fields (clinic, code, name, drug, route, session_minutes, ...);
    each phase is a dict of ProtocolPhase fields, in order.
    """
    if not phases:
        raise ValidationError({"phases": "A protocol needs at least one phase."})
    protocol = Protocol(**fields)
    protocol.full_clean()
    protocol.save()
    protocol_phases_replace(protocol=protocol, phases=phases)
    return protocol


def protocol_phases_replace(*, protocol: Protocol, phases: Sequence[dict[str, Any]]) -> None:
    objs = []
    errors: dict[str, list[str]] = {}
    for order, data in enumerate(phases, start=1):
        phase = ProtocolPhase(protocol=protocol, order=order, **data)
        try:
            phase.full_clean(exclude=["protocol"], validate_unique=False)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(f"phases[{order - 1}].{field}", []).extend(messages)
        objs.append(phase)
    open_ended = [i for i, p in enumerate(objs) if p.periods is None]
    if open_ended and open_ended[0] != len(objs) - 1:
        errors.setdefault(f"phases[{open_ended[0]}].periods", []).append(
            "Only the last phase can be open-ended."
        )
    if errors:
        raise ValidationError(errors)
    protocol.phases.all().delete()
    ProtocolPhase.objects.bulk_create(objs)


def protocol_validate_phases(phases: Iterable[ProtocolPhase]) -> None:
    """Phases in their order: only the last may be open-ended."""
    phases = list(phases)
    for phase in phases[:-1]:
        if phase.periods is None:
            raise ValidationError(
                {"periods": f"Only the last phase can be open-ended ({phase.name} is not last)."}
            )


def _phase_specs(protocol: Protocol) -> list[PhaseSpec]:
    phases = list(protocol.phases.order_by("order"))
    if not phases:
        raise ValidationError({"protocol": f"Protocol {protocol.name} has no phases."})
    protocol_validate_phases(phases)
    return [
        PhaseSpec(
            key=p.id,
            sessions_per_period=p.sessions_per_period,
            period_unit=p.period_unit,
            period_length=p.period_length,
            periods=p.periods,
        )
        for p in phases
    ]


# --- Courses -------------------------------------------------------------------------


def _horizon(*, patient: Patient, now: dt.datetime) -> dt.date:
    clinic = patient.clinic
    return clinic.local_today(now) + dt.timedelta(days=clinic.maintenance_horizon_days)


def course_plan(
    *,
    patient: Patient,
    protocol: Protocol,
    start_date: dt.date,
    preferred_weekdays: Sequence[int],
    preferred_time: dt.time,
    now: dt.datetime | None = None,
) -> list[PlannedSession]:
    """The sessions a new course would have, without writing anything.

    Raises ValidationError naming the field at fault.
    """
    now = now or timezone.now()
    clinic = patient.clinic
    errors: dict[str, str] = {}
    if protocol.clinic_id not in (None, clinic.id):
        errors["protocol"] = "This protocol belongs to another clinic."
    elif not protocol.is_active:
        errors["protocol"] = "This protocol is retired; choose an active one."
    if start_date < clinic.local_today(now):
        errors["start_date"] = (
            f"The start date {start_date.isoformat()} is in the past for a new course."
        )
    weekdays = list(preferred_weekdays)
    if not weekdays:
        errors["preferred_weekdays"] = "Choose at least one weekday."
    elif any(not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays):
        errors["preferred_weekdays"] = "Weekdays are numbers from 0 (Monday) to 6 (Sunday)."
    elif len(set(weekdays)) != len(weekdays):
        errors["preferred_weekdays"] = "Each weekday may be given once."
    if errors:
        raise ValidationError(errors)

    calendar = clinic_calendar(clinic=clinic, start=start_date)
    shut = [d for d in weekdays if not calendar.is_open_on(d)]
    if shut:
        names = ", ".join(dt.date(2024, 1, 1 + d).strftime("%A") for d in sorted(shut))
        raise ValidationError({"preferred_weekdays": f"The clinic is shut on {names}."})
    if not any(
        calendar.time_fits_hours(d, preferred_time, protocol.session_minutes) for d in weekdays
    ):
        raise ValidationError(
            {
                "preferred_time": (
                    f"{preferred_time:%H:%M} plus a {protocol.session_minutes}-minute session "
                    "is outside the clinic's opening hours on the chosen weekdays."
                )
            }
        )
    try:
        return plan_course(
            phases=_phase_specs(protocol),
            start_date=start_date,
            weekdays=weekdays,
            at_time=preferred_time,
            session_minutes=protocol.session_minutes,
            min_gap=dt.timedelta(hours=protocol.min_gap_hours),
            calendar=calendar,
            until=max(_horizon(patient=patient, now=now), start_date),
        )
    except PlanningError as exc:
        raise ValidationError({exc.field: exc.message}) from exc


def _free_chair_id(*, clinic_id: int, starts_at: dt.datetime, ends_at: dt.datetime, chair_ids):
    busy = set(
        Session.objects.filter(
            chair_id__in=chair_ids,
            status__in=Session.HOLDING,
            starts_at__lt=ends_at,
            ends_at__gt=starts_at,
        ).values_list("chair_id", flat=True)
    )
    return next((c for c in chair_ids if c not in busy), None)


def _write_sessions(
    *, course: Course, planned: Sequence[PlannedSession], by: AbstractBaseUser | None
) -> list[Session]:
    clinic = course.clinic
    chair_ids = list(chairs_active(clinic=clinic).values_list("id", flat=True))
    if not chair_ids:
        raise ValidationError({"chair": f"{clinic.name} has no active chairs."})
    sessions = []
    for p in planned:
        clash = Session.objects.filter(
            patient=course.patient,
            status__in=Session.HOLDING,
            starts_at__lt=p.ends_at,
            ends_at__gt=p.starts_at,
        ).exists()
        if clash:
            raise ValidationError(
                {"preferred_time": f"The patient has a session at {p.local_start:%Y-%m-%d %H:%M}."}
            )
        chair_id = _free_chair_id(
            clinic_id=clinic.id, starts_at=p.starts_at, ends_at=p.ends_at, chair_ids=chair_ids
        )
        if chair_id is None:
            raise ValidationError(
                {"preferred_time": f"No chair is free on {p.local_start:%Y-%m-%d at %H:%M}."}
            )
        sessions.append(
            Session(
                clinic=clinic,
                course=course,
                patient=course.patient,
                phase_id=p.phase_key,
                chair_id=chair_id,
                number=p.number,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                status=Session.Status.BOOKED,
            )
        )
    Session.objects.bulk_create(sessions)
    now = timezone.now()
    saved = list(
        Session.objects.filter(course=course, number__in=[p.number for p in planned]).order_by(
            "number"
        )
    )
    SessionStatusChange.objects.bulk_create(
        SessionStatusChange(
            session=s,
            from_status="",
            to_status=Session.Status.BOOKED,
            changed_by=by,
            changed_at=now,
            note="Planned from the protocol",
        )
        for s in saved
    )
    return saved


@transaction.atomic
def course_start(
    *,
    patient: Patient,
    protocol: Protocol,
    start_date: dt.date,
    preferred_weekdays: Sequence[int],
    preferred_time: dt.time,
    by: AbstractBaseUser | None,
    now: dt.datetime | None = None,
) -> Course:
    """Start a course: plan every session from the protocol and book each in a free chair.

    All or nothing: any invalid input or clash raises ValidationError and writes nothing.
    """
    now = now or timezone.now()
    planned = course_plan(
        patient=patient,
        protocol=protocol,
        start_date=start_date,
        preferred_weekdays=preferred_weekdays,
        preferred_time=preferred_time,
        now=now,
    )
    course = Course.objects.create(
        clinic=patient.clinic,
        patient=patient,
        protocol=protocol,
        start_date=start_date,
        preferred_weekdays=list(preferred_weekdays),
        preferred_time=preferred_time,
        planned_until=_horizon(patient=patient, now=now) if protocol.is_open_ended else None,
        created_by=by,
    )
    _write_sessions(course=course, planned=planned, by=by)
    logger.info("course %s started with %s sessions", course.id, len(planned))
    return course


@transaction.atomic
def course_extend_horizon(*, course: Course, now: dt.datetime | None = None) -> int:
    """Write out an open-ended course's maintenance sessions up to the clinic's horizon.

    Re-plans from the course's own start, weekdays and time, and adds only the sessions
    numbered after the last one that exists, so edits to earlier sessions are kept.
    Returns how many sessions were added.
    """
    now = now or timezone.now()
    course = (
        Course.objects.select_for_update()
        .select_related("patient__clinic", "protocol")
        .get(pk=course.pk)
    )
    if course.status != Course.Status.ACTIVE or not course.protocol.is_open_ended:
        return 0
    until = _horizon(patient=course.patient, now=now)
    if course.planned_until and course.planned_until >= until:
        return 0
    existing = list(course.sessions.order_by("-number")[:1])
    last_number = existing[0].number if existing else 0
    last_start = existing[0].starts_at if existing else None
    calendar = clinic_calendar(clinic=course.clinic, start=course.start_date)
    protocol = course.protocol
    try:
        planned = plan_course(
            phases=_phase_specs(protocol),
            start_date=course.start_date,
            weekdays=course.preferred_weekdays,
            at_time=course.preferred_time,
            session_minutes=protocol.session_minutes,
            min_gap=dt.timedelta(hours=protocol.min_gap_hours),
            calendar=calendar,
            until=until,
        )
    except PlanningError:
        logger.warning("course %s could not be extended: no plan fits", course.id)
        return 0
    gap = dt.timedelta(hours=protocol.min_gap_hours)
    new = [
        p
        for p in planned
        if p.number > last_number
        and p.starts_at >= now
        and (last_start is None or p.starts_at - last_start >= gap)
    ]
    try:
        with transaction.atomic():
            _write_sessions(course=course, planned=new, by=None)
    except ValidationError:
        logger.warning("course %s could not be extended: chair or patient clash", course.id)
        return 0
    course.planned_until = until
    course.save(update_fields=["planned_until"])
    return len(new)


def courses_extend_horizon(*, now: dt.datetime | None = None) -> int:
    """Extend every active open-ended course; returns sessions added in all."""
    now = now or timezone.now()
    added = 0
    ids = (
        Course.objects.filter(status=Course.Status.ACTIVE, protocol__phases__periods__isnull=True)
        .values_list("id", flat=True)
        .distinct()
    )
    for course_id in ids:
        added += course_extend_horizon(course=Course(pk=course_id), now=now)
    return added


# --- Session status ------------------------------------------------------------------

# Allowed moves. FHIR: booked -> arrived -> in-progress -> finished; cancelled; noshow.
TRANSITIONS: dict[str, set[str]] = {
    Session.Status.BOOKED: {
        Session.Status.CHECKED_IN,
        Session.Status.CANCELLED,
        Session.Status.NO_SHOW,
    },
    Session.Status.CHECKED_IN: {Session.Status.IN_PROGRESS, Session.Status.CANCELLED},
    Session.Status.IN_PROGRESS: {Session.Status.MONITORING},
    Session.Status.MONITORING: {Session.Status.DISCHARGED},
    Session.Status.DISCHARGED: set(),
    Session.Status.CANCELLED: set(),
    Session.Status.NO_SHOW: set(),
}


@transaction.atomic
def session_transition(
    *,
    session: Session,
    to: str,
    by: AbstractBaseUser | None,
    note: str = "",
    now: dt.datetime | None = None,
) -> Session:
    """Move a session to another status, if that move is allowed, and record it."""
    now = now or timezone.now()
    session = Session.objects.select_for_update().get(pk=session.pk)
    current = session.status
    if to not in Session.Status.values:
        raise ValidationError({"status": f"Unknown session status {to!r}."})
    if to not in TRANSITIONS.get(current, set()):
        raise ValidationError(
            {
                "status": (
                    f"A session that is {Session.Status(current).label.lower()} cannot become "
                    f"{Session.Status(to).label.lower()}."
                )
            }
        )
    session.status = to
    session.save(update_fields=["status"])
    SessionStatusChange.objects.create(
        session=session, from_status=current, to_status=to, changed_by=by, changed_at=now, note=note
    )
    return session
