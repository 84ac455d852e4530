"""Starting a course from a protocol, and keeping open-ended maintenance written out."""

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import replace

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from clinic.models import Clinic, StaffMembership
from clinic.selectors import clinic_calendar, user_has_role
from patients.models import Patient

from ..models import Course, Protocol, Session, SessionStatusChange, StaffNotice
from ..planning import PlannedSession, PlanningError, plan_course
from ..signals import sessions_changed
from .gates import course_gate_check
from .notices import staff_notice_raise
from .placement import Placement, constraint_to_validation, placement_label, placements_check
from .protocols import protocol_phase_specs
from .sessions import session_transition

logger = logging.getLogger(__name__)
Role = StaffMembership.Role


def _horizon(*, patient: Patient, now: dt.datetime, screened_until: dt.datetime) -> dt.date:
    """How far open-ended sessions are written out: the clinic's horizon, but never past
    the last day the patient's screening is current."""
    clinic = patient.clinic
    horizon = clinic.local_today(now) + dt.timedelta(days=clinic.maintenance_horizon_days)
    last_screened_day = (screened_until - dt.timedelta(microseconds=1)).astimezone(clinic.tz)
    return min(horizon, last_screened_day.date())


def course_start_date_check(*, clinic: Clinic, start_date: dt.date, now: dt.datetime) -> str:
    """What is wrong with a new course's start date, or "": from today (in the clinic's
    calendar) up to the clinic's horizon for starting courses."""
    today = clinic.local_today(now)
    if start_date < today:
        return f"The start date {start_date.isoformat()} is in the past for a new course."
    latest = today + dt.timedelta(days=clinic.course_start_horizon_days)
    if start_date > latest:
        return (
            f"The start date {start_date.isoformat()} is more than "
            f"{clinic.course_start_horizon_days} days ahead (the latest is "
            f"{latest.isoformat()}): check the year."
        )
    return ""


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

    Raises ValidationError naming the field at fault; "screening" when the screening
    gate refuses the patient for this protocol or a session would fall after the
    screening expires.
    """
    planned, _, _ = _course_plan(
        patient=patient, protocol=protocol, start_date=start_date,
        preferred_weekdays=preferred_weekdays, preferred_time=preferred_time,
        now=now or timezone.now(),
    )  # fmt: skip
    return planned


def _course_plan(
    *, patient, protocol, start_date, preferred_weekdays, preferred_time, now
) -> tuple[list[PlannedSession], dt.date, dt.datetime]:
    """course_plan's sessions, the date they are written out to, and when the patient's
    screening expires."""
    clinic = patient.clinic
    errors: dict[str, str] = {}
    if protocol.clinic_id not in (None, clinic.id):
        errors["protocol"] = "This protocol belongs to another clinic."
    elif not protocol.is_active:
        errors["protocol"] = "This protocol is retired; choose an active one."
    start_problem = course_start_date_check(clinic=clinic, start_date=start_date, now=now)
    if start_problem:
        errors["start_date"] = start_problem
    weekdays = list(preferred_weekdays)
    if not weekdays:
        errors["preferred_weekdays"] = "Choose at least one weekday."
    elif any(not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays):
        errors["preferred_weekdays"] = "Weekdays are numbers from 0 (Monday) to 6 (Sunday)."
    elif len(set(weekdays)) != len(weekdays):
        errors["preferred_weekdays"] = "Each weekday may be given once."
    if errors:
        raise ValidationError(errors)

    screened_until = course_gate_check(patient=patient, protocol=protocol, now=now)
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
    until = max(_horizon(patient=patient, now=now, screened_until=screened_until), start_date)
    try:
        planned = plan_course(
            phases=protocol_phase_specs(protocol),
            start_date=start_date,
            weekdays=weekdays,
            at_time=preferred_time,
            session_minutes=protocol.session_minutes,
            min_gap=dt.timedelta(hours=protocol.min_gap_hours),
            calendar=calendar,
            until=until,
        )
    except PlanningError as exc:
        raise ValidationError({exc.field: exc.message}) from exc
    late = [p for p in planned if p.starts_at >= screened_until]
    if late:
        on = late[0].starts_at.astimezone(clinic.tz)
        expires = screened_until.astimezone(clinic.tz)
        raise ValidationError(
            {"screening": f"Session {late[0].number} ({on:%a %d %b %Y}) would be after the "
             f"patient's screening expires ({expires:%a %d %b %Y}): screen the patient again "
             "first."}
        )  # fmt: skip
    return planned, until, screened_until


def _write_sessions(
    *,
    course: Course,
    planned: Sequence[PlannedSession],
    by: AbstractBaseUser | None,
    now: dt.datetime,
    screened_until: dt.datetime,
) -> list[Session]:
    """Book planned sessions into free chairs, or refuse them all."""
    clinic = course.clinic
    placements = [
        Placement(
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            label=placement_label(clinic=clinic, number=p.number, starts_at=p.starts_at),
        )
        for p in planned
    ]
    chair_ids = placements_check(
        course=course, placements=placements, screened_until=screened_until, now=now
    )
    try:
        with transaction.atomic():
            sessions = _insert_sessions(course=course, planned=planned, chair_ids=chair_ids, by=by)
    except IntegrityError as exc:
        raise constraint_to_validation(exc) from exc
    SessionStatusChange.objects.bulk_create(
        SessionStatusChange(
            session=s,
            from_status="",
            to_status=Session.Status.BOOKED,
            changed_by=by,
            changed_at=now,
            note="Planned from the protocol",
        )
        for s in sessions
    )
    sessions_changed.send(sender=Session, sessions=sessions, now=now)
    return sessions


def _insert_sessions(*, course, planned, chair_ids, by=None) -> list[Session]:
    # With history: the audit trail starts at the booking, not at the first change.
    sessions = bulk_create_with_history(
        [
            Session(
                clinic=course.clinic,
                course=course,
                patient=course.patient,
                phase_id=p.phase_key,
                chair_id=chair_id,
                number=p.number,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                status=Session.Status.BOOKED,
            )
            for p, chair_id in zip(planned, chair_ids, strict=True)
        ],
        Session,
        default_user=by,
    )
    if not all(s.pk for s in sessions):  # backends that do not return ids on bulk insert
        sessions = list(
            Session.objects.filter(course=course, number__in=[p.number for p in planned])
        )
    return sorted(sessions, key=lambda s: s.number)


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
    planned, until, screened_until = _course_plan(
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
        # What course_plan wrote out: never before the course's own start.
        planned_until=until if protocol.is_open_ended else None,
        created_by=by,
    )
    _write_sessions(course=course, planned=planned, by=by, now=now, screened_until=screened_until)
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
        Course.objects.select_for_update(of=("self",))
        .select_related("patient__clinic", "protocol")
        .get(pk=course.pk)
    )
    if course.status != Course.Status.ACTIVE or not course.protocol.is_open_ended:
        return 0
    clinic = course.clinic
    try:
        screened_until = course_gate_check(
            patient=course.patient, protocol=course.protocol, now=now
        )
    except ValidationError as exc:
        staff_notice_raise(
            clinic_id=clinic.id, kind=StaffNotice.Kind.SCREENING_DUE, course_id=course.pk,
            dedupe_key=f"course_gate:{course.pk}:{clinic.local_today(now)}",
            message=f"Course {course.pk}: no more maintenance sessions are booked until "
            f"this is put right: {' '.join(exc.messages)}",
            due_on=clinic.local_today(now), now=now,
        )  # fmt: skip
        return 0
    until = _horizon(patient=course.patient, now=now, screened_until=screened_until)
    if until < clinic.local_today(now) + dt.timedelta(days=clinic.maintenance_horizon_days):
        expires = screened_until.astimezone(clinic.tz).date()
        staff_notice_raise(
            clinic_id=clinic.id, kind=StaffNotice.Kind.SCREENING_DUE, course_id=course.pk,
            dedupe_key=f"screening_due:{course.pk}:{expires}",
            message=f"Course {course.pk}: maintenance is booked only up to {until:%a %d %b %Y}, "
            f"as the patient's screening expires on {expires:%a %d %b %Y}. Screen the "
            "patient again to book beyond it.",
            due_on=expires, now=now,
        )  # fmt: skip
    if course.planned_until and course.planned_until >= until:
        return 0
    existing = list(course.sessions.order_by("-number")[:1])
    last_number = existing[0].number if existing else 0
    last_start = existing[0].starts_at if existing else None
    protocol = course.protocol
    try:
        if course.maintenance_every_weeks:  # continues after the last held session
            planned = _maintenance_continued(course=course, last_number=last_number, until=until)
            last_start = None
        else:
            planned = plan_course(
                phases=protocol_phase_specs(protocol),
                start_date=course.start_date,
                weekdays=course.preferred_weekdays,
                at_time=course.preferred_time,
                session_minutes=protocol.session_minutes,
                min_gap=dt.timedelta(hours=protocol.min_gap_hours),
                calendar=clinic_calendar(clinic=course.clinic, start=course.start_date),
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
        and p.starts_at < screened_until
    ]
    try:
        with transaction.atomic():
            _write_sessions(
                course=course, planned=new, by=None, now=now, screened_until=screened_until
            )
    except ValidationError:
        logger.warning("course %s could not be extended: chair or patient clash", course.id)
        return 0
    course.planned_until = until
    course.save(update_fields=["planned_until"])
    return len(new)


def _maintenance_continued(*, course: Course, last_number: int, until: dt.date):
    """A course's maintenance after a clinician set its interval: one session every
    `maintenance_every_weeks` weeks from the last session held or booked, numbered on."""
    spec = next(s for s in protocol_phase_specs(course.protocol) if s.periods is None)
    every = course.maintenance_every_weeks
    last = course.sessions.filter(status__in=Session.HOLDING).order_by("-starts_at").first()
    last_day = last.starts_at.astimezone(course.clinic.tz).date() if last else course.start_date
    # The window of each period opens 3 days before the interval is up, so the preferred
    # weekday nearest it is taken (a Tuesday after a Friday, not the Friday a week on).
    start = last_day + dt.timedelta(days=7 * every - 3)
    planned = plan_course(
        phases=[replace(spec, period_length=every)],
        start_date=start,
        weekdays=course.preferred_weekdays,
        at_time=course.preferred_time,
        session_minutes=course.protocol.session_minutes,
        min_gap=dt.timedelta(hours=course.protocol.min_gap_hours),
        calendar=clinic_calendar(clinic=course.clinic, start=start),
        until=until,
    )
    return [replace(p, number=last_number + p.number) for p in planned]


MAINTENANCE_WEEKS = (1, 2)  # the esketamine label's maintenance: weekly or every 2 weeks


@transaction.atomic
def course_maintenance_frequency_set(
    *,
    course: Course,
    every_weeks: int,
    by: AbstractBaseUser,
    reason: str,
    now: dt.datetime | None = None,
) -> list[Session]:
    """A clinician switches a course's maintenance to every `every_weeks` weeks (the
    esketamine label: weekly or every two weeks). Booked maintenance sessions to come are
    cancelled with the reason and written out anew; returns the new sessions."""
    now = now or timezone.now()
    course = Course.objects.select_for_update(of=("self",)).select_related(
        "clinic", "protocol"
    ).get(pk=course.pk)  # fmt: skip
    if by is None or not user_has_role(user=by, clinic=course.clinic, roles=[Role.CLINICIAN]):
        raise PermissionDenied("Only a clinician of the clinic sets the maintenance interval.")
    phase = course.protocol.phases.filter(periods__isnull=True).first()
    if phase is None or phase.period_unit != "week":
        raise ValidationError({"course": "This course has no weekly maintenance to change."})
    if course.status != Course.Status.ACTIVE:
        raise ValidationError({"course": "This course is not active."})
    if every_weeks not in MAINTENANCE_WEEKS:
        raise ValidationError({"every_weeks": "Maintenance is weekly (1) or every two weeks (2)."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the interval changes."})
    note = f"Maintenance now every {every_weeks} week(s): {reason.strip()}"
    to_come = course.sessions.filter(
        phase=phase, status=Session.Status.BOOKED, starts_at__gt=now
    ).order_by("starts_at")
    cancelled = [
        session_transition(session=s, to=Session.Status.CANCELLED, by=by, note=note, now=now)
        for s in to_come
    ]
    sessions_changed.send(sender=Session, sessions=cancelled, now=now)
    course.maintenance_every_weeks, course.planned_until = every_weeks, None
    course._history_user, course._change_reason = by, note
    course.save(update_fields=["maintenance_every_weeks", "planned_until"])
    before = set(course.sessions.values_list("id", flat=True))
    course_extend_horizon(course=course, now=now)
    logger.info("course %s: maintenance every %s weeks, by user %s", course.pk, every_weeks, by.pk)
    return list(course.sessions.exclude(id__in=before).order_by("starts_at"))


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
