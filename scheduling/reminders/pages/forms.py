"""The patient's reminder settings form."""

from django import forms
from django.forms.models import fields_for_model

from clinic.forms import errors_onto  # noqa: F401  (used by the page views)
from patients.models import Patient
from scheduling.booking.pages.forms import TimeInput

REMINDER_FIELDS = [
    "remind_by_email", "remind_by_sms", "reminders_opt_out", "quiet_hours_start",
    "quiet_hours_end",
]  # fmt: skip


class ReminderSettingsForm(forms.Form):
    """The patient's own reminder choices (the portal); rules are the service's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(Patient, fields=REMINDER_FIELDS))
        self.fields["remind_by_email"].label = "Remind me by e-mail"
        self.fields["remind_by_sms"].label = "Remind me by text message"
        self.fields["reminders_opt_out"].label = "No reminders at all"
        self.fields["quiet_hours_start"].label = "Quiet from"
        self.fields["quiet_hours_end"].label = "until"
        for name in ("quiet_hours_start", "quiet_hours_end"):
            self.fields[name].widget = TimeInput()
            self.fields[name].help_text = ""
        self.fields[
            "quiet_hours_end"
        ].help_text = (
            "In your time zone. Nothing is sent in these hours; leave both blank for the clinic's."
        )
