"""Who is treated, and whether they may be: screening against contraindications."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length, Trim
from django.db.models.lookups import GreaterThan
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords

from clinic.models import Clinic
from clinic.validators import (
    WEIGHT_KG_BELOW,
    ConstraintErrorsOnFields,
    validate_birth_date,
    validate_not_in_future,
    validate_timezone,
    validate_weight_kg,
)


class Patient(ConstraintErrorsOnFields, models.Model):
    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("medical record number", max_length=40)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    birth_date = models.DateField(validators=[validate_birth_date])
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    email = models.EmailField(blank=True)
    phone = PhoneNumberField(blank=True)
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text="The patient's own time zone for reminders; blank means the clinic's.",
    )
    weight_kg = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[validate_weight_kg],
        help_text="Last known weight.",
    )
    escort_name = models.CharField(max_length=200, blank=True)
    escort_phone = PhoneNumberField(blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient",
        help_text="Portal login, if the patient has one.",
    )
    rems_patient_id = models.CharField(
        "REMS patient ID",
        max_length=40,
        blank=True,
        help_text="The patient's ID in the esketamine (Spravato) REMS, once enrolled.",
    )
    rems_enrolled_on = models.DateField(
        "REMS enrolment date",
        null=True,
        blank=True,
        validators=[validate_not_in_future],
        help_text="When the enrolment took effect.",
    )
    # Reminder preferences. Quiet hours are in the patient's own time zone; blank means
    # the clinic's default (scheduling's ReminderPolicy).
    remind_by_email = models.BooleanField("reminders by e-mail", default=True)
    remind_by_sms = models.BooleanField("reminders by text message", default=True)
    reminders_opt_out = models.BooleanField(
        "opted out of reminders", default=False, help_text="No reminders through any channel."
    )
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    # The secret in the patient's calendar feed URL (/calendar/<token>.ics). Random, so a
    # new one revokes the old link; blank until the patient asks for a feed. Not kept in
    # the history: an old secret must not linger anywhere.
    calendar_token = models.CharField(max_length=64, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["calendar_token"])

    constraint_fields = {"mrn_taken": "mrn"}

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "mrn"],
                name="patient_mrn_unique_in_clinic",
                violation_error_code="mrn_taken",
                violation_error_message="Another patient of this clinic has this medical "
                "record number already.",
            ),
            models.UniqueConstraint(
                fields=["calendar_token"],
                condition=~Q(calendar_token=""),
                name="patient_calendar_token_unique",
                violation_error_message="This calendar link is in use: make a new one.",
            ),
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=True)
                | Q(weight_kg__gt=0, weight_kg__lt=WEIGHT_KG_BELOW),
                name="patient_weight_plausible",
                violation_error_message="A weight is in kilograms, above 0 and below 400.",
            ),
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="patient_quiet_hours_both_or_neither",
                violation_error_message="Give both ends of the quiet hours, or neither.",
            ),
            # Enrolment is one fact: an ID without a date (or the reverse) is a typing slip.
            models.CheckConstraint(
                condition=Q(rems_patient_id="", rems_enrolled_on__isnull=True)
                | (~Q(rems_patient_id="") & Q(rems_enrolled_on__isnull=False)),
                name="patient_rems_id_and_date_together",
                violation_error_message="Give the REMS patient ID and its enrolment date "
                "together, or neither.",
            ),
        ]

    def __str__(self) -> str:
        # Used in the admin only; logs use ids.
        return f"{self.last_name}, {self.first_name} ({self.mrn})"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone or self.clinic.timezone)

    @property
    def is_rems_enrolled(self) -> bool:
        return bool(self.rems_patient_id.strip()) and self.rems_enrolled_on is not None

    def clean(self) -> None:
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            raise ValidationError(
                {"quiet_hours_end": "Give both ends of the quiet hours, or neither."}
            )
        has_id = bool(self.rems_patient_id.strip())
        if has_id and self.rems_enrolled_on is None:
            raise ValidationError({"rems_enrolled_on": "Give the date of the REMS enrolment."})
        if not has_id and self.rems_enrolled_on is not None:
            raise ValidationError({"rems_patient_id": "Give the REMS patient ID."})


class Contraindication(models.Model):
    """One item of the screening checklist, editable by clinicians.

    Which protocols an item applies to is kept in scheduling (Protocol.contraindications),
    since imports run scheduling -> patients.
    """

    class Kind(models.TextChoices):
        ABSOLUTE = "absolute", "Absolute (blocks booking)"
        RELATIVE = "relative", "Relative (needs a clinician's sign-off with a reason)"

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200, help_text="The question as staff read it.")
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    is_active = models.BooleanField(
        default=True,
        help_text="Retire an item instead of deleting it: past screenings still refer to it.",
    )
    order = models.PositiveSmallIntegerField(default=0, help_text="Position on the checklist.")

    class Meta:
        ordering = ["order", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["absolute", "relative"]),
                name="contraindication_kind_valid",
                violation_error_message="A contraindication is absolute or relative.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_absolute(self) -> bool:
        return self.kind == self.Kind.ABSOLUTE


class Screening(models.Model):
    """A patient's answers to the whole checklist at one moment. The latest one counts.

    A screening is a record: a correction is a new screening, never an edit.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    screened_at = models.DateTimeField(help_text="When the answers were taken (stored in UTC).")
    screened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-screened_at", "-id"]
        indexes = [models.Index(fields=["patient", "-screened_at"], name="screening_latest_idx")]

    def __str__(self) -> str:
        # Ids only: this string may reach logs.
        return f"Screening {self.pk} of patient {self.patient_id}"

    @property
    def findings(self) -> list["ScreeningAnswer"]:
        """The items answered yes (from prefetched answers, if any)."""
        return [a for a in self.answers.all() if a.present]

    @property
    def awaiting_sign_off(self) -> list["ScreeningAnswer"]:
        return [a for a in self.findings if a.awaits_sign_off]


