"""Booking's records: treatment protocols (a drug, a route, the safety rules of a
session, and ordered phases), courses (a patient's run through a protocol) and their
concrete sessions, and the notices to staff about them."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from clinic.models import Chair, Clinic
from clinic.validators import ConstraintErrorsOnFields
from patients.models import Patient

# A route's plausibility limits, above any range a clinician may sign off (CLINICAL.md
# section 2: IV 0.1-1.0 mg/kg is the range used; esketamine 84 mg is 3 devices); a
# protocol may set its own.
DOSE_CEILINGS = {"iv": (Decimal("2.00"), 200), "intranasal": (None, 84)}


class Protocol(ConstraintErrorsOnFields, models.Model):
    class Drug(models.TextChoices):
        KETAMINE = "ketamine", "Racemic ketamine"
        ESKETAMINE = "esketamine", "Esketamine"

    class Route(models.TextChoices):
        IV = "iv", "Intravenous infusion"
        INTRANASAL = "intranasal", "Intranasal"

    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="protocols",
        help_text="Blank for a built-in protocol that every clinic can use.",
    )
    code = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    drug = models.CharField(max_length=20, choices=Drug.choices)
    route = models.CharField(max_length=20, choices=Route.choices)
    is_active = models.BooleanField(default=True)

    session_minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1, "A session lasts at least one minute.")],
        help_text="Chair time booked for one session, from arrival to discharge.",
    )
    min_observation_minutes = models.PositiveSmallIntegerField(
        help_text="Least monitoring before discharge (esketamine: 120 from the first device)."
    )
    min_gap_hours = models.PositiveSmallIntegerField(
        default=48,
        help_text="Least time between two sessions of a course (48 h: never consecutive days).",
    )
    fasting_food_minutes = models.PositiveSmallIntegerField(
        default=0, help_text="No food for this long before the session."
    )
    fasting_liquids_minutes = models.PositiveSmallIntegerField(
        default=0, help_text="No liquids (clear liquids for IV) for this long before."
    )
    # The check-in checklist: an escort and pre-dose vitals are always asked (discharge
    # and the pre-dose caution need them); a clinic adds its own items
    # (ClinicChecklistItem) and the PHQ-9 (Clinic.phq9_required_at_check_in).
    check_in_fasting = models.BooleanField(
        "check-in asks about fasting", default=True,
        help_text="The nurse confirms the fasting rule above was kept before dosing.",
    )  # fmt: skip
    check_in_weight = models.BooleanField(
        "check-in asks for the weight", default=True,
        help_text="The patient is weighed before dosing (always for IV: the dose is by weight).",
    )  # fmt: skip

    # IV: dose by weight.
    dose_mg_per_kg = models.DecimalField(
        max_digits=4, decimal_places=2, null=True, blank=True, help_text="Usual IV dose."
    )
    dose_mg_per_kg_min = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    dose_mg_per_kg_max = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    infusion_minutes = models.PositiveSmallIntegerField(null=True, blank=True)

    # Monitoring: the readings the chart asks for besides pre-dose, 40 minutes and
    # before leaving (CLINICAL.md: IV every 10-15 minutes; esketamine those three only).
    vitals_every_minutes_during = models.PositiveSmallIntegerField(
        "vitals every (minutes) during the dose", null=True, blank=True,
        validators=[MinValueValidator(1, "Vitals are taken at least every minute.")],
        help_text="Blank: no interval readings during the dose (esketamine).",
    )  # fmt: skip
    vitals_every_minutes_after = models.PositiveSmallIntegerField(
        "vitals every (minutes) after the dose", null=True, blank=True,
        validators=[MinValueValidator(1, "Vitals are taken at least every minute.")],
        help_text="Blank: no interval readings after the dose (esketamine).",
    )  # fmt: skip
    pulse_oximetry_throughout = models.BooleanField(
        default=False, help_text="Esketamine (REMS): SpO2 monitored throughout the session."
    )
    # Intranasal: dose by devices.
    device_mg = models.PositiveSmallIntegerField(null=True, blank=True)
    dose_mg_min = models.PositiveSmallIntegerField(null=True, blank=True)
    dose_mg_max = models.PositiveSmallIntegerField(null=True, blank=True)
    first_dose_mg = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="The patient's first dose of this drug ever (blank: no first-dose rule).",
    )  # fmt: skip
    first_dose_mg_65_and_over = models.PositiveSmallIntegerField(
        "first dose at 65 and over", null=True, blank=True,
        help_text="EU SmPC: esketamine starts at 28 mg from 65. Blank: the first dose above.",
    )  # fmt: skip
    device_interval_minutes = models.PositiveSmallIntegerField(null=True, blank=True)

    # Plausibility ceilings no sign-off lifts (blank: the route's, DOSE_CEILINGS).
    dose_ceiling_mg_per_kg = models.DecimalField(
        max_digits=4, decimal_places=2, null=True, blank=True,
        help_text="IV: no dose above this many mg/kg is recorded, signed off or not. "
        "Blank: 2.00.",
    )  # fmt: skip
    dose_ceiling_mg = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="No session's dose above this many mg is recorded, signed off or not. "
        "Blank: IV 200, intranasal 84.",
    )  # fmt: skip

    # Screening: the checklist items that can stop a course of this protocol.
    contraindications = models.ManyToManyField(
        "patients.Contraindication",
        blank=True,
        related_name="protocols",
        help_text="Checklist items that apply to this protocol; a finding on another item "
        "does not stop a course of it.",
    )

    history = HistoricalRecords()

    constraint_fields = {"protocol_code_taken": "code"}

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "code"],
                name="protocol_code_unique_in_clinic",
                violation_error_message="This clinic has a protocol with this code already.",
                violation_error_code="protocol_code_taken",
            ),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(clinic__isnull=True),
                name="protocol_code_unique_builtin",
                violation_error_message="A built-in protocol has this code already.",
                violation_error_code="protocol_code_taken",
            ),
            models.CheckConstraint(
                condition=Q(session_minutes__gt=0),
                name="protocol_session_minutes_positive",
                violation_error_message="A session lasts at least a minute.",
            ),
            models.CheckConstraint(
                condition=Q(dose_mg_per_kg_min__isnull=True)
                | Q(dose_mg_per_kg_max__isnull=True)
                | Q(dose_mg_per_kg_max__gte=F("dose_mg_per_kg_min")),
                name="protocol_iv_dose_range_ordered",
                violation_error_message="The highest mg/kg cannot be below the lowest.",
            ),
            models.CheckConstraint(
                condition=Q(dose_mg_min__isnull=True)
                | Q(dose_mg_max__isnull=True)
                | Q(dose_mg_max__gte=F("dose_mg_min")),
                name="protocol_in_dose_range_ordered",
                violation_error_message="The highest dose cannot be below the lowest.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def rems_at(self, clinic: Clinic) -> bool:
        """Does the esketamine REMS apply to this protocol's sessions at this clinic?"""
        return clinic.rems_applies and self.drug == self.Drug.ESKETAMINE

    @classmethod
    def rems_sessions(cls) -> Q:
        """rems_at, for a query of sessions."""
        return Q(clinic__rems_applies=True, course__protocol__drug=cls.Drug.ESKETAMINE)

    def dose_ceilings(self) -> tuple[Decimal | None, int]:
        """(mg/kg, mg a session) above which a dose is refused even with a sign-off."""
        per_kg, mg = DOSE_CEILINGS[self.route]
        return (
            self.dose_ceiling_mg_per_kg if self.dose_ceiling_mg_per_kg is not None else per_kg,
            self.dose_ceiling_mg if self.dose_ceiling_mg is not None else mg,
        )

    @property
    def is_open_ended(self) -> bool:
        return any(phase.periods is None for phase in self.phases.all())

    def clean(self) -> None:
        errors = {}
        lo, hi = self.dose_mg_per_kg_min, self.dose_mg_per_kg_max
        if lo is not None and hi is not None and hi < lo:
            errors["dose_mg_per_kg_max"] = "The highest dose cannot be below the lowest."
        if lo is not None and lo <= Decimal("0"):
            errors["dose_mg_per_kg_min"] = "A dose must be above zero."
        if self.dose_mg_min and self.dose_mg_max and self.dose_mg_max < self.dose_mg_min:
            errors["dose_mg_max"] = "The highest dose cannot be below the lowest."
        if self.route == self.Route.IV and not self.check_in_weight:
            errors["check_in_weight"] = "An IV dose is by weight: check-in asks for the weight."
        if errors:
            raise ValidationError(errors)


