"""The session chart: what a nurse records from check-in to discharge.

Clinical records here are written by the services in scheduling/chart/services.py and
never edited in place: vitals and side effects are corrected by a new row that amends
the old one (the original stays), and the other records are one per session.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length, Trim
from django.db.models.lookups import GreaterThan
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords

from clinic.models import Clinic
from clinic.validators import WEIGHT_KG_BELOW, ConstraintErrorsOnFields, validate_weight_kg
from patients.models import Patient, QuestionnaireResponse

from ..booking.models import Protocol, Session

_USER = settings.AUTH_USER_MODEL


def _has_text(field: str) -> GreaterThan:
    return GreaterThan(Length(Trim(field)), 0)


class ChecklistItem(models.TextChoices):
    """What must be done (or waived by a clinician) before dosing."""

    FASTING = "fasting", "Fasting per the protocol's rule"
    ESCORT = "escort", "Escort or ride home confirmed"
    WEIGHT = "weight", "Weight recorded"
    PRE_DOSE_VITALS = "pre_dose_vitals", "Pre-dose vitals"
    PHQ9 = "phq9", "PHQ-9 (the clinic asks for one)"


class CheckIn(models.Model):
    """The pre-session checklist, as found when the nurse checked the patient in."""

    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="check_in")
    checked_in_at = models.DateTimeField()
    checked_in_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    fasting_confirmed = models.BooleanField(
        default=False, help_text="The patient kept the protocol's fasting rule."
    )
    escort_confirmed = models.BooleanField(
        default=False, help_text="Someone will take the patient home (no driving)."
    )
    escort_name = models.CharField(max_length=200, blank=True)
    escort_phone = PhoneNumberField(blank=True)
    weight_kg = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[validate_weight_kg],
        help_text="Weighed today.",
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "check-in"
        constraints = [
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=True)
                | Q(weight_kg__gt=0, weight_kg__lt=WEIGHT_KG_BELOW),
                name="check_in_weight_plausible",
                violation_error_message="A weight is in kilograms, above 0 and below 400.",
            ),
            # "Escort confirmed" with nobody named would not help at discharge.
            models.CheckConstraint(
                condition=Q(escort_confirmed=False) | _has_text("escort_name"),
                name="check_in_escort_named",
                violation_error_message="Name the escort who will take the patient home.",
            ),
        ]

    def __str__(self) -> str:
        return f"Check-in of session {self.session_id}"


class ClinicChecklistItem(models.Model):
    """An item a clinic adds to the check-in checklist ("No nasal decongestant in the
    last hour"): asked at check-in, and gating the dose like the built-in items."""

    KEY_PREFIX = "clinic_item_"  # its key on the chart and in a waiver: clinic_item_<id>

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="checklist_items")
    label = models.CharField(max_length=200, help_text="The item as the nurse reads it.")
    drug = models.CharField(
        max_length=20, choices=Protocol.Drug.choices, blank=True,
        help_text="Asked for this drug's protocols only. Blank: every drug.",
    )  # fmt: skip
    protocols = models.ManyToManyField(
        Protocol, blank=True, related_name="clinic_checklist_items",
        help_text="Asked for these protocols only. Blank: every protocol (of the drug above).",
    )  # fmt: skip
    is_active = models.BooleanField(
        default=True,
        help_text="Retire an item instead of deleting it: it is no longer asked, and the "
        "check-ins that asked it keep it.",
    )
    order = models.PositiveSmallIntegerField(default=0, help_text="Position on the checklist.")

    history = HistoricalRecords(m2m_fields=[protocols])

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=_has_text("label"),
                name="clinic_checklist_item_has_label",
                violation_error_message="Write the item as the nurse should read it.",
            ),
        ]

    def __str__(self) -> str:
        return self.label if self.is_active else f"{self.label} (retired)"

    @property
    def key(self) -> str:
        return f"{self.KEY_PREFIX}{self.pk}"


