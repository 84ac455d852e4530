"""One session's life: booking, moving, cancelling, no-show, restoring, status moves.

Edits come in three scopes, as in any calendar: this session only, this and the
following sessions of the course, or the whole course. Only booked sessions move or
cancel in bulk; a session that has started or ended is history and stays as it is.
"""

import datetime as dt
import logging

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, TextChoices
from django.utils import timezone

from clinic.models import Chair, StaffMembership
from clinic.selectors import user_has_role

from ..models import Course, Session, SessionStatusChange
from ..signals import session_status_changing, sessions_changed
from .gates import course_gate_check
from .placement import Placement, constraint_to_validation, placement_label, placements_check

logger = logging.getLogger(__name__)

S = Session.Status


class Scope(TextChoices):
    ONE = "one", "This session only"
    FOLLOWING = "following", "This and following sessions"
    ALL = "all", "The whole course"


# Allowed moves. FHIR Appointment/Encounter: booked -> arrived -> in-progress -> finished;
# cancelled; noshow. Undoing a cancellation or a no-show returns to booked (clinician only).
TRANSITIONS: dict[str, set[str]] = {
    S.BOOKED: {S.CHECKED_IN, S.CANCELLED, S.NO_SHOW},
    S.CHECKED_IN: {S.IN_PROGRESS, S.CANCELLED},
    S.IN_PROGRESS: {S.MONITORING},
    S.MONITORING: {S.DISCHARGED},
    S.DISCHARGED: set(),
    S.CANCELLED: {S.BOOKED},
    S.NO_SHOW: {S.BOOKED},
}
UNDO = {(S.CANCELLED, S.BOOKED), (S.NO_SHOW, S.BOOKED)}


def _label(status: str) -> str:
    return Session.Status(status).label.lower()


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
    session = (
        Session.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=session.pk)
    )
    current = session.status
    if to not in Session.Status.values:
        raise ValidationError({"status": f"Unknown session status {to!r}."})
    if to not in TRANSITIONS[current]:
        raise ValidationError(
            {"status": f"A session that is {_label(current)} cannot become {_label(to)}."}
        )
    if (current, to) in UNDO:
        if by is None or not user_has_role(
            user=by, clinic=session.clinic, roles=[StaffMembership.Role.CLINICIAN]
        ):
            raise PermissionDenied(f"Only a clinician can undo a {_label(current)} session.")
        if not note.strip():
            raise ValidationError({"note": "Say why the session is being restored."})
    if to == S.CHECKED_IN:
        today = now.astimezone(session.clinic.tz).date()
        day = session.starts_at.astimezone(session.clinic.tz).date()
        if day != today:
            raise ValidationError(
                {"status": f"This session is on {day:%a %d %b %Y}; check-in is only on the day."}
            )
    session_status_changing.send(sender=Session, session=session, to=to)
    if to == S.NO_SHOW and now < session.starts_at:
        raise ValidationError({"status": "A session cannot be a no-show before it starts."})
    session.status = to
    session._history_user = by
    session.save(update_fields=["status"])
    Session.objects.filter(pk=session.pk).mark_changed()
    SessionStatusChange.objects.create(
        session=session, from_status=current, to_status=to, changed_by=by, changed_at=now, note=note
    )
    logger.info("session %s: %s -> %s", session.id, current, to)
    return session


def sessions_in_scope(session: Session, scope: str) -> list[Session]:
    """The booked sessions an edit of `session` in `scope` touches, in time order, locked
    (in the caller's transaction): what a move or a cancel will touch, and what the
    pages' confirmation counts."""
    if scope not in Scope.values:
        raise ValidationError({"scope": f"Scope must be one of {', '.join(Scope.values)}."})
    if scope == Scope.ONE:
        return [session]
    qs = Session.objects.select_for_update().filter(course_id=session.course_id, status=S.BOOKED)
    if scope == Scope.FOLLOWING:
        qs = qs.filter(starts_at__gte=session.starts_at)
    return list(qs.order_by("starts_at"))


