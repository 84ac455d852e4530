"""Signals the patients app sends, for apps that build on it (scheduling re-times a
patient's reminders; patients never imports scheduling)."""

from django.dispatch import Signal

# What the reminders a patient gets depend on: when (their time zone, quiet hours) and
# how (channels, opt-out).
REMINDER_SETTINGS = (
    "timezone", "remind_by_email", "remind_by_sms", "reminders_opt_out",
    "quiet_hours_start", "quiet_hours_end",
)  # fmt: skip

# Sent inside the transaction that changed any of them: patient=, changed= (field names).
reminder_settings_changed = Signal()
