"""Reads for scheduling."""

import datetime as dt
import functools
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery

from clinic.db import Columns, table
from clinic.models import Chair, Clinic
from clinic.selectors import chairs_active, clinic_calendar
from patients.models import Patient

from .chart_selectors import (  # noqa: F401  (the chart's reads, kept in their own module)
    RECOVERY_KINDS,
    CourseOverview,
    Outcome,
    RemsDue,
    RemsForm,
    SessionChart,
    chart_validator,
    chart_validator_sessions,
    clinic_checklist_items,
    course_outcomes,
    course_overview,
    rems_form_for_session,
    rems_forms_due,
    session_chart,
    vitals_findings,
)
from .models import (
    Course,
    Protocol,
    Reminder,
    ReminderChannel,
    ReminderPolicy,
    ReminderRule,
    Session,
    StaffNotice,
)
from .reminders.models import DEFAULT_RULES


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


@dataclass
class DayBoard:
    clinic: Clinic
    day: dt.date
    chairs: list
    # each with .chair_name, .protocol_name, .latest_vitals (or None), .open_alerts (a list)
    sessions: list


@functools.cache
def _board_sql(vendor: str) -> tuple[str, str, str]:
    """The board's three reads (for the database `vendor` in use), from the models' own
    table and column names.

    Plain SQL rather than querysets because the board is the busiest read: building and
    compiling the querysets cost as much as running them (docs/performance.md). Rows
    still become model instances (`Model.objects.raw` applies each field's conversion),
    so pages, the API and its documented serializer read them like any other."""
    from .models import Alert, VitalSigns

    q = connection.ops.quote_name
    session, vitals, alert = table(Session), table(VitalSigns), table(Alert)
    columns = ", ".join(
        [f"s.{q(c)}" for c in BOARD_COLUMNS]
        + [f"p.{q(c)} AS {alias}" for c, alias in _PATIENT_ATTR.items() if c != "id"]
    )
    # The latest current reading: the newest nothing amends, on the (session, measured_at)
    # index (EXPLAIN in the benchmark's output).
    sessions = (
        f"SELECT {columns}, ch.name AS chair_name, pr.name AS protocol_name, "
        f"(SELECT v.id FROM {vitals} v WHERE v.session_id = s.id AND NOT EXISTS "
        f"(SELECT 1 FROM {vitals} c WHERE c.amends_id = v.id) "
        f"ORDER BY v.measured_at DESC, v.id DESC LIMIT 1) AS latest_vitals_id "
        f"FROM {session} s "
        f"LEFT JOIN {table(Chair)} ch ON ch.id = s.chair_id "
        f"JOIN {table(Course)} co ON co.id = s.course_id "
        f"JOIN {table(Protocol)} pr ON pr.id = co.protocol_id "
        f"JOIN {table(Patient)} p ON p.id = s.patient_id "
        f"WHERE s.clinic_id = %s AND s.starts_at >= %s AND s.starts_at < %s "
        f"ORDER BY s.starts_at, ch.name, s.id"
    )
    # Columns named, never "*": a prepared "*" fails once a migration adds a column.
    latest = f"SELECT {Columns(VitalSigns, 'v').sql} FROM {vitals} v WHERE v.id IN ({{}})"
    alerts = (
        f"SELECT {Columns(Alert, 'a').sql} FROM {alert} a "
        f"WHERE a.acknowledged_at IS NULL AND a.session_id IN ({{}}) ORDER BY a.raised_at, a.id"
    )
    return sessions, latest, alerts


# What the board shows of a session.
BOARD_COLUMNS = (
    "id", "clinic_id", "course_id", "patient_id", "chair_id", "number", "starts_at", "ends_at",
    "status", "patient_response", "responded_at",
)  # fmt: skip
# What it shows of the patient, and where each is found on a board row (the patient's
# id is the session's own column).
_PATIENT_ATTR = {
    "id": "patient_id", "clinic_id": "patient_clinic_id", "mrn": "patient_mrn",
    "first_name": "patient_first_name", "last_name": "patient_last_name",
}  # fmt: skip
PATIENT_COLUMNS = tuple(_PATIENT_ATTR)


def _in(sql: str, ids: list[int]) -> str:
    return sql.format(", ".join(["%s"] * len(ids)))