@transaction.atomic
def session_move(
    *,
    session: Session,
    starts_at: dt.datetime,
    by: AbstractBaseUser | None,
    chair: Chair | None = None,
    scope: str = Scope.ONE,
    note: str = "",
    now: dt.datetime | None = None,
) -> list[Session]:
    """Move a booked session to `starts_at` (and `chair`, or any free one).

    With scope "following" or "all", every booked session in scope moves by the same
    change of local wall-clock time (a Monday 10:00 moved to Tuesday 14:00 moves each
    one a day and four hours on), so a series keeps its shape across daylight saving.
    All or nothing: each new time is checked against opening hours, closures, the
    minimum gap, the patient's other sessions and the chairs.
    """
    now = now or timezone.now()
    if starts_at.tzinfo is None:
        raise ValidationError({"starts_at": "Give a time with its time zone."})
    session = (
        Session.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=session.pk)
    )
    if session.status != S.BOOKED:
        raise ValidationError(
            {"status": f"Only a booked session can be moved; this one is {_label(session.status)}."}
        )
    course = Course.objects.select_related("clinic", "protocol").get(pk=session.course_id)
    tz = course.clinic.tz
    shift = starts_at.astimezone(tz).replace(tzinfo=None) - session.starts_at.astimezone(
        tz
    ).replace(tzinfo=None)
    moving = sessions_in_scope(session, scope)
    placements = []
    for s in moving:
        local = s.starts_at.astimezone(tz).replace(tzinfo=None) + shift
        new_start = local.replace(tzinfo=tz).astimezone(dt.UTC)
        placements.append(
            Placement(
                starts_at=new_start,
                ends_at=new_start + (s.ends_at - s.starts_at),
                chair_id=chair.id if chair else None,
                prefer_chair_id=s.chair_id,
                label=placement_label(clinic=course.clinic, number=s.number, starts_at=new_start),
            )
        )
    screened_until = course_gate_check(patient=course.patient, protocol=course.protocol, now=now)
    chairs = placements_check(
        course=course, placements=placements, moving_ids=[s.id for s in moving],
        screened_until=screened_until, now=now,
    )  # fmt: skip
    # Move in the direction of travel so no two moved sessions overlap mid-way.
    order = list(zip(moving, placements, chairs, strict=True))
    if shift > dt.timedelta(0):
        order.reverse()
    try:
        with transaction.atomic():
            for s, p, chair_id in order:
                old = s.starts_at
                s.starts_at, s.ends_at, s.chair_id = p.starts_at, p.ends_at, chair_id
                s._history_user = by
                s.save(update_fields=["starts_at", "ends_at", "chair"])
                SessionStatusChange.objects.create(
                    session=s,
                    from_status=S.BOOKED,
                    to_status=S.BOOKED,
                    changed_by=by,
                    changed_at=now,
                    note=f"Moved from {old.astimezone(tz):%Y-%m-%d %H:%M}"
                    f" to {p.starts_at.astimezone(tz):%Y-%m-%d %H:%M}. {note}".strip(),
                )
    except IntegrityError as exc:
        raise constraint_to_validation(exc) from exc
    Session.objects.filter(pk__in=[s.id for s in moving]).mark_changed()
    sessions_changed.send(sender=Session, sessions=moving, now=now)
    return [s for s, _, _ in sorted(order, key=lambda t: t[1].starts_at)]


@transaction.atomic
def session_cancel(
    *,
    session: Session,
    by: AbstractBaseUser | None,
    reason: str = "",
    scope: str = Scope.ONE,
    now: dt.datetime | None = None,
) -> list[Session]:
    """Cancel a session, this and the following ones, or the whole course.

    Cancelling the whole course also stops it, so maintenance is not written out again.
    """
    now = now or timezone.now()
    session = Session.objects.select_for_update().get(pk=session.pk)
    targets = sessions_in_scope(session, scope)
    cancelled = [
        session_transition(session=s, to=S.CANCELLED, by=by, note=reason, now=now) for s in targets
    ]
    if scope == Scope.ALL:
        course = Course.objects.get(pk=session.course_id)
        course.status = Course.Status.STOPPED
        course._history_user = by
        course.save(update_fields=["status"])
    sessions_changed.send(sender=Session, sessions=cancelled, now=now)
    return cancelled


