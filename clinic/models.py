"""The organisation: clinics, their calendars and chairs, and who works there."""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS
from phonenumber_field.modelfields import PhoneNumberField

from .validators import ConstraintErrorsOnFields, validate_timezone


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    timezone = models.CharField(
        max_length=64,
        validators=[validate_timezone],
        help_text="IANA name, e.g. Europe/London. Sessions are planned in this local time.",
    )
    address = models.TextField(blank=True)
    phone = PhoneNumberField(blank=True)
    email = models.EmailField(blank=True)
    crisis_line = models.CharField(
        "crisis line shown to patients",
        max_length=200,
        blank=True,
        help_text="Shown, with the clinic's phone, to a patient whose PHQ-9 answer on "
        'thoughts of self-harm is above 0 (e.g. "Samaritans: call 116 123, free, day or '
        "night\"). Empty: the clinic's phone only.",
    )
    maintenance_horizon_days = models.PositiveSmallIntegerField(
        default=90,
        validators=[MinValueValidator(7, "Write maintenance sessions out at least a week ahead.")],
        help_text="How far ahead open-ended maintenance sessions are written out.",
    )
    course_start_horizon_days = models.PositiveSmallIntegerField(
        "how far ahead a course may start (days)",
        default=365,
        validators=[MinValueValidator(1, "A course may start at least one day ahead.")],
        help_text="A new course starting later than this many days from today is refused: "
        "a start date that far out is usually a typing slip in the year.",
    )
    rems_applies = models.BooleanField(
        "esketamine REMS applies",
        default=True,
        help_text="United States clinics: the esketamine REMS (patient enrolment, a "
        "monitoring form for every session). Off outside the United States.",
    )
    minimum_age_years = models.PositiveSmallIntegerField(
        default=18,
        help_text="Patients younger than this (from the birth date) are refused at booking, "
        "check-in and when maintenance is written out.",
    )
    screening_valid_days = models.PositiveSmallIntegerField(
        default=180,
        validators=[MinValueValidator(1, "A screening stays current for at least one day.")],
        help_text=(
            "How many days a contraindication screening stays current; after that the "
            "patient is screened again before a course can be booked."
        ),
    )

    idle_logoff_minutes = models.PositiveSmallIntegerField(
        "sign staff out after (minutes without activity)",
        default=15,
        validators=[
            MinValueValidator(2, "Allow at least 2 minutes: the warning comes a minute before.")
        ],
        help_text="A staff member's session ends after this long without a page or an action "
        "(a screen refreshing itself does not count); a warning comes a minute before. "
        "Someone working at several clinics gets the shortest. Applies from the next sign-in.",
    )

    # Vital-sign thresholds (CLINICAL.md section 4). No citable fixed values exist, so
    # each clinic sets its own; the defaults are the ones the clinical reference ships.
    caution_systolic_above = models.PositiveSmallIntegerField(
        "pre-dose caution: systolic above (mmHg)",
        default=140,
        help_text="Before dosing, a systolic pressure above this asks a clinician to consider "
        "delaying.",
    )
    caution_diastolic_above = models.PositiveSmallIntegerField(
        "pre-dose caution: diastolic above (mmHg)", default=90
    )
    alert_systolic_at = models.PositiveSmallIntegerField(
        "alert: systolic at or above (mmHg)", default=180
    )
    alert_diastolic_at = models.PositiveSmallIntegerField(
        "alert: diastolic at or above (mmHg)", default=110
    )
    alert_spo2_below = models.PositiveSmallIntegerField("alert: SpO2 below (%)", default=92)
    alert_heart_rate_above = models.PositiveSmallIntegerField(
        "alert: heart rate above (/min)", default=120
    )
    alert_heart_rate_below = models.PositiveSmallIntegerField(
        "alert: heart rate below (/min)", default=50
    )
    discharge_cadss_at_most = models.PositiveSmallIntegerField(
        "discharge: CADSS at most",
        default=0,
        help_text="Discharge waits while the last CADSS total recorded is above this "
        "(0: dissociation resolved).",
    )
    phq9_required_at_check_in = models.BooleanField(
        "PHQ-9 required at check-in",
        default=False,
        help_text="Dosing waits for a PHQ-9 taken on the session's day (or a clinician's waiver).",
    )
    staff_two_factor_required = models.BooleanField(
        "staff sign in with a second factor",
        default=True,
        help_text="Staff pass a second factor (an authenticator app's code or a recovery "
        "code) after their password before any page, the admin or an API token.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(maintenance_horizon_days__gte=7),
                name="clinic_horizon_at_least_a_week",
                violation_error_message="Write maintenance sessions out at least a week ahead.",
            ),
            models.CheckConstraint(
                condition=Q(course_start_horizon_days__gte=1),
                name="clinic_course_start_horizon_at_least_a_day",
                violation_error_message="A course may start at least one day ahead.",
            ),
            models.CheckConstraint(
                condition=Q(screening_valid_days__gte=1),
                name="clinic_screening_valid_at_least_a_day",
                violation_error_message="A screening stays current for at least one day.",
            ),
            # A caution level at or above the alert level would make the alert unreachable.
            models.CheckConstraint(
                condition=Q(caution_systolic_above__lt=F("alert_systolic_at"))
                & Q(caution_diastolic_above__lt=F("alert_diastolic_at"))
                & Q(alert_diastolic_at__lt=F("alert_systolic_at")),
                name="clinic_bp_thresholds_ordered",
                violation_error_message="Blood-pressure alerts must be above the pre-dose "
                "caution levels, and the systolic above the diastolic.",
            ),
            models.CheckConstraint(
                condition=Q(alert_heart_rate_below__lt=F("alert_heart_rate_above")),
                name="clinic_heart_rate_thresholds_ordered",
                violation_error_message="The high heart-rate alert must be above the low one.",
            ),
            models.CheckConstraint(
                condition=Q(alert_spo2_below__gte=50, alert_spo2_below__lte=100),
                name="clinic_spo2_threshold_plausible",
                violation_error_message="An SpO2 threshold is a percentage from 50 to 100.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def crisis_help(self) -> dict[str, str]:
        """What a patient who reports thoughts of self-harm (PHQ-9 item 9 above 0) is shown
        at once: the clinic's phone and the crisis line the clinic sets (either may be
        empty). The portal shows it and the clinician's alert names it."""
        phone = ""
        if self.phone:
            phone = getattr(self.phone, "as_international", None) or str(self.phone)
        return {"phone": phone, "phone_link": str(self.phone or ""), "line": self.crisis_line}

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def clean(self) -> None:
        errors = {}

        def ordered(low: str, high: str, message: str) -> None:
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a >= b:
                errors.setdefault(high, []).append(message)

        ordered(
            "caution_systolic_above",
            "alert_systolic_at",
            "The systolic alert must be above the pre-dose caution level.",
        )
        ordered(
            "caution_diastolic_above",
            "alert_diastolic_at",
            "The diastolic alert must be above the pre-dose caution level.",
        )
        ordered(
            "alert_diastolic_at",
            "alert_systolic_at",
            "The systolic alert must be above the diastolic alert.",
        )
        ordered(
            "alert_heart_rate_below",
            "alert_heart_rate_above",
            "The high heart-rate alert must be above the low one.",
        )
        if self.alert_spo2_below is not None and not 50 <= self.alert_spo2_below <= 100:
            errors["alert_spo2_below"] = ["An SpO2 threshold is a percentage from 50 to 100."]
        if errors:
            raise ValidationError(errors)

    def local_today(self, now: dt.datetime | None = None) -> dt.date:
        from django.utils import timezone

        return (now or timezone.now()).astimezone(self.tz).date()

    def day_bounds(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The UTC instants of the local midnights that begin and end `day` here (23 or
        25 hours apart on a daylight-saving change)."""
        start = dt.datetime.combine(day, dt.time(), tzinfo=self.tz)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=self.tz)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


class OpeningHours(ConstraintErrorsOnFields, models.Model):
    """When a clinic is open on one weekday. A weekday without a row is a day it is shut."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    constraint_fields = {"weekday_taken": "weekday"}

    class Meta:
        ordering = ["clinic", "weekday"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "weekday"],
                name="one_opening_per_weekday",
                violation_error_code="weekday_taken",
                violation_error_message="This weekday has its opening hours already.",
            ),
            models.CheckConstraint(
                condition=Q(closes__gt=F("opens")),
                name="opening_closes_after_opens",
                violation_error_message="Closing time must be after opening time.",
            ),
            models.CheckConstraint(
                condition=Q(weekday__lte=6),
                name="opening_weekday_valid",
                violation_error_message="A weekday is 0 (Monday) to 6 (Sunday).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def clean(self) -> None:
        if self.opens is not None and self.closes is not None and self.closes <= self.opens:
            raise ValidationError({"closes": "Closing time must be after opening time."})


class Closure(models.Model):
    """Days a clinic is shut though it would normally be open (holidays, training days)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="closures")
    start_date = models.DateField()
    end_date = models.DateField(help_text="Last day closed (inclusive).")
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["clinic", "start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")),
                name="closure_ends_after_start",
                violation_error_message="The last closed day cannot be before the first.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.start_date}..{self.end_date} {self.reason}".strip()

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": "The last closed day cannot be before the first."})


class Chair(ConstraintErrorsOnFields, models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="chairs")
    name = models.CharField(max_length=60)
    is_active = models.BooleanField(default=True)

    constraint_fields = {"chair_name_taken": "name"}

    class Meta:
        ordering = ["clinic", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"],
                name="chair_name_unique_in_clinic",
                violation_error_code="chair_name_taken",
                violation_error_message="This clinic has a chair of this name already.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.clinic.name} / {self.name}"


class StaffMembership(ConstraintErrorsOnFields, models.Model):
    """A user's role at one clinic. A person may work at several clinics."""

    class Role(models.TextChoices):
        FRONT_DESK = "front_desk", "Front desk"
        NURSE = "nurse", "Nurse"
        CLINICIAN = "clinician", "Clinician"
        CLINIC_ADMIN = "clinic_admin", "Clinic admin"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    constraint_fields = {"role_held": "role"}

    class Meta:
        ordering = ["clinic", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "clinic", "role"],
                name="membership_unique_role",
                violation_error_code="role_held",
                violation_error_message="This person holds this role at this clinic already.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.get_role_display()} at {self.clinic}"


class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox's, `KNOX_TOKEN_MODEL`): only a digest of it is
    stored, never the token; it expires (`API_TOKEN_TTL_DAYS`), and carries a name its
    owner gave it and when it was last used. Revoking one deletes the row."""

    # An id of its own: knox keys the row by its digest, which no URL should carry.
    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=CONSTANTS.DIGEST_LENGTH, unique=True)
    name = models.CharField(max_length=100)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"