class ProtocolPhase(models.Model):
    """A stretch of a protocol: `sessions_per_period` sessions every `period_length`
    weeks or months, for `periods` periods, or open-ended (maintenance) when blank."""

    class PeriodUnit(models.TextChoices):
        WEEK = "week", "week"
        MONTH = "month", "month"

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="phases")
    order = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    sessions_per_period = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1, "A phase needs at least one session per period.")],
    )
    period_unit = models.CharField(
        max_length=10, choices=PeriodUnit.choices, default=PeriodUnit.WEEK
    )
    period_length = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1, "A period is at least one week or month long.")],
        help_text="1 = every week (or month), 2 = every second one, ...",
    )
    periods = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1, "A phase lasts at least one period (blank: open-ended).")],
        help_text="How many periods the phase lasts; blank = open-ended.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["protocol", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "order"],
                name="phase_order_unique",
                violation_error_message="Each phase of a protocol has its own position.",
            ),
            models.CheckConstraint(
                condition=Q(sessions_per_period__gte=1),
                name="phase_has_sessions",
                violation_error_message="A phase has at least one session a period.",
            ),
            models.CheckConstraint(
                condition=Q(period_length__gte=1),
                name="phase_period_positive",
                violation_error_message="A period is at least 1 long.",
            ),
            models.CheckConstraint(
                condition=Q(periods__isnull=True) | Q(periods__gte=1),
                name="phase_length_positive",
                violation_error_message="A phase lasts at least one period, or is open-ended.",
            ),
        ]

    def __str__(self) -> str:
        every = (
            self.get_period_unit_display()
            if self.period_length == 1
            else f"{self.period_length} {self.get_period_unit_display()}s"
        )
        length = "open-ended" if self.periods is None else f"x{self.periods}"
        return f"{self.name}: {self.sessions_per_period} per {every}, {length}"

    @property
    def total_sessions(self) -> int | None:
        return None if self.periods is None else self.periods * self.sessions_per_period