class ClinicChecklistAnswer(models.Model):
    """One clinic item as asked at one check-in: the label as the nurse read it then
    (a later edit or retirement of the item changes nothing here), and whether done."""

    check_in = models.ForeignKey(CheckIn, on_delete=models.PROTECT, related_name="answers")
    item = models.ForeignKey(ClinicChecklistItem, on_delete=models.PROTECT, related_name="answers")
    label = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        _USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["item__order", "item_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["check_in", "item"],
                name="answer_once_per_item",
                violation_error_message="A check-in asks each item once.",
            ),
            models.CheckConstraint(
                condition=Q(done=False) | Q(done_at__isnull=False, done_by__isnull=False),
                name="answer_done_by_someone",
                violation_error_message="An item done is done by someone, at a time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {'done' if self.done else 'not done'}"

    @property
    def key(self) -> str:
        return f"{ClinicChecklistItem.KEY_PREFIX}{self.item_id}"


class ChecklistWaiver(ConstraintErrorsOnFields, models.Model):
    """A clinician lets dosing go ahead without one checklist item, in writing."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="waivers")
    # A built-in item (ChecklistItem) or a clinic's (clinic_item_<id>), as the chart keys it.
    item = models.CharField(max_length=40)
    waived_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    waived_at = models.DateTimeField()

    history = HistoricalRecords()

    constraint_fields = {"waiver_taken": "item"}

    class Meta:
        ordering = ["waived_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "item"],
                name="waiver_once_per_item",
                violation_error_message="This checklist item is waived already for this session.",
                violation_error_code="waiver_taken",
            ),
            models.CheckConstraint(
                condition=_has_text("reason"),
                name="waiver_has_reason",
                violation_error_message="Write why the checklist item is waived.",
            ),
        ]

    def __str__(self) -> str:
        return f"Waiver of {self.item} for session {self.session_id}"


class DoseAdministration(models.Model):
    """The dose given at one session. IV: by weight over minutes; intranasal: by devices."""

    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="dose")
    route = models.CharField(max_length=20, choices=Protocol.Route.choices)
    drug = models.CharField(max_length=20, choices=Protocol.Drug.choices)
    # IV: mg/kg x the weight recorded at check-in = total mg, infused over minutes.
    mg_per_kg = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    weight_kg = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[validate_weight_kg],
        help_text="Weight used.",
    )
    infusion_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    # Both routes: the total. Intranasal: devices x mg per device.
    total_mg = models.DecimalField(max_digits=6, decimal_places=1)
    devices = models.PositiveSmallIntegerField(null=True, blank=True)
    device_mg = models.PositiveSmallIntegerField(null=True, blank=True)
    lot_number = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField(help_text="Infusion start, or the first device.")
    ended_at = models.DateTimeField(help_text="Infusion end, or the last device.")
    administered_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    # Outside the protocol's range (or not the first-dose rule): a clinician signed off.
    signed_off_by = models.ForeignKey(
        _USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sign_off_reason = models.TextField(blank=True)
    signed_off_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "dose"
        constraints = [
            models.CheckConstraint(
                condition=Q(total_mg__gt=0),
                name="dose_total_positive",
                violation_error_message="A dose is more than 0 mg.",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__gte=F("started_at")),
                name="dose_ends_after_start",
                violation_error_message="A dose cannot end before it started.",
            ),
            models.CheckConstraint(
                condition=~Q(route="iv")
                | Q(
                    mg_per_kg__gt=0,
                    weight_kg__gt=0,
                    infusion_minutes__gte=1,
                    devices__isnull=True,
                ),
                name="dose_iv_fields",
                violation_error_message="An IV dose needs mg/kg, the weight and the infusion "
                "minutes, and no devices.",
            ),
            models.CheckConstraint(
                condition=~Q(route="intranasal")
                | (
                    Q(devices__gte=1, device_mg__gte=1, mg_per_kg__isnull=True)
                    & Q(total_mg=F("devices") * F("device_mg"))
                    & _has_text("lot_number")
                ),
                name="dose_intranasal_fields",
                violation_error_message="An intranasal dose is a number of devices of the same "
                "mg, with a lot number.",
            ),
            models.CheckConstraint(
                condition=Q(signed_off_by__isnull=True, signed_off_at__isnull=True)
                | (
                    Q(signed_off_by__isnull=False, signed_off_at__isnull=False)
                    & _has_text("sign_off_reason")
                ),
                name="dose_sign_off_complete",
                violation_error_message="A dose sign-off needs the clinician, the time and a "
                "reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"Dose of session {self.session_id}: {self.total_mg} mg"


class DeviceAdministration(models.Model):
    """One intranasal device (28 mg), a set interval after the one before."""

    dose = models.ForeignKey(
        DoseAdministration, on_delete=models.PROTECT, related_name="devices_given"
    )
    number = models.PositiveSmallIntegerField()
    given_at = models.DateTimeField()

    class Meta:
        ordering = ["dose", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["dose", "number"],
                name="device_number_unique",
                violation_error_message="Each device of a dose has its own number.",
            ),
            models.CheckConstraint(
                condition=Q(number__gte=1),
                name="device_number_positive",
                violation_error_message="Devices are numbered from 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"Device {self.number} of dose {self.dose_id}"


# Physiologically impossible outside these: an input error, never an alert (CLINICAL.md 4).
VITAL_BOUNDS = {
    "systolic": (50, 300),
    "diastolic": (20, 200),
    "heart_rate": (20, 250),
    "spo2": (50, 100),
    "respiratory_rate": (4, 60),
    "temperature_c": (30, 43),
}


class VitalSigns(models.Model):
    """One set of vitals. Append-only: a correction is a new row that amends this one."""

    class Timepoint(models.TextChoices):
        PRE_DOSE = "pre_dose", "Pre-dose"
        DURING = "during", "During the dose"
        POST_DOSE_40 = "post_dose_40", "40 minutes after the dose"
        AFTER = "after", "After the dose"
        PRE_DISCHARGE = "pre_discharge", "Before discharge"

    # LOINC codes and UCUM units for the FHIR vital-signs profile (CLINICAL.md 10).
    LOINC = {
        "panel": "85354-9",
        "systolic": "8480-6",
        "diastolic": "8462-4",
        "heart_rate": "8867-4",
        "respiratory_rate": "9279-1",
        "spo2": "59408-5",
        "temperature_c": "8310-5",
    }
    UCUM = {
        "systolic": "mm[Hg]",
        "diastolic": "mm[Hg]",
        "heart_rate": "/min",
        "respiratory_rate": "/min",
        "spo2": "%",
        "temperature_c": "Cel",
    }

    # No index of its own: vitals_session_time_idx (session, measured_at) serves every
    # lookup by session, and a second index on the largest table only slows each insert.
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, related_name="vitals", db_index=False
    )
    timepoint = models.CharField(max_length=20, choices=Timepoint.choices)
    measured_at = models.DateTimeField()
    systolic = models.PositiveSmallIntegerField("systolic (mmHg)")
    diastolic = models.PositiveSmallIntegerField("diastolic (mmHg)")
    heart_rate = models.PositiveSmallIntegerField("heart rate (/min)")
    spo2 = models.PositiveSmallIntegerField("SpO2 (%)")
    respiratory_rate = models.PositiveSmallIntegerField(
        "respiratory rate (/min)", null=True, blank=True
    )
    temperature_c = models.DecimalField(
        "temperature (°C)", max_digits=3, decimal_places=1, null=True, blank=True
    )
    recorded_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    amends = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="amended_by",
        help_text="The reading this one corrects; that one is kept.",
    )
    amendment_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["measured_at", "id"]
        verbose_name = "vital signs"
        verbose_name_plural = "vital signs"
        indexes = [models.Index(fields=["session", "measured_at"], name="vitals_session_time_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(systolic__gte=50, systolic__lte=300),
                name="vitals_systolic_possible",
                violation_error_message="A systolic pressure is from 50 to 300 mmHg.",
            ),
            models.CheckConstraint(
                condition=Q(diastolic__gte=20, diastolic__lte=200, diastolic__lt=F("systolic")),
                name="vitals_diastolic_possible",
                violation_error_message="A diastolic pressure is from 20 to 200 mmHg, below the "
                "systolic.",
            ),
            models.CheckConstraint(
                condition=Q(heart_rate__gte=20, heart_rate__lte=250),
                name="vitals_heart_rate_possible",
                violation_error_message="A heart rate is from 20 to 250 a minute.",
            ),
            models.CheckConstraint(
                condition=Q(spo2__gte=50, spo2__lte=100),
                name="vitals_spo2_possible",
                violation_error_message="An SpO2 is from 50 to 100 %%.",
            ),
            models.CheckConstraint(
                condition=Q(respiratory_rate__isnull=True)
                | Q(respiratory_rate__gte=4, respiratory_rate__lte=60),
                name="vitals_respiratory_rate_possible",
                violation_error_message="A respiratory rate is from 4 to 60 a minute.",
            ),
            models.CheckConstraint(
                condition=Q(temperature_c__isnull=True)
                | Q(temperature_c__gte=30, temperature_c__lte=43),
                name="vitals_temperature_possible",
                violation_error_message="A temperature is from 30 to 43 °C.",
            ),
            models.CheckConstraint(
                condition=Q(amends__isnull=True) | _has_text("amendment_reason"),
                name="vitals_amendment_has_reason",
                violation_error_message="Write why the reading is corrected.",
            ),
        ]

    def __str__(self) -> str:
        return f"Vitals {self.pk} of session {self.session_id}"

    @property
    def blood_pressure(self) -> str:
        return f"{self.systolic}/{self.diastolic}"


class SideEffect(models.Model):
    """One side effect at one session. Append-only, amended like vitals (e.g. resolved)."""

    class Kind(models.TextChoices):
        # CLINICAL.md section 5 (founding documents and the Spravato label).
        RAISED_BLOOD_PRESSURE = "raised_blood_pressure", "Raised blood pressure"
        NAUSEA = "nausea", "Nausea"
        VOMITING = "vomiting", "Vomiting"
        PERCEPTUAL = "perceptual", "Perceptual disturbance (time, colour, texture)"
        DISSOCIATION = "dissociation", "Dissociation"
        SEDATION = "sedation", "Sedation"
        DIZZINESS = "dizziness", "Dizziness"
        HEADACHE = "headache", "Headache"
        ANXIETY = "anxiety", "Anxiety"
        URINARY = "urinary", "Bladder or urinary symptoms"
        RESPIRATORY_DEPRESSION = "respiratory_depression", "Respiratory depression"
        PSYCHOTIC_LIKE = "psychotic_like", "Psychotic-like symptoms"
        OTHER = "other", "Other (describe in the notes)"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    CADSS_MAX = 92  # 23 items scored 0-4
    MOAAS_MAX = 5  # 5 = responds readily to name, 0 = unresponsive

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="side_effects")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    onset_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    serious = models.BooleanField(default=False, help_text="A serious adverse event.")
    cadss = models.PositiveSmallIntegerField("CADSS total", null=True, blank=True)
    moaa_s = models.PositiveSmallIntegerField("MOAA/S", null=True, blank=True)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    amends = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="amended_by"
    )
    amendment_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["onset_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("onset_at")),
                name="side_effect_resolves_after_onset",
                violation_error_message="A side effect cannot resolve before its onset.",
            ),
            models.CheckConstraint(
                condition=Q(cadss__isnull=True) | Q(cadss__lte=92),
                name="side_effect_cadss_range",
                violation_error_message="A CADSS score is from 0 to 92.",
            ),
            models.CheckConstraint(
                condition=Q(moaa_s__isnull=True) | Q(moaa_s__lte=5),
                name="side_effect_moaas_range",
                violation_error_message="A MOAA/S score is from 0 to 5.",
            ),
            models.CheckConstraint(
                condition=Q(amends__isnull=True) | _has_text("amendment_reason"),
                name="side_effect_amendment_has_reason",
                violation_error_message="Write why the side effect is corrected.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at session {self.session_id}"


class Alert(models.Model):
    """Asks a clinician to act. It never stops anything by itself, except that a session
    is not discharged while one of its alerts is unacknowledged."""

    class Kind(models.TextChoices):
        PRE_DOSE_CAUTION = "pre_dose_caution", "Pre-dose blood pressure caution"
        VITALS_THRESHOLD = "vitals_threshold", "Vital signs past a threshold"
        SERIOUS_SIDE_EFFECT = "serious_side_effect", "Serious side effect"
        PHQ9_ITEM9 = "phq9_item9", "PHQ-9 item 9 (thoughts of self-harm)"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="alerts")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alerts")
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    vitals = models.ForeignKey(
        VitalSigns, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts"
    )
    side_effect = models.ForeignKey(
        SideEffect, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts"
    )
    questionnaire = models.ForeignKey(
        QuestionnaireResponse,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    message = models.TextField()
    raised_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        _USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_note = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(
                fields=["clinic", "raised_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="alert_open_idx",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(acknowledged_by__isnull=True, acknowledged_at__isnull=True)
                | (
                    Q(acknowledged_by__isnull=False, acknowledged_at__isnull=False)
                    & _has_text("acknowledgement_note")
                ),
                name="alert_acknowledgement_complete",
                violation_error_message="An acknowledgement needs who, when and a note.",
            ),
            # Every alert points at the record that raised it.
            models.CheckConstraint(
                condition=Q(kind__in=["pre_dose_caution", "vitals_threshold"], vitals__isnull=False)
                | Q(kind="serious_side_effect", side_effect__isnull=False)
                | Q(kind="phq9_item9", questionnaire__isnull=False),
                name="alert_has_its_source",
                violation_error_message="An alert refers to the reading, side effect or "
                "questionnaire that raised it.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (alert {self.pk})"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


class ReadyToLeave(models.Model):
    """A clinician's judgement that the patient has recovered enough to go (the esketamine
    REMS form asks for its time). Corrected before discharge with a reason; the history
    keeps every earlier value."""

    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="ready_to_leave")
    ready_at = models.DateTimeField()
    judged_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    note = models.TextField(blank=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Ready to leave, session {self.session_id}"


class Discharge(models.Model):
    """Who let the patient go, when, after how long, and with whom."""

    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="discharge")
    discharged_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    discharged_at = models.DateTimeField()
    monitoring_from = models.DateTimeField(
        help_text="Esketamine: the first device; IV: the end of the infusion."
    )
    monitoring_minutes = models.PositiveIntegerField()
    escort_name = models.CharField(max_length=200)
    escort_phone = PhoneNumberField(blank=True)
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(discharged_at__gte=F("monitoring_from")),
                name="discharge_after_monitoring_start",
                violation_error_message="A discharge cannot come before the monitoring started.",
            ),
            models.CheckConstraint(
                condition=_has_text("escort_name"),
                name="discharge_has_escort",
                violation_error_message="Name the escort who takes the patient home.",
            ),
        ]

    def __str__(self) -> str:
        return f"Discharge of session {self.session_id}"


class RemsReport(models.Model):
    """What the esketamine REMS monitoring form asks that the chart does not hold, and
    whether the form was filed (within 7 days of the session)."""

    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="rems_report")
    benzodiazepines = models.BooleanField("concomitant benzodiazepines", null=True)
    non_benzo_sedatives = models.BooleanField(
        "concomitant non-benzodiazepine sedative hypnotics", null=True
    )
    psychostimulants = models.BooleanField("concomitant psychostimulants", null=True)
    maois = models.BooleanField("concomitant MAOIs", null=True)
    monitoring_clinician = models.ForeignKey(
        _USER,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Blank: whoever discharged the patient.",
    )
    setting = models.CharField(
        "monitoring setting", max_length=200, default="Outpatient healthcare setting"
    )
    recorded_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    filed_at = models.DateTimeField(null=True, blank=True)
    filed_by = models.ForeignKey(
        _USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    filed_reference = models.CharField(max_length=100, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "REMS report"
        constraints = [
            models.CheckConstraint(
                condition=Q(filed_at__isnull=True, filed_by__isnull=True)
                | Q(filed_at__isnull=False, filed_by__isnull=False),
                name="rems_report_filed_by_and_at",
                violation_error_message="A filed REMS form needs who filed it and when.",
            )
        ]

    def __str__(self) -> str:
        return f"REMS report of session {self.session_id}"
