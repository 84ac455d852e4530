"""The chart's page forms: the board's day, check-in, checklist, dose, vitals, side
effects, acknowledgement, ready to leave, discharge, and the PHQ-9."""

from django import forms
from django.core.exceptions import ValidationError

from clinic.forms import errors_onto  # noqa: F401  (used by the page views)
from patients.models import QuestionnaireResponse
from scheduling.booking.models import Protocol
from scheduling.booking.pages.forms import DateInput
from scheduling.chart.models import ClinicChecklistItem, SideEffect, VitalSigns
from scheduling.stock.models import Lot
from scheduling.stock.selectors import clinic_keeps_stock


class BoardForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=None, required=False, empty_label=None)
    date = forms.DateField(required=False, widget=DateInput())

    def __init__(self, *args, clinics, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics


class ClinicItemsForm(forms.Form):
    """A tick box per clinic checklist item (`clinic_item_<id>`), given to the service
    as `clinic_items_done`, the ids of those ticked."""

    PREFIX = ClinicChecklistItem.KEY_PREFIX

    def add_clinic_items(self, items) -> None:
        """`items`: (id, label) of each clinic item to ask."""
        for item_id, label in items:
            self.fields.setdefault(
                f"{self.PREFIX}{item_id}", forms.BooleanField(label=label, required=False)
            )

    def clean(self):
        data = super().clean()
        done = []
        for name in [n for n in data if n.startswith(self.PREFIX)]:
            if data.pop(name):
                done.append(int(name.removeprefix(self.PREFIX)))
        data["clinic_items_done"] = done
        return data


class CheckInForm(ClinicItemsForm):
    fasting_confirmed = forms.BooleanField(label="Fasting as instructed", required=False)
    escort_confirmed = forms.BooleanField(label="Escort home confirmed", required=False)
    escort_name = forms.CharField(label="Escort's name", required=False, max_length=200)
    weight_kg = forms.DecimalField(
        label="Weight (kg)", required=False, max_digits=5, decimal_places=1
    )
    notes = forms.CharField(required=False, max_length=1000)


class ChecklistCompleteForm(ClinicItemsForm):
    fasting_confirmed = forms.BooleanField(label="Fasting as instructed", required=False)
    escort_confirmed = forms.BooleanField(label="Escort home confirmed", required=False)
    escort_name = forms.CharField(label="Escort's name", required=False, max_length=200)
    weight_kg = forms.DecimalField(
        label="Weight (kg)", required=False, max_digits=5, decimal_places=1
    )


class WaiveForm(forms.Form):
    item = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(label="Why dosing may go ahead without it", max_length=1000)


class DoseIvForm(forms.Form):
    mg_per_kg = forms.DecimalField(label="Dose (mg/kg)", max_digits=5, decimal_places=2)
    infusion_minutes = forms.IntegerField(label="Infusion (minutes)", min_value=1)
    sign_off_reason = forms.CharField(
        label="Clinician's sign-off reason (out of range, or over an open alert)",
        required=False,
    )


def dose_stock_fields(form: forms.Form, *, protocol: Protocol, clinic, today) -> forms.Form:
    """At a clinic keeping its controlled-substance record: the lot the dose is drawn
    from (on hand, not expired, of the drug) instead of a typed lot number; IV also what
    was drawn, and the witness of the remainder's waste."""
    if not clinic_keeps_stock(clinic_id=clinic.pk):
        return form
    lots = Lot.objects.filter(
        clinic=clinic, product__drug=protocol.drug, expires_on__gte=today,
        balances__balance__gt=0,
    ).select_related("product").distinct()  # fmt: skip
    form.fields.pop("lot_number", None)
    form.fields["stock_lot"] = forms.ModelChoiceField(label="Lot drawn from", queryset=lots)
    if protocol.route == Protocol.Route.IV:
        form.fields["stock_drawn"] = forms.DecimalField(
            label="Drawn (mL)", required=False, max_digits=10, decimal_places=3,
            help_text="Empty when all of it was given; the rest is wasted before a witness.",
        )  # fmt: skip
        form.fields["witness"] = forms.CharField(
            label="Witness of the waste (username)", required=False
        )
        form.fields["witness_password"] = forms.CharField(
            label="Witness's password", required=False, widget=forms.PasswordInput
        )
    return form


class DoseIntranasalForm(forms.Form):
    dose_mg = forms.TypedChoiceField(label="Dose", coerce=int)
    lot_number = forms.CharField(label="Lot number", max_length=60)
    sign_off_reason = forms.CharField(
        label="Clinician's sign-off reason (out of range, or over an open alert)",
        required=False,
    )

    def __init__(self, *args, protocol: Protocol, **kwargs):
        super().__init__(*args, **kwargs)
        device = protocol.device_mg or 28
        self.fields["dose_mg"].choices = [
            (n * device, f"{n * device} mg ({n} device{'s' if n > 1 else ''})") for n in range(1, 4)
        ]


class VitalsForm(forms.Form):
    timepoint = forms.ChoiceField(choices=VitalSigns.Timepoint.choices)
    systolic = forms.IntegerField(label="Systolic")
    diastolic = forms.IntegerField(label="Diastolic")
    heart_rate = forms.IntegerField(label="Heart rate")
    spo2 = forms.IntegerField(label="SpO2 %")
    respiratory_rate = forms.IntegerField(label="Resp. rate", required=False)
    temperature_c = forms.DecimalField(
        label="Temp °C", required=False, max_digits=4, decimal_places=1
    )


class SideEffectForm(forms.Form):
    kind = forms.ChoiceField(label="Side effect", choices=SideEffect.Kind.choices)
    severity = forms.ChoiceField(choices=SideEffect.Severity.choices)
    serious = forms.BooleanField(label="Serious", required=False)
    cadss = forms.IntegerField(label="CADSS (0-92)", required=False)
    moaa_s = forms.IntegerField(label="MOAA/S (0-5)", required=False)
    notes = forms.CharField(required=False, max_length=1000)


class ResolveForm(forms.Form):
    cadss = forms.IntegerField(label="CADSS now (0-92)", required=False)
    moaa_s = forms.IntegerField(label="MOAA/S now (0-5)", required=False)


class ReadyToLeaveForm(forms.Form):
    note = forms.CharField(label="Clinician's note", required=False, max_length=1000)
    reason = forms.CharField(label="Reason (when correcting)", required=False, max_length=1000)


class DischargeForm(forms.Form):
    escort_name = forms.CharField(
        label="Escort (if not recorded at check-in)", required=False, max_length=200
    )
    notes = forms.CharField(required=False, max_length=1000)


class AcknowledgeForm(forms.Form):
    note = forms.CharField(label="What was decided or done", max_length=1000)


class Phq9Form(forms.Form):
    """Over the last two weeks, how often have you been bothered by..."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for i, text in enumerate(PHQ9_ITEMS):
            self.fields[f"item{i}"] = forms.TypedChoiceField(
                label=f"{i + 1}. {text}",
                choices=PHQ9_CHOICES,
                coerce=int,
                widget=forms.RadioSelect,
            )

    def items(self) -> list[int]:
        return [self.cleaned_data[f"item{i}"] for i in range(len(PHQ9_ITEMS))]

    def item_errors(self, exc: ValidationError) -> None:
        """The service names items `items[i]`; each goes to its question."""
        aliases = {f"items[{i}]": f"item{i}" for i in range(len(PHQ9_ITEMS))}
        errors_onto(self, exc, aliases)


QUESTIONNAIRE_KIND = QuestionnaireResponse.Kind.PHQ9


PHQ9_ITEMS = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed; or the opposite, "
    "being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead, or of hurting yourself in some way",
]


PHQ9_CHOICES = [
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
]