@transaction.atomic
def session_no_show(
    *, session: Session, by: AbstractBaseUser | None, note: str = "", now: dt.datetime | None = None
) -> Session:
    session = session_transition(session=session, to=S.NO_SHOW, by=by, note=note, now=now)
    sessions_changed.send(sender=Session, sessions=[session], now=now or timezone.now())
    return session


@transaction.atomic
def session_restore(
    *, session: Session, by: AbstractBaseUser, reason: str, now: dt.datetime | None = None
) -> Session:
    """Undo a mistaken cancellation or no-show (a clinician, with a reason).

    The chair and the patient's time are checked again: someone may have taken them. A
    session still to come is booked again, so the screening gate applies as at booking;
    a past one (a no-show that was not) only corrects the record.
    """
    now = now or timezone.now()
    session = Session.objects.select_for_update().get(pk=session.pk)
    if session.status not in (S.CANCELLED, S.NO_SHOW):
        raise ValidationError(
            {"status": f"A {_label(session.status)} session has nothing to undo."}
        )
    course = Course.objects.select_related("clinic", "protocol", "patient").get(
        pk=session.course_id
    )
    screened_until = None
    if session.starts_at > now:
        screened_until = course_gate_check(
            patient=course.patient, protocol=course.protocol, now=now
        )
    placement = Placement(
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        chair_id=session.chair_id,
        label=placement_label(
            clinic=course.clinic, number=session.number, starts_at=session.starts_at
        ),
    )
    # A no-show is in the past by definition; restoring it must not be refused for that.
    placements_check(
        course=course,
        placements=[placement],
        moving_ids=[session.id],
        screened_until=screened_until,
        now=min(now, session.starts_at),
    )
    try:
        with transaction.atomic():
            restored = session_transition(session=session, to=S.BOOKED, by=by, note=reason, now=now)
    except IntegrityError as exc:
        raise constraint_to_validation(exc) from exc
    if course.status == Course.Status.STOPPED:
        course.status = Course.Status.ACTIVE
        course._history_user = by
        course.save(update_fields=["status"])
    sessions_changed.send(sender=Session, sessions=[restored], now=now)
    return restored


@transaction.atomic
def session_book(
    *,
    course: Course,
    starts_at: dt.datetime,
    by: AbstractBaseUser | None,
    chair: Chair | None = None,
    note: str = "",
    now: dt.datetime | None = None,
) -> Session:
    """Book one more session in a course (a make-up or a maintenance session)."""
    now = now or timezone.now()
    if starts_at.tzinfo is None:
        raise ValidationError({"starts_at": "Give a time with its time zone."})
    course = (
        Course.objects.select_for_update(of=("self",))
        .select_related("clinic", "protocol", "patient")
        .get(pk=course.pk)
    )
    if course.status != Course.Status.ACTIVE:
        raise ValidationError({"course": "This course is not active."})
    screened_until = course_gate_check(patient=course.patient, protocol=course.protocol, now=now)
    ends_at = starts_at + dt.timedelta(minutes=course.protocol.session_minutes)
    number = (course.sessions.aggregate(n=Max("number"))["n"] or 0) + 1
    (chair_id,) = placements_check(
        course=course,
        screened_until=screened_until,
        placements=[
            Placement(
                starts_at=starts_at,
                ends_at=ends_at,
                chair_id=chair.id if chair else None,
                label=placement_label(clinic=course.clinic, number=number, starts_at=starts_at),
            )
        ],
        now=now,
    )
    last_phase = course.protocol.phases.order_by("-order").first()
    try:
        with transaction.atomic():
            session = Session.objects.create(
                clinic=course.clinic,
                course=course,
                patient=course.patient,
                phase=last_phase,
                chair_id=chair_id,
                number=number,
                starts_at=starts_at,
                ends_at=ends_at,
                status=S.BOOKED,
            )
    except IntegrityError as exc:
        raise constraint_to_validation(exc) from exc
    SessionStatusChange.objects.create(
        session=session,
        from_status="",
        to_status=S.BOOKED,
        changed_by=by,
        changed_at=now,
        note=note,
    )
    sessions_changed.send(sender=Session, sessions=[session], now=now)
    return session
