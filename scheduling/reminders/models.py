"""Reminders to patients.

A `Reminder` row per (session, kind, channel) is both the outbox and the record of what
was sent: it is planned in the booking's own transaction, claimed by a sweep, and
marked sent in the same database transaction that calls the transport. How often and
when, and what the messages say, is configured per clinic (`ReminderPolicy`,
`ReminderRule`, `ReminderTemplate`); without rows the defaults below apply.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from clinic.models import Clinic
from clinic.validators import ConstraintErrorsOnFields

from ..booking.discreet import forbidden_words_in
from ..booking.models import Session


def validate_no_forbidden_words(text: str) -> None:
    found = forbidden_words_in(text)
    if found:
        raise ValidationError(
            f"Reminders must not name the drug or the diagnosis (found: {', '.join(found)})."
        )


class ReminderKind(models.TextChoices):
    CONFIRM = "confirm", "Confirm or cancel (48 hours before)"
    PREPARE = "prepare", "Preparation (24 hours before)"
    RIDE = "ride", "Ride home and fasting (2 hours before)"


class ReminderChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "Text message"


# kind -> (minutes before the session, latest useful minutes before it). A reminder that
# quiet hours would push past the latest useful moment is skipped instead of sent late.
DEFAULT_RULES: dict[str, tuple[int, int]] = {
    ReminderKind.CONFIRM: (48 * 60, 12 * 60),
    ReminderKind.PREPARE: (24 * 60, 6 * 60),
    ReminderKind.RIDE: (2 * 60, 60),
}
DEFAULT_QUIET_START = dt.time(21, 0)
DEFAULT_QUIET_END = dt.time(8, 0)


class ReminderPolicy(models.Model):
    """A clinic's reminder settings. A clinic without one uses the defaults."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="reminder_policy")
    sender_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="The clinic's name as patients see it in reminders (blank: the clinic's "
        "name). It must not name a drug or a diagnosis.",
        validators=[validate_no_forbidden_words],
    )
    quiet_start = models.TimeField(
        default=DEFAULT_QUIET_START,
        help_text="Quiet hours start (patient's local time), unless the patient set their own.",
    )
    quiet_end = models.TimeField(
        default=DEFAULT_QUIET_END, help_text="Quiet hours end (patient's local time)."
    )
    maintenance_notice_days = models.PositiveSmallIntegerField(
        default=14,
        help_text="Tell the front desk when an open-ended course has no booked session "
        "beyond this many days.",
    )

    class Meta:
        verbose_name_plural = "reminder policies"

    def __str__(self) -> str:
        return f"Reminder policy of clinic {self.clinic_id}"


class ReminderRule(ConstraintErrorsOnFields, models.Model):
    """One kind of reminder at one clinic: when, through which channels, or not at all.

    Overrides the default for that kind; kinds without a row use the defaults.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="reminder_rules")
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    is_active = models.BooleanField(default=True)
    lead_minutes = models.PositiveIntegerField(
        help_text="How long before the session, in the patient's local wall-clock time."
    )
    latest_minutes = models.PositiveIntegerField(
        help_text="Latest useful moment, in minutes before the session: a reminder that "
        "would go later (quiet hours, a backlog) is skipped."
    )
    by_email = models.BooleanField(default=True)
    by_sms = models.BooleanField(default=True)

    constraint_fields = {"reminder_rule_taken": "kind"}

    class Meta:
        ordering = ["clinic", "-lead_minutes"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind"],
                name="reminder_rule_once_per_kind",
                violation_error_message="This clinic has a rule for this kind of reminder already.",
                violation_error_code="reminder_rule_taken",
            ),
            models.CheckConstraint(
                condition=Q(lead_minutes__gt=models.F("latest_minutes")),
                name="reminder_rule_lead_before_latest",
                violation_error_message="The reminder must be planned earlier than its latest "
                "sending time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at clinic {self.clinic_id}"

    def clean(self) -> None:
        if (
            self.lead_minutes is not None
            and self.latest_minutes is not None
            and self.lead_minutes <= self.latest_minutes
        ):
            raise ValidationError(
                {"latest_minutes": "The latest useful moment must come after the reminder time."}
            )


class ReminderTemplate(ConstraintErrorsOnFields, models.Model):
    """A clinic's own words for one kind and channel (Django template language).

    Context: clinic_name, clinic_address, clinic_phone, first_name, when (the date and
    time in the patient's time zone), date, time, timezone, preparation (a list of
    lines), stay, respond_url. Blank fields fall back to the shipped templates.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="reminder_templates")
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    channel = models.CharField(max_length=10, choices=ReminderChannel.choices)
    subject = models.CharField(max_length=200, blank=True, help_text="E-mail only.")
    text = models.TextField(blank=True, help_text="Plain text (the SMS, or the e-mail's text).")
    html = models.TextField(blank=True, help_text="E-mail only: the HTML part.")

    constraint_fields = {"reminder_template_taken": "channel"}

    class Meta:
        ordering = ["clinic", "kind", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind", "channel"],
                name="reminder_template_once",
                violation_error_message="This clinic has a template for this reminder and "
                "channel already.",
                violation_error_code="reminder_template_taken",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.channel} template of clinic {self.clinic_id}"

    def clean(self) -> None:
        from django.template import Template, TemplateSyntaxError

        errors = {}
        for field in ("subject", "text", "html"):
            value = getattr(self, field)
            try:
                validate_no_forbidden_words(value)
            except ValidationError as exc:
                errors[field] = exc.messages
                continue
            try:
                Template(value)
            except TemplateSyntaxError as exc:
                errors[field] = f"Template error: {exc}"
        if errors:
            raise ValidationError(errors)