class ScreeningAnswer(models.Model):
    screening = models.ForeignKey(Screening, on_delete=models.CASCADE, related_name="answers")
    contraindication = models.ForeignKey(
        Contraindication, on_delete=models.PROTECT, related_name="answers"
    )
    present = models.BooleanField(help_text="Yes: the patient has this condition or takes this.")
    note = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["screening", "contraindication__order", "contraindication__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["screening", "contraindication"],
                name="screening_answer_once_per_item",
                violation_error_message="Each checklist item is answered once in a screening.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.contraindication}: {'yes' if self.present else 'no'}"

    @property
    def awaits_sign_off(self) -> bool:
        """A present relative finding no clinician has signed off yet (what
        screening_sign_off accepts). Read with `sign_off` joined, or it asks once more."""
        if not self.present or self.contraindication.is_absolute:
            return False
        return not hasattr(self, "sign_off")


class ScreeningSignOff(models.Model):
    """A clinician accepts a present relative contraindication, in writing.

    Never edited or deleted: a new screening brings new answers and new sign-offs.
    """

    answer = models.OneToOneField(
        ScreeningAnswer, on_delete=models.PROTECT, related_name="sign_off"
    )
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(help_text="Why treatment may go ahead despite this finding.")
    signed_at = models.DateTimeField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["-signed_at", "-id"]
        verbose_name = "screening sign-off"
        constraints = [
            models.CheckConstraint(
                condition=GreaterThan(Length(Trim("reason")), 0),
                name="screening_sign_off_has_reason",
                violation_error_message="Write why treatment may go ahead.",
            )
        ]

    def __str__(self) -> str:
        return f"Sign-off {self.pk} of answer {self.answer_id}"

    def clean(self) -> None:
        if not (self.reason or "").strip():
            raise ValidationError({"reason": "Write why treatment may go ahead."})


class RecordAccess(models.Model):
    """Who read a patient's record, when, and through what (the read log)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="record_reads"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="record_reads")
    accessed_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=80, help_text="e.g. api:patient:retrieve")

    class Meta:
        ordering = ["-accessed_at", "-id"]
        verbose_name = "record access"
        indexes = [models.Index(fields=["patient", "accessed_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} read patient {self.patient_id} ({self.action})"


class QuestionnaireResponse(models.Model):
    """One PHQ-9 or GAD-7, as answered. A record: a correction is a new response.

    Linked to a session by time, not by a key: patients cannot refer to scheduling, and a
    PHQ-9 filled in at home on the morning of a session counts for that session.
    """

    class Kind(models.TextChoices):
        PHQ9 = "phq9", "PHQ-9"
        GAD7 = "gad7", "GAD-7"

    class Band(models.TextChoices):
        MINIMAL = "minimal", "Minimal"
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        MODERATELY_SEVERE = "moderately_severe", "Moderately severe"
        SEVERE = "severe", "Severe"

    ITEMS = {Kind.PHQ9: 9, Kind.GAD7: 7}
    ITEM_MAX = 3
    # Lower bound of each band (Kroenke 2001; Spitzer 2006), highest first.
    BANDS = {
        Kind.PHQ9: [
            (20, Band.SEVERE),
            (15, Band.MODERATELY_SEVERE),
            (10, Band.MODERATE),
            (5, Band.MILD),
            (0, Band.MINIMAL),
        ],
        Kind.GAD7: [(15, Band.SEVERE), (10, Band.MODERATE), (5, Band.MILD), (0, Band.MINIMAL)],
    }
    LOINC_TOTAL = {Kind.PHQ9: "44261-6", Kind.GAD7: "70274-6"}

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="questionnaires")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    items = models.JSONField(help_text="Item scores in order, each 0-3.")
    total = models.PositiveSmallIntegerField()
    band = models.CharField(max_length=20, choices=Band.choices)
    completed_at = models.DateTimeField(help_text="When the patient answered (stored in UTC).")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["-completed_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "kind", "completed_at"], name="questionnaire_time_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="phq9", total__lte=27) | Q(kind="gad7", total__lte=21),
                name="questionnaire_total_in_range",
                violation_error_message="A PHQ-9 totals 0-27 and a GAD-7 0-21.",
            ),
            models.CheckConstraint(
                condition=Q(
                    band__in=["minimal", "mild", "moderate", "moderately_severe", "severe"]
                ),
                name="questionnaire_band_valid",
                violation_error_message="Unknown severity band.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} of patient {self.patient_id}: {self.total}"

    @classmethod
    def band_for(cls, kind: str, total: int) -> str:
        return next(band for low, band in cls.BANDS[kind] if total >= low)

    @property
    def item9(self) -> int | None:
        """PHQ-9 item 9: thoughts of self-harm."""
        return self.items[8] if self.kind == self.Kind.PHQ9 else None
