"""The pages' forms: they parse and type the input; the services hold the rules."""

import datetime as dt

from django import forms
from django.forms.models import fields_for_model

from clinic.forms import errors_onto  # noqa: F401  (used by the page views)
from clinic.models import Chair, Weekday
from patients.forms import checklist_answers, checklist_fields
from patients.models import Contraindication, Patient
from scheduling.booking.services import Scope


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


# --- front desk ----------------------------------------------------------------------------


class PatientSearchForm(forms.Form):
    q = forms.CharField(label="Name or record number", required=False, max_length=100, strip=True)


REGISTER_FIELDS = [
    "mrn", "first_name", "last_name", "birth_date", "sex", "email", "phone", "timezone",
    "weight_kg", "escort_name", "escort_phone",
]  # fmt: skip


class PatientRegisterForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(Patient, fields=REGISTER_FIELDS))
        self.fields["birth_date"].widget = DateInput()
        self.fields["timezone"].help_text = "e.g. Europe/London; blank means the clinic's."


class CourseForm(forms.Form):
    patient = forms.ModelChoiceField(queryset=None)
    protocol = forms.ModelChoiceField(queryset=None)
    start_date = forms.DateField(widget=DateInput())
    preferred_weekdays = forms.TypedMultipleChoiceField(
        label="Weekdays",
        choices=Weekday.choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    preferred_time = forms.TimeField(label="Time (clinic time)", widget=TimeInput())

    def __init__(self, *args, patients, protocols, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients
        self.fields["protocol"].queryset = protocols


class MoveForm(forms.Form):
    date = forms.DateField(widget=DateInput())
    time = forms.TimeField(label="Time (clinic time)", widget=TimeInput())
    chair = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any free chair")
    scope = forms.ChoiceField(choices=Scope.choices, initial=Scope.ONE)
    note = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        # A chair's label names its clinic: joined, or each option asks for it.
        self.fields["chair"].queryset = Chair.objects.filter(
            clinic=clinic, is_active=True
        ).select_related("clinic")


class CancelForm(forms.Form):
    scope = forms.ChoiceField(choices=Scope.choices, initial=Scope.ONE)
    reason = forms.CharField(required=False, max_length=500)
    # How many sessions the person agreed to cancel on the confirmation step; empty, the
    # step is shown first (no cancelling without it, with or without JavaScript).
    confirmed = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class SlotForm(forms.Form):
    """A free slot picked from the finder: move this session there, or book one more."""

    starts_at = forms.DateTimeField()
    chair = forms.IntegerField(min_value=1)
    action = forms.ChoiceField(choices=[("move", "Move here"), ("book", "Book another")])


class SlotsQueryForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=DateInput())


class RestoreForm(forms.Form):
    reason = forms.CharField(label="Why the session goes ahead after all", max_length=500)


# --- screening -----------------------------------------------------------------------------


class ScreeningForm(forms.Form):
    """The whole active checklist, each item answered yes or no (patients.forms)."""

    notes = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, items: list[Contraindication], **kwargs):
        super().__init__(*args, **kwargs)
        self.items = items
        notes = self.fields.pop("notes")  # after the checklist
        self.fields.update(checklist_fields(items))
        self.fields["notes"] = notes

    def answers(self) -> list[tuple[int, bool, str]]:
        return checklist_answers(self.cleaned_data, self.items)


class SignOffForm(forms.Form):
    reason = forms.CharField(
        label="Why treatment may go ahead despite this finding", max_length=5000
    )


# --- the nurse's chart ---------------------------------------------------------------------


# --- clinician and patient -----------------------------------------------------------------


def combine_local(day: dt.date, at: dt.time, tz) -> dt.datetime:
    """A local wall-clock date and time, as an aware datetime in `tz`."""
    return dt.datetime.combine(day, at, tzinfo=tz)