class Reminder(models.Model):
    """One reminder of one session through one channel: the outbox row and its record."""

    Kind = ReminderKind
    Channel = ReminderChannel

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending (claimed)"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class SkipReason(models.TextChoices):
        PAST_WHEN_PLANNED = "past_when_planned", "Its time had passed when the session was booked"
        SESSION_CANCELLED = "session_cancelled", "The session was cancelled"
        SESSION_MOVED = "session_moved", "The session was moved"
        SESSION_NOT_BOOKED = "session_not_booked", "The session is no longer booked"
        OPTED_OUT = "opted_out", "The patient opted out of this channel"
        NO_CONTACT = "no_contact", "No address or number for this channel"
        QUIET_HOURS_TOO_LATE = "quiet_hours_too_late", "Quiet hours end too late to be useful"
        TOO_LATE = "too_late", "Its useful time had passed when it came to be sent"

    # No index of its own: the unique (session, kind, channel) constraint serves lookups.
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="reminders", db_index=False
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    channel = models.CharField(max_length=10, choices=ReminderChannel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    skip_reason = models.CharField(max_length=30, choices=SkipReason.choices, blank=True)
    due_at = models.DateTimeField(help_text="When to send (UTC), after quiet hours.")
    send_by = models.DateTimeField(help_text="Too late to be useful after this (UTC).")
    session_starts_at = models.DateTimeField(
        help_text="The session time this reminder was planned for: a moved session's "
        "reminder is never sent with its old time."
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times claimed.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the worker sending this claim last showed it was alive: set as "
        "its batch starts and every few seconds while it runs; empty while still queued.",
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    delivery_status = models.CharField(
        max_length=30, blank=True, help_text="As reported by the SMS provider's callback."
    )
    delivery_updated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "kind", "channel"],
                name="reminder_once_per_kind_and_channel",
                violation_error_message="This reminder is planned already for this session.",
            ),
            models.CheckConstraint(
                condition=Q(status="skipped") | Q(skip_reason=""),
                name="reminder_skip_reason_only_when_skipped",
                violation_error_message="Only a skipped reminder has a reason for skipping.",
            ),
            # A claim token exists exactly while a row is being sent, so the token alone
            # identifies a live claim.
            models.CheckConstraint(
                condition=Q(status="sending", claim_token__isnull=False)
                | (~Q(status="sending") & Q(claim_token__isnull=True)),
                name="reminder_claim_token_only_while_sending",
                violation_error_message="Only a reminder being sent has a claim.",
            ),
        ]
        indexes = [
            # The sweep's query: due pending rows, oldest first. Sent rows pile up; the
            # partial index stays as small as the backlog.
            models.Index(
                fields=["due_at"], condition=Q(status="pending"), name="reminder_due_pending_idx"
            ),
            models.Index(
                fields=["claim_token"],
                condition=Q(status="sending"),
                name="reminder_sending_claim_idx",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="reminder_sending_since_idx",
            ),
            models.Index(
                fields=["provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="reminder_provider_id_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Reminder {self.pk}: {self.kind}/{self.channel} of session {self.session_id}"