class Course(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="courses")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="courses")
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="courses")
    start_date = models.DateField(help_text="First day of week 1, in the clinic's local calendar.")
    preferred_weekdays = models.JSONField(
        default=list, help_text="Weekday numbers, Monday = 0 ... Sunday = 6."
    )
    preferred_time = models.TimeField(help_text="Local wall-clock start time of each session.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    planned_until = models.DateField(
        null=True,
        blank=True,
        help_text="Open-ended maintenance is written out as sessions up to this local date.",
    )
    maintenance_every_weeks = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Set by a clinician: maintenance every this many weeks from the last held "
        "session, instead of the protocol's interval.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-start_date", "id"]
        indexes = [models.Index(fields=["clinic", "status"])]

    def __str__(self) -> str:
        return f"Course {self.pk}: {self.protocol} from {self.start_date}"


class SessionQuerySet(models.QuerySet):
    def mark_changed(self) -> int:
        """Move these sessions' `version` on: something their chart or their day board row
        shows has changed. The conditional GETs of the chart and the day board read it
        (scheduling.chart.selectors: chart_validator, day_board_validator)."""
        return self.update(version=F("version") + 1)


class Session(models.Model):
    """One visit to a chair. Start and end are stored in UTC.

    Statuses follow FHIR Appointment and Encounter: booked -> checked in (arrived) ->
    in progress -> monitoring -> discharged (fulfilled); or cancelled, or no-show.
    """

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CHECKED_IN = "checked_in", "Checked in"
        IN_PROGRESS = "in_progress", "In progress"
        MONITORING = "monitoring", "Monitoring"
        DISCHARGED = "discharged", "Discharged"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    # Statuses in which a session holds its chair and its patient's time.
    HOLDING = (
        Status.BOOKED,
        Status.CHECKED_IN,
        Status.IN_PROGRESS,
        Status.MONITORING,
        Status.DISCHARGED,
    )

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="sessions")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="sessions")
    # Denormalised from the course so the database can forbid a patient's overlaps.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="sessions")
    phase = models.ForeignKey(
        ProtocolPhase, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    chair = models.ForeignKey(
        Chair, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    number = models.PositiveIntegerField(help_text="1 for the first session of the course.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOOKED)
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(
        db_default=1,  # in the database too: the data generator's COPY leaves it out
        help_text="Moved on by every write that changes what the session's chart or its day "
        "board row shows (SessionQuerySet.mark_changed): the polls' ETags read it.",
    )

    history = HistoricalRecords()

    class Response(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"

    # The patient's answer to the confirm-or-cancel reminder, for this session time
    # (a move clears it). Written by scheduling.reminders.services.session_respond.
    patient_response = models.CharField(
        max_length=20, choices=Response.choices, blank=True, help_text="Patient's answer."
    )
    responded_at = models.DateTimeField(null=True, blank=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["course", "number"],
                name="session_number_unique",
                violation_error_message="Each session of a course has its own number.",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="session_ends_after_start",
                violation_error_message="A session must end after it starts.",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "starts_at"]),
            models.Index(fields=["chair", "starts_at"]),
            models.Index(fields=["patient", "starts_at"]),
        ]

    def __str__(self) -> str:
        return f"Session {self.number} of course {self.course_id}"


class SessionStatusChange(models.Model):
    """Who moved a session from one status to another, when, and why."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=Session.Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Session.Status.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["session", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"


class StaffNotice(models.Model):
    """Something the front desk or a nurse must act on, raised by the periodic tasks.

    The message names sessions and courses by number and time, never the patient: the
    admin links to the session for who it is.
    """

    class Kind(models.TextChoices):
        NO_SHOW = "no_show", "No-show: follow up"
        MAINTENANCE_DUE = "maintenance_due", "Maintenance needs booking"
        REMS_FORM_DUE = "rems_form_due", "REMS monitoring form due"
        PATIENT_CANCELLED = "patient_cancelled", "Patient cancelled from a reminder"
        REMINDER_FAILED = "reminder_failed", "Reminder could not be delivered"
        SCREENING_DUE = "screening_due", "Screening due before more sessions are booked"
        STOCK_DISCREPANCY = "stock_discrepancy", "Controlled-substance count discrepancy"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="staff_notices")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, null=True, blank=True, related_name="staff_notices"
    )
    course = models.ForeignKey(
        Course, on_delete=models.CASCADE, null=True, blank=True, related_name="staff_notices"
    )
    # A reminder that could not be delivered, by name: booking imports no reminders.
    reminder = models.ForeignKey(
        "scheduling.Reminder",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="staff_notices",
    )
    message = models.TextField()
    due_on = models.DateField(null=True, blank=True, help_text="Act by this date, if any.")
    # One notice per fact: periodic tasks run again and again, and this makes a second
    # run a no-op even when two run at once.
    dedupe_key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["resolved_at", "-created_at"]
        indexes = [
            models.Index(
                fields=["clinic", "created_at"],
                condition=Q(resolved_at__isnull=True),
                name="staff_notice_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.pk})"