def day_board_validator(*, clinic: Clinic, day: dt.date) -> tuple:
    """What the day board's ETag is made of, in two small indexed queries (a `304 Not
    Modified` costs these beyond the caller):

    - each session starting that local day, by id, with its `version` (moved on by every
      write to the session or its chart: SessionQuerySet.mark_changed; a booking, a move
      or a cancellation adds, moves or changes a row), its newest reading's id (the quiet
      reading is one INSERT that touches nothing else) and the names shown with it;
    - the clinic's active chairs and open staff notices: how many, and the newest id;
    - the clinic's own row (`clinic` as the caller read it: its name, time zone, ...).

    Shown only at the next change or a reload: a chair renamed that holds no session
    that day, and opening hours or closures edited in the admin.
    """
    from .models import VitalSigns

    start, end = clinic.day_bounds(day)
    newest = VitalSigns.objects.filter(session=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    sessions = (
        Session.objects.filter(clinic=clinic, starts_at__gte=start, starts_at__lt=end)
        .annotate(newest_reading_id=Subquery(newest))
        .order_by("id")
        .values_list(
            "id",
            "version",
            "newest_reading_id",
            "chair__name",
            "patient__first_name",
            "patient__last_name",
            "patient__mrn",
            "course__protocol__name",
        )  # fmt: skip
    )
    chairs = Chair.objects.filter(clinic=OuterRef("pk"), is_active=True).order_by()
    notices = StaffNotice.objects.filter(clinic=OuterRef("pk"), resolved_at__isnull=True).order_by()
    clinic_wide = Clinic.objects.filter(pk=clinic.pk).values_list(
        _count(chairs), _newest(chairs), _count(notices), _newest(notices)
    )
    fields = tuple(getattr(clinic, f.attname) for f in Clinic._meta.concrete_fields)
    return day.isoformat(), list(sessions), clinic_wide.first(), fields


def _count(qs) -> Subquery:
    return Subquery(qs.values("clinic").annotate(n=Count("pk")).values("n"))


def _newest(qs) -> Subquery:
    return Subquery(qs.order_by("-pk").values("pk")[:1])


def day_board(*, clinic: Clinic, day: dt.date) -> DayBoard:
    """One clinic's day: its chairs, and every session starting that local day with its
    patient, chair, protocol, latest current vitals and open alerts.

    Four queries whatever the day holds: the sessions (joined, with the latest reading's
    id from one correlated subquery per session), those readings, the open alerts, and
    the chairs.
    """
    from .models import Alert, VitalSigns

    start, end = clinic.day_bounds(day)
    sessions_sql, latest_sql, alerts_sql = _board_sql(connection.vendor)
    # `raw` adapts the times as the ORM writes them (on SQLite, naive UTC text).
    sessions = list(Session.objects.raw(sessions_sql, [clinic.id, start, end]))
    patient_field, db = Session._meta.get_field("patient"), Session.objects.db
    patient_fields = [f for f in Patient._meta.concrete_fields if f.attname in _PATIENT_ATTR]
    for s in sessions:
        # The values in the model's field order, which is the order `from_db` reads.
        values = [getattr(s, _PATIENT_ATTR[f.attname]) for f in patient_fields]
        patient = Patient.from_db(db, PATIENT_COLUMNS, values)
        patient_field.set_cached_value(s, patient)
        s.open_alerts = []
    ids = [s.latest_vitals_id for s in sessions if s.latest_vitals_id]
    vitals = {v.id: v for v in VitalSigns.objects.raw(_in(latest_sql, ids), ids)} if ids else {}
    # The latest current reading is one nothing amends (the subquery's rule): say so, or
    # showing its `amended_by` asks the database once a row.
    amended_by = VitalSigns._meta.get_field("amended_by")
    for v in vitals.values():
        amended_by.set_cached_value(v, None)
    by_id = {s.id: s for s in sessions}
    if by_id:
        session_ids = list(by_id)
        for a in Alert.objects.raw(_in(alerts_sql, session_ids), session_ids):
            by_id[a.session_id].open_alerts.append(a)
    for s in sessions:
        s.latest_vitals = vitals.get(s.latest_vitals_id)
    chairs = list(Chair.objects.filter(clinic=clinic, is_active=True).order_by("name", "id"))
    return DayBoard(clinic=clinic, day=day, chairs=chairs, sessions=sessions)


@dataclass
class ClinicDay:
    clinic: Clinic
    day: dt.date  # the clinic's own local today
    chairs: list  # active, by name
    sessions: list  # starting that local day, by time, each with .patient and .open_alerts


def clinic_days_today(*, clinics, now: dt.datetime | None = None) -> list[ClinicDay]:
    """Each clinic's own local today (the nurse's page): active chairs, and the sessions
    starting that day with their patient and open alerts. Lighter than `day_board` (no
    latest vitals), and four queries however many clinics: the clinics, chairs, sessions
    and open alerts, not a board's worth a clinic."""
    from django.db.models import Prefetch
    from django.utils import timezone

    from .models import Alert

    now = now or timezone.now()
    clinics = list(clinics)
    if not clinics:
        return []
    days, window = {}, Q()
    for clinic in clinics:
        day = days[clinic.id] = clinic.local_today(now)
        start, end = clinic.day_bounds(day)
        window |= Q(clinic_id=clinic.id, starts_at__gte=start, starts_at__lt=end)
    sessions = (
        Session.objects.filter(window)
        .select_related("patient")
        .prefetch_related(
            Prefetch(
                "alerts",
                queryset=Alert.objects.filter(acknowledged_at__isnull=True).order_by("raised_at"),
                to_attr="open_alerts",
            )
        )
        .order_by("starts_at", "id")
    )
    chairs = Chair.objects.filter(clinic_id__in=days, is_active=True).order_by("name", "id")
    out = {c.id: ClinicDay(clinic=c, day=days[c.id], chairs=[], sessions=[]) for c in clinics}
    for chair in chairs:
        out[chair.clinic_id].chairs.append(chair)
    for s in sessions:
        out[s.clinic_id].sessions.append(s)
    return list(out.values())


# --- Reminders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderRuleSpec:
    kind: str
    lead: dt.timedelta
    latest: dt.timedelta
    channels: tuple[str, ...]


def reminder_rules(*, clinic_id: int) -> list[ReminderRuleSpec]:
    """The kinds of reminder a clinic sends: its own rules over the defaults."""
    own = {r.kind: r for r in ReminderRule.objects.filter(clinic_id=clinic_id)}
    specs = []
    for kind, (lead, latest) in DEFAULT_RULES.items():
        rule = own.get(kind)
        if rule is None:
            channels = tuple(ReminderChannel.values)
        elif not rule.is_active:
            continue
        else:
            lead, latest = rule.lead_minutes, rule.latest_minutes
            channels = tuple(
                c
                for c, on in (
                    (ReminderChannel.EMAIL, rule.by_email),
                    (ReminderChannel.SMS, rule.by_sms),
                )
                if on
            )
        specs.append(
            ReminderRuleSpec(
                kind=kind,
                lead=dt.timedelta(minutes=lead),
                latest=dt.timedelta(minutes=latest),
                channels=channels,
            )
        )
    return specs


def reminder_policy(*, clinic_id: int) -> ReminderPolicy:
    """The clinic's reminder policy, or an unsaved one holding the defaults."""
    policy = ReminderPolicy.objects.filter(clinic_id=clinic_id).first()
    return policy or ReminderPolicy(clinic_id=clinic_id)


def reminders_for_session(*, session: Session) -> QuerySet[Reminder]:
    return Reminder.objects.filter(session=session).order_by("due_at", "kind", "channel")


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


def courses_maintenance_to_book(*, now: dt.datetime) -> list[tuple[Course, dt.datetime | None]]:
    """Active open-ended courses whose booked sessions run out within the clinic's notice
    period (ReminderPolicy.maintenance_notice_days): nothing is booked after that, because
    the horizon could not be extended (a clash) or nobody booked the next one.

    Returns (course, start of its last booked session or None)."""
    open_ended = Protocol.objects.filter(phases__periods__isnull=True).values("id")
    courses = (
        Course.objects.filter(status=Course.Status.ACTIVE, protocol_id__in=open_ended)
        .annotate(
            last_booked=Max("sessions__starts_at", filter=Q(sessions__status=Session.Status.BOOKED))
        )
        .select_related("clinic")
    )
    notice_days = dict(ReminderPolicy.objects.values_list("clinic_id", "maintenance_notice_days"))
    default_days = ReminderPolicy._meta.get_field("maintenance_notice_days").default
    due = []
    for course in courses:
        days = notice_days.get(course.clinic_id, default_days)
        if course.last_booked is None or course.last_booked <= now + dt.timedelta(days=days):
            due.append((course, course.last_booked))
    return due


REMS_FORM_DAYS = 7


def sessions_rems_form_due(*, now: dt.datetime) -> QuerySet[Session]:
    """Discharged esketamine sessions of the last 7 days whose REMS monitoring form is
    not yet filed (CLINICAL.md section 9: filed within 7 days of each session). The form
    is the chart's RemsReport; see also chart_selectors.rems_forms_due."""
    return Session.objects.filter(
        Q(rems_report__isnull=True) | Q(rems_report__filed_at__isnull=True),
        Protocol.rems_sessions(),
        status=Session.Status.DISCHARGED,
        starts_at__gte=now - dt.timedelta(days=REMS_FORM_DAYS),
        starts_at__lte=now,
    ).select_related("clinic")
