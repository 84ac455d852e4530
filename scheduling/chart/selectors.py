"""Reads for the session chart: the chart itself, its checklist and vitals schedule, what
discharge still needs, outcomes over a course, and the esketamine REMS form.

Kept apart from selectors.py (which re-exports these) so the chart's reads sit together.
"""

import datetime as dt
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from clinic.models import Chair, Clinic
from clinic.selectors import chairs_active
from patients.models import QuestionnaireResponse

from ..booking.models import Course, Protocol, Session, StaffNotice
from .models import (
    Alert,
    CheckIn,
    ChecklistItem,
    ChecklistWaiver,
    ClinicChecklistAnswer,
    ClinicChecklistItem,
    DeviceAdministration,
    Discharge,
    DoseAdministration,
    ReadyToLeave,
    RemsReport,
    SideEffect,
    VitalSigns,
)

# A reading this early still counts for its check; this late, the check is overdue.
VITALS_GRACE = dt.timedelta(minutes=5)
POST_DOSE_BP_MINUTES = 40  # blood pressure peaks about 40 minutes after esketamine
# A PHQ-9 counts for a session's check-in if taken from a day before the session starts.
PHQ9_FRESH = dt.timedelta(hours=24)
REMS_DUE_DAYS = 7


# --- thresholds --------------------------------------------------------------------------


@dataclass(frozen=True)
class VitalsFindings:
    alerts: list[str]  # past an in-session alert threshold
    cautions: list[str]  # pre-dose caution only
    fields: frozenset[str] = frozenset()  # which values are past a threshold (for display)

    @property
    def kind(self) -> str | None:
        if self.alerts:
            return Alert.Kind.VITALS_THRESHOLD
        if self.cautions:
            return Alert.Kind.PRE_DOSE_CAUTION
        return None

    @property
    def message(self) -> str:
        return " ".join(self.alerts + self.cautions)


@dataclass(frozen=True)
class ThresholdRule:
    """A reading is past one of its clinic's thresholds when `value` `op` `limit` holds:
    the reading's field, a comparison (">=", ">" or "<"), the clinic's field. A caution
    applies to pre-dose readings only and is not an in-session alert."""

    value: str
    op: str
    limit: str
    message: str
    caution: bool = False

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"Unknown comparison {self.op!r}.")

    def holds(self, clinic: Clinic, vitals: VitalSigns) -> bool:
        return _OPS[self.op](getattr(vitals, self.value), getattr(clinic, self.limit))


_OPS = {">=": operator.ge, ">": operator.gt, "<": operator.lt}

# CLINICAL.md section 4. The one statement of these rules; vitals_findings is the one
# reading of them (the alert vitals_record raises, the chart's flags, discharge).
THRESHOLD_RULES = (
    ThresholdRule("systolic", ">=", "alert_systolic_at", "Systolic {v} mmHg is at or above {t}."),
    ThresholdRule(
        "diastolic", ">=", "alert_diastolic_at", "Diastolic {v} mmHg is at or above {t}."
    ),
    ThresholdRule("spo2", "<", "alert_spo2_below", "SpO2 {v}% is below {t}%."),
    ThresholdRule("heart_rate", ">", "alert_heart_rate_above", "Heart rate {v}/min is above {t}."),
    ThresholdRule("heart_rate", "<", "alert_heart_rate_below", "Heart rate {v}/min is below {t}."),
    ThresholdRule(
        "systolic", ">", "caution_systolic_above",
        "Pre-dose systolic {v} mmHg is above {t}: consider delaying.", caution=True,
    ),
    ThresholdRule(
        "diastolic", ">", "caution_diastolic_above",
        "Pre-dose diastolic {v} mmHg is above {t}: consider delaying.", caution=True,
    ),
)  # fmt: skip


def threshold_rules(timepoint: str) -> tuple[ThresholdRule, ...]:
    """The rules a reading taken at `timepoint` is checked against."""
    if timepoint == VitalSigns.Timepoint.PRE_DOSE:
        return THRESHOLD_RULES
    return tuple(rule for rule in THRESHOLD_RULES if not rule.caution)


