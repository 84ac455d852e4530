"""Courses (a patient's run through a protocol) and their concrete sessions."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from clinic.models import Chair, Clinic
from patients.models import Patient

from .protocols import Protocol, ProtocolPhase


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
        (scheduling.selectors: chart_validator, day_board_validator)."""
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
    # (a move clears it). Written by scheduling.services.session_respond.
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