def vitals_findings(*, clinic: Clinic, vitals: VitalSigns) -> VitalsFindings:
    """Which of the clinic's thresholds a reading is past (CLINICAL.md section 4)."""
    alerts, cautions, fields = [], [], set()
    for rule in threshold_rules(vitals.timepoint):
        if rule.holds(clinic, vitals):
            v, t = getattr(vitals, rule.value), getattr(clinic, rule.limit)
            (cautions if rule.caution else alerts).append(rule.message.format(v=v, t=t))
            fields.add(rule.value)
    return VitalsFindings(alerts=alerts, cautions=cautions, fields=frozenset(fields))


# --- the chart ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistLine:
    item: str
    label: str
    done: bool
    detail: str = ""
    waiver: ChecklistWaiver | None = None
    clinic_item_id: int | None = None  # a clinic's own item (ClinicChecklistItem)

    @property
    def satisfied(self) -> bool:
        return self.done or self.waiver is not None


@dataclass(frozen=True)
class VitalsCheck:
    timepoint: str
    due_at: dt.datetime
    done: bool
    overdue: bool


def _one(obj, name: str):
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


@dataclass
class SessionChart:
    """Everything recorded for one session, loaded in a fixed number of queries."""

    session: Session
    now: dt.datetime
    check_in: CheckIn | None
    dose: DoseAdministration | None
    devices: list[DeviceAdministration]
    discharge: Discharge | None
    ready_to_leave: ReadyToLeave | None
    rems_report: RemsReport | None
    waivers: dict[str, ChecklistWaiver]
    # The clinic's own items as asked at check-in; before it, those it will ask (unsaved).
    clinic_answers: list[ClinicChecklistAnswer]
    vitals: list[VitalSigns]  # every row, amended ones too, by time measured
    side_effects: list[SideEffect]
    alerts: list[Alert]
    phq9_taken: bool

    @property
    def clinic(self) -> Clinic:
        return self.session.clinic

    @property
    def protocol(self) -> Protocol:
        return self.session.course.protocol

    @property
    def is_esketamine(self) -> bool:
        return self.protocol.route == Protocol.Route.INTRANASAL

    @cached_property
    def current_vitals(self) -> list[VitalSigns]:
        """Readings no later row corrects."""
        amended = {v.amends_id for v in self.vitals if v.amends_id}
        return [v for v in self.vitals if v.id not in amended]

    @cached_property
    def current_side_effects(self) -> list[SideEffect]:
        amended = {s.amends_id for s in self.side_effects if s.amends_id}
        return [s for s in self.side_effects if s.id not in amended]

    @property
    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.is_open]

    def latest_vitals(self, timepoint: str | None = None) -> VitalSigns | None:
        rows = [v for v in self.current_vitals if timepoint in (None, v.timepoint)]
        return rows[-1] if rows else None

    # Checklist -----------------------------------------------------------------------

    @cached_property
    def checklist(self) -> list[ChecklistLine]:
        ci, p = self.check_in, self.protocol
        fasting = (
            f"No food for {p.fasting_food_minutes} min and no liquids for "
            f"{p.fasting_liquids_minutes} min before the session."
        )
        lines = []
        if p.check_in_fasting:
            lines.append((ChecklistItem.FASTING, bool(ci and ci.fasting_confirmed), fasting))
        lines.append(
            (
                ChecklistItem.ESCORT,
                bool(ci and ci.escort_confirmed),
                ci.escort_name if ci and ci.escort_confirmed else "",
            )
        )
        if p.check_in_weight:
            lines.append(
                (
                    ChecklistItem.WEIGHT,
                    bool(ci and ci.weight_kg is not None),
                    f"{ci.weight_kg} kg" if ci and ci.weight_kg is not None else "",
                )
            )
        lines.append(
            (
                ChecklistItem.PRE_DOSE_VITALS,
                self.latest_vitals(VitalSigns.Timepoint.PRE_DOSE) is not None,
                "",
            )
        )
        if self.clinic.phq9_required_at_check_in:
            lines.append((ChecklistItem.PHQ9, self.phq9_taken, ""))
        built_in = [
            ChecklistLine(
                item=item,
                label=ChecklistItem(item).label,
                done=done,
                detail=detail,
                waiver=self.waivers.get(item),
            )
            for item, done, detail in lines
        ]
        return built_in + [
            ChecklistLine(
                item=a.key,
                label=a.label,
                done=a.done,
                waiver=self.waivers.get(a.key),
                clinic_item_id=a.item_id,
            )
            for a in self.clinic_answers
        ]

    @property
    def checklist_missing(self) -> list[ChecklistLine]:
        return [line for line in self.checklist if not line.satisfied]

    # Monitoring ----------------------------------------------------------------------

    @property
    def monitoring_from(self) -> dt.datetime | None:
        """Esketamine: from the first device; IV: from the end of the infusion."""
        if self.dose is None:
            return None
        return self.dose.started_at if self.is_esketamine else self.dose.ended_at

    @property
    def observation_ends_at(self) -> dt.datetime | None:
        start = self.monitoring_from
        if start is None:
            return None
        return start + dt.timedelta(minutes=self.protocol.min_observation_minutes)

    @cached_property
    def vitals_schedule(self) -> list[VitalsCheck]:
        """The checks the protocol asks for: pre-dose; every N minutes during the dose
        and every M minutes after it until the minimum observation has passed (where the
        protocol sets them: IV); 40 minutes after it starts; before discharge. Named
        checks are met by a reading of that timepoint; the interval checks by any
        reading in their window."""
        if self.check_in is None:
            return []
        planned: list[tuple[str, dt.datetime, dt.timedelta | None]] = [
            (VitalSigns.Timepoint.PRE_DOSE, self.check_in.checked_in_at, None)
        ]
        dose = self.dose
        if dose is not None:
            p = self.protocol
            during = dt.timedelta(minutes=p.vitals_every_minutes_during or 0)
            after = dt.timedelta(minutes=p.vitals_every_minutes_after or 0)
            t = dose.started_at + during
            while during and t < dose.ended_at:
                planned.append((VitalSigns.Timepoint.DURING, t, during))
                t += during
            planned.append(
                (
                    VitalSigns.Timepoint.POST_DOSE_40,
                    dose.started_at + dt.timedelta(minutes=POST_DOSE_BP_MINUTES),
                    None,
                )
            )
            t, end = dose.ended_at + after, self.observation_ends_at
            while after and t < end:
                planned.append((VitalSigns.Timepoint.AFTER, t, after))
                t += after
            planned.append((VitalSigns.Timepoint.PRE_DISCHARGE, end, None))
        readings = self.current_vitals
        checks = []
        for timepoint, due_at, every in sorted(planned, key=lambda p: p[1]):
            if every is None:
                done = any(v.timepoint == timepoint for v in readings)
            else:
                lo, hi = due_at - VITALS_GRACE, due_at + every - VITALS_GRACE
                done = any(lo <= v.measured_at < hi for v in readings)
            overdue = not done and self.past_due(due_at)
            checks.append(VitalsCheck(timepoint, due_at, done, overdue))
        return checks

    def past_due(self, due_at: dt.datetime) -> bool:
        """A check due at `due_at` is overdue now, unless it was done."""
        return self.now > due_at + VITALS_GRACE

    @property
    def observation_minutes_left(self) -> int | None:
        """Whole minutes (rounded up) until the minimum observation has passed; None
        without a dose or once it has passed."""
        ends = self.observation_ends_at
        if ends is None or self.now >= ends:
            return None
        return -(-(ends - self.now) // dt.timedelta(minutes=1))

    @property
    def vitals_next_due(self) -> VitalsCheck | None:
        return next((c for c in self.vitals_schedule if not c.done and not c.overdue), None)

    @property
    def vitals_overdue(self) -> list[VitalsCheck]:
        return [c for c in self.vitals_schedule if c.overdue]

    def discharge_problems(self, *, escort_name: str = "") -> dict[str, list[str]]:
        """What stands between this session and discharge, by criterion; empty when none."""
        problems: dict[str, list[str]] = {}
        tz = self.clinic.tz
        status = self.session.status
        if status != Session.Status.MONITORING:
            label = Session.Status(status).label.lower()
            problems["status"] = [
                f"The session is {label}; only a session in monitoring can be discharged."
            ]
        if self.dose is None:
            problems["observation"] = ["No dose is recorded."]
        elif (left := self.observation_minutes_left) is not None:
            since = "the first device" if self.is_esketamine else "the end of the infusion"
            problems["observation"] = [
                f"The minimum observation is {self.protocol.min_observation_minutes} minutes "
                f"from {since}: not before {self.observation_ends_at.astimezone(tz):%H:%M} "
                f"({left} minute{'' if left == 1 else 's'} to go)."
            ]
        last = self.latest_vitals()
        if self.dose is not None and (last is None or last.measured_at < self.dose.started_at):
            problems["vitals"] = ["Record vitals after the dose before discharge."]
        elif last is not None and vitals_findings(clinic=self.clinic, vitals=last).alerts:
            signed_off = any(a.vitals_id == last.id and not a.is_open for a in self.alerts)
            if not signed_off:
                problems["vitals"] = [
                    f"The last vitals ({last.blood_pressure}, SpO2 {last.spo2}%, heart rate "
                    f"{last.heart_rate}) are past the clinic's thresholds and not signed off "
                    "by a clinician."
                ]
        for criterion, messages in self.recovery_problems().items():
            problems.setdefault(criterion, []).extend(messages)
        if self.open_alerts:
            kinds = ", ".join(sorted({a.get_kind_display().lower() for a in self.open_alerts}))
            problems["alerts"] = [
                f"{len(self.open_alerts)} alert(s) not yet acknowledged by a clinician: {kinds}."
            ]
        has_escort = bool(self.check_in and self.check_in.escort_confirmed)
        if not has_escort and not escort_name.strip():
            problems["escort_name"] = ["Record who is taking the patient home."]
        return problems

    def last_score(self, field: str) -> SideEffect | None:
        """The side effect that carries the latest recorded `field` score (cadss, moaa_s)."""
        scored = [e for e in self.current_side_effects if getattr(e, field) is not None]
        return max(scored, key=lambda e: (e.recorded_at, e.id), default=None)

    def recovery_problems(self) -> dict[str, list[str]]:
        """Has the patient recovered? Sedation, dissociation and respiratory depression
        resolved, MOAA/S back to 5, CADSS down to the clinic's limit; for esketamine also
        the pre-discharge blood pressure and a clinician's ready-to-leave time (REMS)."""
        problems: dict[str, list[str]] = {}
        tz = self.clinic.tz
        unresolved = [
            f"{e.get_kind_display()} since {e.onset_at.astimezone(tz):%H:%M} is not resolved."
            for e in self.current_side_effects
            if e.kind in RECOVERY_KINDS and e.resolved_at is None
        ]
        if unresolved:
            problems["side_effects"] = [*unresolved, "Record when it resolved."]
        sedation, dissociation = self.last_score("moaa_s"), self.last_score("cadss")
        if sedation is not None and sedation.moaa_s < SideEffect.MOAAS_MAX:
            problems["moaa_s"] = [
                f"The last MOAA/S is {sedation.moaa_s} "
                f"({sedation.recorded_at.astimezone(tz):%H:%M}): discharge waits for 5, fully "
                "alert. Record a new score."
            ]
        limit = self.clinic.discharge_cadss_at_most
        if dissociation is not None and dissociation.cadss > limit:
            problems["cadss"] = [
                f"The last CADSS total is {dissociation.cadss} "
                f"({dissociation.recorded_at.astimezone(tz):%H:%M}), above the clinic's "
                f"{limit} for discharge. Record a new score."
            ]
        if self.is_esketamine:
            if self.latest_vitals(VitalSigns.Timepoint.PRE_DISCHARGE) is None:
                problems["vitals"] = [
                    "Record the pre-discharge blood pressure (the REMS form asks for it)."
                ]
            if self.ready_to_leave is None:
                problems["ready_to_leave"] = [
                    "A clinician records the time the patient was ready to leave (the REMS "
                    "form asks for it)."
                ]
        return problems


# Side effects the patient must have recovered from before leaving (CLINICAL.md 11).
RECOVERY_KINDS = (
    SideEffect.Kind.SEDATION,
    SideEffect.Kind.DISSOCIATION,
    SideEffect.Kind.RESPIRATORY_DEPRESSION,
)


def clinic_checklist_items(*, session: Session) -> list[ClinicChecklistItem]:
    """The clinic's own checklist items asked at this session's check-in: those not
    retired that apply to its protocol (named, or by its drug, or every protocol)."""
    protocol = session.course.protocol
    return list(
        ClinicChecklistItem.objects.filter(clinic_id=session.clinic_id, is_active=True)
        .filter(Q(drug="") | Q(drug=protocol.drug))
        .filter(Q(protocols__isnull=True) | Q(protocols=protocol))
        .distinct()
    )


def session_chart(*, session: Session, now: dt.datetime | None = None) -> SessionChart:
    """The chart of one session in at most eight queries, however many rows it holds."""
    now = now or timezone.now()
    s = Session.objects.select_related(
        "clinic",
        "patient",
        "course__protocol",
        "check_in",
        "dose",
        "discharge",
        "ready_to_leave",
        "rems_report",
    ).get(pk=session.pk)
    dose = _one(s, "dose")
    devices = (
        list(DeviceAdministration.objects.filter(dose=dose).order_by("number"))
        if dose is not None and dose.route == Protocol.Route.INTRANASAL
        else []
    )
    check_in = _one(s, "check_in")
    if check_in is not None:  # what was asked then, whatever the clinic asks today
        clinic_answers = list(ClinicChecklistAnswer.objects.filter(check_in=check_in))
    else:
        clinic_answers = [
            ClinicChecklistAnswer(item=item, label=item.label)
            for item in clinic_checklist_items(session=s)
        ]
    phq9_taken = False
    if s.clinic.phq9_required_at_check_in:
        phq9_taken = QuestionnaireResponse.objects.filter(
            patient_id=s.patient_id,
            kind=QuestionnaireResponse.Kind.PHQ9,
            completed_at__gte=s.starts_at - PHQ9_FRESH,
            completed_at__lte=max(now, s.ends_at),
        ).exists()
    return SessionChart(
        session=s,
        now=now,
        check_in=check_in,
        dose=dose,
        devices=devices,
        discharge=_one(s, "discharge"),
        ready_to_leave=_one(s, "ready_to_leave"),
        rems_report=_one(s, "rems_report"),
        waivers={w.item: w for w in ChecklistWaiver.objects.filter(session=s)},
        clinic_answers=clinic_answers,
        vitals=list(
            VitalSigns.objects.filter(session=s)
            # amended_by joined: the chart shows each reading's correction (else a query a row).
            .select_related("recorded_by", "amended_by")
            .order_by("measured_at", "id")
        ),
        side_effects=list(SideEffect.objects.filter(session=s).order_by("onset_at", "id")),
        alerts=list(Alert.objects.filter(session=s).order_by("raised_at", "id")),
        phq9_taken=phq9_taken,
    )


# --- the chart's validator (its conditional GET) -------------------------------------------


def chart_validator_sessions() -> models.QuerySet[Session]:
    """Sessions as the chart's pages and endpoint look one up (and check the caller may
    see it): with every row the chart shows beside its own records (clinic, patient,
    chair, protocol), and the check-in and dose its clock runs from. One query, which is
    also all a `304 Not Modified` costs beyond the caller."""
    return Session.objects.select_related(
        "clinic", "patient", "chair", "course__protocol", "check_in", "dose"
    )


def _row(obj) -> tuple | None:
    """A model instance's columns as read (None for a missing one-to-one)."""
    if obj is None:
        return None
    return tuple(getattr(obj, f.attname) for f in obj._meta.concrete_fields)


def chart_validator(*, session: Session, now: dt.datetime | None = None) -> tuple:
    """What the chart's ETag is made of; `session` comes from `chart_validator_sessions`.

    - The session's row with its `version`, which every write to the session or its
      chart moves on (SessionQuerySet.mark_changed: check-in, checklist, waivers, dose,
      readings, side effects, alerts raised or acknowledged, ready to leave, discharge,
      REMS, status changes, moves, the patient's answer, a PHQ-9).
    - The rows of its clinic (thresholds), patient, chair and protocol as read with it:
      an edit of any of them shows.
    - The clock: the minutes of observation still to go and how many vitals checks are
      past due, which change what the chart says with no write at all.
    """
    now = now or timezone.now()
    clock = SessionChart(
        session=session, now=now, check_in=_one(session, "check_in"), dose=_one(session, "dose"),
        devices=[], discharge=None, ready_to_leave=None, rems_report=None, waivers={},
        clinic_answers=[], vitals=[], side_effects=[], alerts=[], phq9_taken=False,
    )  # fmt: skip
    return (
        _row(session),
        [_row(o) for o in (session.clinic, session.patient, session.chair, clock.protocol)],
        [_row(clock.check_in), _row(clock.dose)],
        clock.observation_minutes_left,
        sum(clock.past_due(c.due_at) for c in clock.vitals_schedule),
    )


# --- outcomes over a course --------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str
    baseline: QuestionnaireResponse | None
    latest: QuestionnaireResponse | None
    change: int | None = None  # latest minus baseline: negative is better
    percent_change: Decimal | None = None
    response: bool | None = None  # at least a 50 % drop from baseline
    remission: bool | None = None  # PHQ-9 below 5; not defined for GAD-7


REMISSION_BELOW = {QuestionnaireResponse.Kind.PHQ9: 5}


def course_outcomes(*, course: Course) -> dict[str, Outcome]:
    """PHQ-9 and GAD-7 over a course, in two queries.

    Baseline: the first score of the course, taken from its start day (the clinic's
    midnight) to the end of its first session (so a PHQ-9 at that session's check-in
    counts); a second one that day never replaces it. With none in that window, the
    last score before it (a screening score from the run-up). Latest: the last score
    after the first session. Response is a drop of at least 50 % from baseline;
    remission a latest PHQ-9 below 5.
    """
    first = (
        course.sessions.exclude(status__in=[Session.Status.CANCELLED, Session.Status.NO_SHOW])
        .order_by("starts_at")
        .first()
    )
    opens, cut = course.clinic.day_bounds(course.start_date)
    if first is not None:
        cut = first.ends_at
    responses = QuestionnaireResponse.objects.filter(patient_id=course.patient_id).order_by(
        "completed_at", "id"
    )
    by_kind: dict[str, list[QuestionnaireResponse]] = {}
    for r in responses:
        by_kind.setdefault(r.kind, []).append(r)
    outcomes = {}
    for kind in QuestionnaireResponse.Kind.values:
        rows = by_kind.get(kind, [])
        in_course = [r for r in rows if opens <= r.completed_at <= cut]
        before = [r for r in rows if r.completed_at < opens]
        after = [r for r in rows if r.completed_at > cut]
        baseline = in_course[0] if in_course else (before[-1] if before else None)
        latest = after[-1] if after else None
        if baseline is None or latest is None:
            outcomes[kind] = Outcome(kind, baseline, latest)
            continue
        change = latest.total - baseline.total
        percent = (
            (Decimal(change) * 100 / baseline.total).quantize(Decimal("0.1"))
            if baseline.total
            else None
        )
        # Integer arithmetic: "at least half" must not depend on rounding.
        response = baseline.total > 0 and 2 * (baseline.total - latest.total) >= baseline.total
        below = REMISSION_BELOW.get(kind)
        outcomes[kind] = Outcome(
            kind=kind,
            baseline=baseline,
            latest=latest,
            change=change,
            percent_change=percent,
            response=response,
            remission=None if below is None else latest.total < below,
        )
    return outcomes


@dataclass
class CourseOverview:
    course: Course
    sessions: list[Session]  # each with .dose (or None) and .side_effect_list
    open_alerts: list[Alert]
    phq9: list[QuestionnaireResponse]  # from the baseline on, oldest first
    outcomes: dict[str, Outcome]


def course_overview(*, course: Course) -> CourseOverview:
    """A course at a glance for the clinician: sessions with doses and side effects, open
    alerts, the PHQ-9 series from baseline, and response and remission. Six queries."""
    sessions = list(
        course.sessions.select_related("chair", "dose", "clinic")
        .prefetch_related(
            models.Prefetch(
                "side_effects",
                queryset=SideEffect.objects.filter(amended_by__isnull=True).order_by("onset_at"),
                to_attr="side_effect_list",
            )
        )
        .order_by("starts_at", "id")
    )
    for s in sessions:
        s.dose_record = _one(s, "dose")
    outcomes = course_outcomes(course=course)
    baseline = outcomes[QuestionnaireResponse.Kind.PHQ9].baseline
    phq9 = QuestionnaireResponse.objects.filter(
        patient_id=course.patient_id, kind=QuestionnaireResponse.Kind.PHQ9
    )
    if baseline is not None:
        phq9 = phq9.filter(completed_at__gte=baseline.completed_at)
    else:
        phq9 = phq9.filter(completed_at__gte=course.clinic.day_bounds(course.start_date)[0])
    open_alerts = list(
        Alert.objects.filter(patient_id=course.patient_id, acknowledged_at__isnull=True).order_by(
            "raised_at", "id"
        )
    )
    return CourseOverview(
        course=course,
        sessions=sessions,
        open_alerts=open_alerts,
        phq9=list(phq9.order_by("completed_at", "id")),
        outcomes=outcomes,
    )


# --- the esketamine REMS monitoring form (CLINICAL.md section 9) -------------------------


@dataclass
class RemsForm:
    session_id: int
    patient_name: str
    birth_date: dt.date
    sex: str
    first_treatment: bool | None
    benzodiazepines: bool | None
    non_benzo_sedatives: bool | None
    psychostimulants: bool | None
    maois: bool | None
    monitoring_clinician: str | None
    setting: str | None
    date: dt.date
    dose_mg: Decimal | None
    lot_number: str | None
    total_minutes: int | None
    ready_to_leave_at: dt.datetime | None
    bp_before_dose: str | None
    bp_at_40_minutes: str | None
    bp_before_leaving: str | None
    vitals_in_range_before_dose: bool | None
    vitals_in_range_before_leaving: bool | None
    sedation: bool | None
    dissociation: bool | None
    respiratory_depression: bool | None
    serious_adverse_events: list[str] | None
    filed_at: dt.datetime | None
    missing: list[str] = field(default_factory=list)

    @property
    def is_complete(self) -> bool:
        return not self.missing


REMS_ONLY = (
    "The REMS form is for esketamine sessions at a clinic where the REMS applies (the "
    "clinic's setting, for United States clinics)."
)

REMS_LABELS = {
    "first_treatment": "first treatment (no dose recorded)",
    "benzodiazepines": "concomitant benzodiazepines",
    "non_benzo_sedatives": "concomitant non-benzodiazepine sedative hypnotics",
    "psychostimulants": "concomitant psychostimulants",
    "maois": "concomitant MAOIs",
    "monitoring_clinician": "monitoring clinician",
    "setting": "monitoring setting",
    "dose_mg": "dose",
    "lot_number": "lot number",
    "total_minutes": "total monitoring minutes (not discharged)",
    "ready_to_leave_at": "time ready to leave (a clinician records it)",
    "bp_before_dose": "blood pressure before the dose",
    "bp_at_40_minutes": "blood pressure 40 minutes after the dose",
    "bp_before_leaving": "blood pressure before leaving",
    "vitals_in_range_before_dose": "vitals before the dose",
    "vitals_in_range_before_leaving": "vitals before leaving",
    "sedation": "sedation (not discharged)",
    "dissociation": "dissociation (not discharged)",
    "respiratory_depression": "respiratory depression (not discharged)",
    "serious_adverse_events": "serious adverse events (not discharged)",
}


def rems_form_for_session(*, session: Session, now: dt.datetime | None = None) -> RemsForm:
    """The filled REMS monitoring form of an esketamine session, and what it still lacks.

    Everything comes from the chart; the concomitant medicines, the monitoring clinician
    and the setting come from the session's REMS report.
    """
    chart = session_chart(session=session, now=now)
    if not chart.protocol.rems_at(chart.clinic):
        raise ValidationError({"session": REMS_ONLY})
    s, patient, dose = chart.session, chart.session.patient, chart.dose
    report, discharge = chart.rems_report, chart.discharge
    pre = chart.latest_vitals(VitalSigns.Timepoint.PRE_DOSE)
    at40 = chart.latest_vitals(VitalSigns.Timepoint.POST_DOSE_40)
    leaving = chart.latest_vitals(VitalSigns.Timepoint.PRE_DISCHARGE)
    first_treatment = None
    if dose is not None:
        first_treatment = not DoseAdministration.objects.filter(
            session__patient_id=patient.id,
            drug=Protocol.Drug.ESKETAMINE,
            started_at__lt=dose.started_at,
        ).exists()
    clinician = None
    if report is not None and report.monitoring_clinician is not None:
        clinician = report.monitoring_clinician
    elif discharge is not None:
        clinician = discharge.discharged_by
    kinds = {e.kind for e in chart.current_side_effects}
    charted = discharge is not None  # side effects are final once the patient has left

    def seen(kind: str) -> bool | None:
        return kind in kinds if charted else None

    form = RemsForm(
        session_id=s.id,
        patient_name=f"{patient.first_name} {patient.last_name}",
        birth_date=patient.birth_date,
        sex=patient.get_sex_display(),
        first_treatment=first_treatment,
        benzodiazepines=report.benzodiazepines if report else None,
        non_benzo_sedatives=report.non_benzo_sedatives if report else None,
        psychostimulants=report.psychostimulants if report else None,
        maois=report.maois if report else None,
        monitoring_clinician=(clinician.get_full_name() or clinician.get_username())
        if clinician
        else None,
        setting=report.setting if report and report.setting.strip() else None,
        date=s.starts_at.astimezone(s.clinic.tz).date(),
        dose_mg=dose.total_mg if dose else None,
        lot_number=dose.lot_number if dose else None,
        total_minutes=discharge.monitoring_minutes if discharge else None,
        ready_to_leave_at=chart.ready_to_leave.ready_at if chart.ready_to_leave else None,
        bp_before_dose=pre.blood_pressure if pre else None,
        bp_at_40_minutes=at40.blood_pressure if at40 else None,
        bp_before_leaving=leaving.blood_pressure if leaving else None,
        vitals_in_range_before_dose=_in_range(chart, pre),
        vitals_in_range_before_leaving=_in_range(chart, leaving),
        sedation=seen(SideEffect.Kind.SEDATION),
        dissociation=seen(SideEffect.Kind.DISSOCIATION),
        respiratory_depression=seen(SideEffect.Kind.RESPIRATORY_DEPRESSION),
        serious_adverse_events=[
            f"{e.get_kind_display()} ({e.get_severity_display().lower()})"
            for e in chart.current_side_effects
            if e.serious
        ]
        if charted
        else None,
        filed_at=report.filed_at if report else None,
    )
    form.missing = [label for name, label in REMS_LABELS.items() if getattr(form, name) is None]
    return form


def _in_range(chart: SessionChart, vitals: VitalSigns | None) -> bool | None:
    if vitals is None:
        return None
    findings = vitals_findings(clinic=chart.clinic, vitals=vitals)
    return not (findings.alerts or findings.cautions)


@dataclass(frozen=True)
class RemsDue:
    session: Session
    session_date: dt.date
    due_date: dt.date
    overdue: bool


def rems_forms_due(*, clinic: Clinic, now: dt.datetime | None = None) -> list[RemsDue]:
    """Discharged esketamine sessions whose REMS form is not filed, with the date it is
    due (7 days after the session, clinic time) and whether that has passed. One query."""
    today = clinic.local_today(now)
    sessions = (
        Session.objects.filter(
            Protocol.rems_sessions(),
            clinic=clinic,
            status=Session.Status.DISCHARGED,
            rems_report__filed_at__isnull=True,
        )
        .select_related("patient", "clinic")
        .order_by("starts_at", "id")
    )
    due = []
    for s in sessions:
        day = s.starts_at.astimezone(clinic.tz).date()
        due_date = day + dt.timedelta(days=REMS_DUE_DAYS)
        due.append(
            RemsDue(session=s, session_date=day, due_date=due_date, overdue=today > due_date)
        )
    return due


@dataclass
class DayBoard:
    clinic: Clinic
    day: dt.date
    chairs: list
    # each with .chair_name, .protocol_name, .latest_vitals (or None), .open_alerts (a list)
    sessions: list


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

    Four queries whatever the day holds: the sessions (with their patient, chair and
    protocol names joined), their latest current readings, their open alerts, and the
    chairs.
    """
    start, end = clinic.day_bounds(day)
    # The latest current reading of each session: the newest that nothing amends (so its
    # `amended_by`, joined, is known to be none rather than asked once a row).
    latest = (
        VitalSigns.objects.filter(amended_by__isnull=True)
        .select_related("amended_by")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("session_id"),
                order_by=[F("measured_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank=1)
    )
    open_alerts = Alert.objects.filter(acknowledged_at__isnull=True).order_by("raised_at", "id")
    sessions = list(
        # Through the clinic's manager: each session knows its clinic without asking.
        clinic.sessions.filter(starts_at__gte=start, starts_at__lt=end)
        .select_related("patient")
        .annotate(chair_name=F("chair__name"), protocol_name=F("course__protocol__name"))
        .prefetch_related(
            Prefetch("vitals", queryset=latest, to_attr="latest_readings"),
            Prefetch("alerts", queryset=open_alerts, to_attr="open_alerts"),
        )
        .order_by("starts_at", "chair__name", "id")
    )
    for s in sessions:
        s.latest_vitals = s.latest_readings[0] if s.latest_readings else None
    chairs = list(chairs_active(clinic=clinic))
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
