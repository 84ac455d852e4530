"""The session chart in the admin: each record is added through its service, then
read-only (vitals and side effects are corrected by an amendment, never edited).

The session's change page shows the whole chart (chart_panel) with links to these
forms, prefilled with the session.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from clinic.admin_scope import ScopedAdmin, ScopedHistoryAdmin, in_clinics
from clinic.forms import errors_onto
from clinic.models import Clinic, StaffMembership
from patients.models import Patient, QuestionnaireResponse

from ..booking.models import Protocol, Session
from . import services as chart_services
from .models import (
    Alert,
    CheckIn,
    ChecklistItem,
    ChecklistWaiver,
    ClinicChecklistItem,
    Discharge,
    DoseAdministration,
    RemsReport,
    SideEffect,
    VitalSigns,
)
from .selectors import SessionChart, rems_form_for_session, rems_forms_due, session_chart

R = StaffMembership.Role


def _in_clinic_time(request, view, *args, **kwargs):
    membership = StaffMembership.objects.filter(user=request.user).select_related("clinic").first()
    if membership is None:
        return view(*args, **kwargs)
    with timezone.override(membership.clinic.tz):
        response = view(*args, **kwargs)
        if hasattr(response, "render"):
            response.render()  # a TemplateResponse renders late, outside this block
        return response


def _local(value, session: Session, fmt: str = "%H:%M") -> str:
    return value.astimezone(session.clinic.tz).strftime(fmt) if value else "-"


class ServiceForm(forms.ModelForm):
    """A form whose clean() runs a service inside the admin's transaction: a refusal is
    shown next to the field it names and nothing is written."""

    user = None  # set per request

    class Meta:
        fields: list[str] = []

    def run(self, data: dict):
        raise NotImplementedError

    def _post_clean(self):
        # The service builds, validates and saves the record; validating the form's
        # unused instance would only repeat its rules with worse messages.
        pass

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            # One savepoint: a form that runs two services writes both or neither.
            with transaction.atomic():
                self.result = self.run(data)
        except (PermissionDenied, ValidationError) as exc:
            errors_onto(self, exc)
        return data


class SessionChoice(forms.ModelChoiceField):
    def label_from_instance(self, s: Session) -> str:
        local = s.starts_at.astimezone(s.clinic.tz)
        return f"{s.patient} - session {s.number}, {local:%a %d %b %Y %H:%M}"


class ChartRecordAdmin(ScopedAdmin):
    """Added through a service, then read-only; scoped to the user's clinics."""

    add_form: type[ServiceForm]
    clinic_path = "session__clinic"
    list_select_related = ["session__patient", "session__clinic"]

    def changeform_view(self, request, *args, **kwargs):
        # Times typed and shown are the clinic's wall-clock time; stored in UTC.
        return _in_clinic_time(request, super().changeform_view, request, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):
        return _in_clinic_time(request, super().changelist_view, request, *args, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = None
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        if "session" in form.base_fields:
            # Sessions that can be charted; narrowed to the user's clinics per form.
            form.base_fields["session"].queryset = Session.objects.filter(
                status__in=[
                    Session.Status.BOOKED,
                    Session.Status.CHECKED_IN,
                    Session.Status.IN_PROGRESS,
                    Session.Status.MONITORING,
                    Session.Status.DISCHARGED,
                ]
            ).select_related("patient", "clinic")
        return form

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": list(self.add_form.base_fields)})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in self.model._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False  # a clinical record: corrected by an amendment, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The service wrote the record; show it as the saved object.
        obj.__dict__.update(form.result.__dict__)
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        pass

    @admin.display(description="patient")
    def patient(self, obj):
        return obj.session.patient

    @admin.display(description="session")
    def session_link(self, obj):
        url = reverse("admin:scheduling_session_change", args=[obj.session_id])
        return format_html('<a href="{}">Session {}</a>', url, obj.session.number)


# --- check-in and waivers ----------------------------------------------------------------


class CheckInForm(ServiceForm):
    session = SessionChoice(queryset=Session.objects.none())
    fasting_confirmed = forms.BooleanField(required=False, help_text="Per the protocol's rule.")
    escort_confirmed = forms.BooleanField(required=False)
    escort_name = forms.CharField(required=False, help_text="Blank: the patient's usual escort.")
    escort_phone = forms.CharField(required=False)
    weight_kg = forms.DecimalField(required=False, max_digits=5, decimal_places=1)
    clinic_items_done = forms.ModelMultipleChoiceField(
        queryset=ClinicChecklistItem.objects.filter(is_active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The clinic's own items done (those for the session's protocol are asked).",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def run(self, data):
        return chart_services.session_check_in(
            session=data["session"],
            by=self.user,
            fasting_confirmed=data["fasting_confirmed"],
            escort_confirmed=data["escort_confirmed"],
            escort_name=data["escort_name"],
            escort_phone=data["escort_phone"],
            weight_kg=data["weight_kg"],
            clinic_items_done=[item.id for item in data["clinic_items_done"]],
            notes=data["notes"],
        )


@admin.register(CheckIn)
class CheckInAdmin(ChartRecordAdmin):
    add_form = CheckInForm
    list_display = [
        "checked_in_at",
        "patient",
        "session_link",
        "fasting_confirmed",
        "escort_confirmed",
        "weight_kg",
    ]


class WaiverForm(ServiceForm):
    session = SessionChoice(queryset=Session.objects.none())
    item = forms.ChoiceField(choices=ChecklistItem.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The user's clinics' own items, retired ones too (an old check-in may ask one).
        items = ClinicChecklistItem.objects.order_by("clinic", "order", "id")
        if not getattr(self.user, "is_superuser", False):
            items = items.filter(clinic__memberships__user=self.user).distinct()
        self.fields["item"].choices = [*ChecklistItem.choices, *((i.key, i) for i in items)]

    def run(self, data):
        return chart_services.checklist_waive(
            session=data["session"], item=data["item"], by=self.user, reason=data["reason"]
        )


@admin.register(ChecklistWaiver)
class ChecklistWaiverAdmin(ChartRecordAdmin):
    add_form = WaiverForm
    list_display = ["waived_at", "patient", "session_link", "item", "waived_by"]


# --- dose --------------------------------------------------------------------------------


class DoseForm(ServiceForm):
    session = SessionChoice(queryset=Session.objects.none())
    started_at = forms.DateTimeField(
        required=False, help_text="Infusion start or first device; blank: now."
    )
    mg_per_kg = forms.DecimalField(
        required=False, max_digits=4, decimal_places=2, help_text="IV: required, never guessed."
    )
    infusion_minutes = forms.IntegerField(required=False, help_text="IV; blank: the protocol's.")
    dose_mg = forms.IntegerField(required=False, help_text="Esketamine: 56 or 84 mg.")
    lot_number = forms.CharField(required=False, help_text="Esketamine.")
    administered_by = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_staff=True),
        required=False,
        help_text="Blank: you.",
    )
    sign_off_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="A clinician's reason for a dose outside the protocol's rules or over an "
        "open alert.",
    )

    def run(self, data):
        return chart_services.dose_record(
            session=data["session"],
            by=self.user,
            started_at=data["started_at"],
            mg_per_kg=data["mg_per_kg"],
            infusion_minutes=data["infusion_minutes"],
            dose_mg=data["dose_mg"],
            lot_number=data["lot_number"],
            administered_by=data["administered_by"],
            sign_off_reason=data["sign_off_reason"],
        )


@admin.register(DoseAdministration)
class DoseAdministrationAdmin(ChartRecordAdmin):
    add_form = DoseForm
    list_display = ["started_at", "patient", "session_link", "drug", "total_mg", "administered_by"]


# --- vitals ------------------------------------------------------------------------------


class VitalsForm(ServiceForm):
    session = SessionChoice(queryset=Session.objects.none())
    timepoint = forms.ChoiceField(choices=VitalSigns.Timepoint.choices)
    measured_at = forms.DateTimeField(required=False, help_text="Blank: now.")
    systolic = forms.IntegerField(help_text="mmHg")
    diastolic = forms.IntegerField(help_text="mmHg")
    heart_rate = forms.IntegerField(help_text="/min")
    spo2 = forms.IntegerField(label="SpO2", help_text="%")
    respiratory_rate = forms.IntegerField(required=False, help_text="/min")
    temperature_c = forms.DecimalField(
        required=False, max_digits=3, decimal_places=1, label="Temperature", help_text="°C"
    )
    amends = forms.ModelChoiceField(
        queryset=VitalSigns.objects.all(),
        required=False,
        help_text="To correct a reading: the one it corrects (kept in the chart).",
    )
    amendment_reason = forms.CharField(required=False)

    def run(self, data):
        fields = [
            "timepoint",
            "measured_at",
            "systolic",
            "diastolic",
            "heart_rate",
            "spo2",
            "respiratory_rate",
            "temperature_c",
            "amends",
            "amendment_reason",
        ]
        return chart_services.vitals_record(
            session=data["session"], by=self.user, **{f: data[f] for f in fields}
        )


@admin.register(VitalSigns)
class VitalSignsAdmin(ChartRecordAdmin):
    add_form = VitalsForm
    list_display = [
        "measured_at",
        "patient",
        "session_link",
        "timepoint",
        "blood_pressure",
        "heart_rate",
        "spo2",
        "amends",
    ]
    list_filter = ["timepoint"]


# --- side effects ------------------------------------------------------------------------


class SideEffectForm(ServiceForm):
    session = SessionChoice(queryset=Session.objects.none())
    kind = forms.ChoiceField(choices=SideEffect.Kind.choices)
    severity = forms.ChoiceField(choices=SideEffect.Severity.choices)
    onset_at = forms.DateTimeField(required=False, help_text="Blank: now.")
    resolved_at = forms.DateTimeField(required=False)
    serious = forms.BooleanField(required=False)
    cadss = forms.IntegerField(required=False, label="CADSS total", help_text="0-92")
    moaa_s = forms.IntegerField(required=False, label="MOAA/S", help_text="0-5")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    amends = forms.ModelChoiceField(queryset=SideEffect.objects.all(), required=False)
    amendment_reason = forms.CharField(required=False)

    def run(self, data):
        fields = [
            "kind",
            "severity",
            "onset_at",
            "resolved_at",
            "serious",
            "cadss",
            "moaa_s",
            "notes",
            "amends",
            "amendment_reason",
        ]
        return chart_services.side_effect_record(
            session=data["session"], by=self.user, **{f: data[f] for f in fields}
        )


@admin.register(SideEffect)
class SideEffectAdmin(ChartRecordAdmin):
    add_form = SideEffectForm
    list_display = [
        "onset_at",
        "patient",
        "session_link",
        "kind",
        "severity",
        "serious",
        "resolved_at",
    ]
    list_filter = ["kind", "serious"]


# --- discharge ---------------------------------------------------------------------------


class DischargeForm(ServiceForm):
    session = SessionChoice(queryset=Session.objects.none())
    escort_name = forms.CharField(required=False, help_text="Blank: the escort from check-in.")
    escort_phone = forms.CharField(required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def run(self, data):
        return chart_services.session_discharge(
            session=data["session"],
            by=self.user,
            escort_name=data["escort_name"],
            escort_phone=data["escort_phone"],
            notes=data["notes"],
        )


@admin.register(Discharge)
class DischargeAdmin(ChartRecordAdmin):
    add_form = DischargeForm
    list_display = [
        "discharged_at",
        "patient",
        "session_link",
        "monitoring_minutes",
        "discharged_by",
    ]


# --- alerts: a clinician acknowledges them -----------------------------------------------


class AcknowledgeForm(ServiceForm):
    acknowledgement_note = forms.CharField(
        label="What was decided or done", widget=forms.Textarea(attrs={"rows": 2})
    )

    def run(self, data):
        return chart_services.alert_acknowledge(
            alert=self.instance, by=self.user, note=data["acknowledgement_note"]
        )


class OpenFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Acknowledged")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(acknowledged_at__isnull=self.value() == "yes")
        return queryset


@admin.register(Alert)
class AlertAdmin(ScopedAdmin):
    list_display = ["raised_at", "kind", "patient", "session", "message", "acknowledged_by"]
    list_filter = [OpenFilter, "kind", "clinic"]
    list_select_related = ["patient", "session", "acknowledged_by"]
    readonly_fields = [
        "kind",
        "patient",
        "session",
        "message",
        "raised_at",
        "vitals",
        "side_effect",
        "questionnaire",
        "acknowledged_by",
        "acknowledged_at",
    ]

    def get_fields(self, request, obj=None):
        return [*self.readonly_fields, "acknowledgement_note"]

    def _acknowledgeable(self, request, obj) -> bool:
        return obj is not None and obj.is_open and self.has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if self._acknowledgeable(request, obj):
            return self.readonly_fields
        return [*self.readonly_fields, "acknowledgement_note"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self._acknowledgeable(request, obj):
            kwargs["form"] = AcknowledgeForm
            kwargs["fields"] = None
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def has_add_permission(self, request):
        return False  # raised by the chart, never by hand

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.__dict__.update(form.result.__dict__)


# --- questionnaires ----------------------------------------------------------------------


class QuestionnaireForm(ServiceForm):
    patient = forms.ModelChoiceField(queryset=Patient.objects.all())
    kind = forms.ChoiceField(choices=QuestionnaireResponse.Kind.choices)
    items = forms.CharField(help_text="Item scores 0-3 in order, separated by commas.")
    session = SessionChoice(queryset=Session.objects.none(), required=False)
    completed_at = forms.DateTimeField(required=False, help_text="Blank: now.")

    def run(self, data):
        try:
            items = [int(x) for x in data["items"].replace(" ", "").split(",") if x != ""]
        except ValueError as exc:
            raise ValidationError({"items": "Give whole numbers separated by commas."}) from exc
        return chart_services.questionnaire_submit(
            patient=data["patient"],
            kind=data["kind"],
            items=items,
            by=self.user,
            session=data["session"],
            completed_at=data["completed_at"],
        )


@admin.register(QuestionnaireResponse)
class QuestionnaireResponseAdmin(ChartRecordAdmin):
    add_form = QuestionnaireForm
    clinic_path = "patient__clinic"
    list_display = ["completed_at", "patient", "kind", "total", "band"]
    list_filter = ["kind", "band"]
    list_select_related = ["patient"]


# --- the REMS form -----------------------------------------------------------------------


class RemsReportForm(ServiceForm):
    session = SessionChoice(queryset=Session.objects.none())
    benzodiazepines = forms.TypedChoiceField(
        choices=[(0, "No"), (1, "Yes")], coerce=lambda v: v == "1"
    )
    non_benzo_sedatives = forms.TypedChoiceField(
        label="Non-benzodiazepine sedative hypnotics",
        choices=[(0, "No"), (1, "Yes")],
        coerce=lambda v: v == "1",
    )
    psychostimulants = forms.TypedChoiceField(
        choices=[(0, "No"), (1, "Yes")], coerce=lambda v: v == "1"
    )
    maois = forms.TypedChoiceField(
        label="MAOIs", choices=[(0, "No"), (1, "Yes")], coerce=lambda v: v == "1"
    )
    monitoring_clinician = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_staff=True),
        required=False,
        help_text="Blank: whoever discharges the patient.",
    )
    setting = forms.CharField(required=False, help_text="Blank: outpatient healthcare setting.")
    mark_filed = forms.BooleanField(
        required=False, help_text="The form has been filed with the REMS (refused if incomplete)."
    )
    filed_reference = forms.CharField(required=False, help_text="Confirmation number, if any.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        report = self.instance
        if report.pk:
            yes_no = {True: 1, False: 0, None: None}
            self.initial.update(
                session=report.session_id,
                benzodiazepines=yes_no[report.benzodiazepines],
                non_benzo_sedatives=yes_no[report.non_benzo_sedatives],
                psychostimulants=yes_no[report.psychostimulants],
                maois=yes_no[report.maois],
                monitoring_clinician=report.monitoring_clinician_id,
                setting=report.setting,
            )

    def run(self, data):
        report = chart_services.rems_report_record(
            session=data["session"],
            by=self.user,
            benzodiazepines=data["benzodiazepines"],
            non_benzo_sedatives=data["non_benzo_sedatives"],
            psychostimulants=data["psychostimulants"],
            maois=data["maois"],
            monitoring_clinician=data["monitoring_clinician"],
            setting=data["setting"],
        )
        if data["mark_filed"]:
            report = chart_services.rems_form_mark_filed(
                session=data["session"], by=self.user, reference=data["filed_reference"]
            )
        return report


@admin.register(RemsReport)
class RemsReportAdmin(ChartRecordAdmin):
    add_form = RemsReportForm
    list_display = ["session_link", "patient", "filed_at", "filed_by"]
    readonly_fields = ["filled_form"]

    def _editable(self, obj) -> bool:
        return obj is not None and obj.filed_at is None

    def has_change_permission(self, request, obj=None):
        # Answers can be completed until the form is filed; then it is a record.
        return self.may(request, "change", obj) and (obj is None or self._editable(obj))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self._editable(obj) and self.has_change_permission(request, obj):
            kwargs["form"] = RemsReportForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None or (self._editable(obj) and self.has_change_permission(request, obj)):
            fields = list(RemsReportForm.base_fields)
            return [(None, {"fields": fields + (["filled_form"] if obj else [])})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if self._editable(obj) and self.has_change_permission(request, obj):
            return ["filled_form"]
        return [*super().get_readonly_fields(request, obj), "filled_form"]

    @admin.display(description="REMS monitoring form")
    def filled_form(self, obj):
        return _rems_table(rems_form_for_session(session=obj.session))

    def changelist_view(self, request, extra_context=None):
        clinics = Clinic.objects.filter(in_clinics("id", self.clinic_ids(request, "view")))
        for clinic in clinics:
            for due in rems_forms_due(clinic=clinic):
                state = "OVERDUE" if due.overdue else "due"
                messages.warning(
                    request,
                    f"REMS form {state} by {due.due_date:%d %b %Y}: {due.session.patient}, "
                    f"session {due.session.number} on {due.session_date:%d %b %Y}.",
                )
        return super().changelist_view(request, extra_context)


def _rems_table(form) -> str:
    def show(value):
        if value is None:
            return mark_safe("<strong>missing</strong>")
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, list):
            return "; ".join(value) or "None"
        return value

    skip = {"missing", "session_id"}
    rows = [(name.replace("_", " "), show(v)) for name, v in vars(form).items() if name not in skip]
    table = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
    return format_html('<table class="chart">{}</table>', table)


# --- the chart on the session page -------------------------------------------------------


def _add_link(model: str, session: Session, text: str) -> str:
    url = reverse(f"admin:scheduling_{model}_add") + f"?session={session.pk}"
    return format_html('<a class="addlink" href="{}">{}</a>', url, text)


def chart_panel(session: Session) -> str:
    """The whole chart of a session as the nurse and the clinician read it."""
    chart = session_chart(session=session)
    s = chart.session
    parts = [_checklist_html(chart), _dose_html(chart), _vitals_html(chart)]
    parts += [_side_effects_html(chart), _alerts_html(chart), _discharge_html(chart)]
    if chart.is_esketamine:
        form = rems_form_for_session(session=s)
        missing = ", ".join(form.missing) or "nothing: ready to file"
        parts.append(
            format_html(
                "<h3>REMS form</h3><p>Missing: {}. {}</p>",
                missing,
                _add_link("remsreport", s, "Fill in the REMS answers")
                if chart.rems_report is None
                else format_html(
                    '<a href="{}">Open the REMS report</a>',
                    reverse("admin:scheduling_remsreport_change", args=[chart.rems_report.pk]),
                ),
            )
        )
    return format_html_join("", "<div>{}</div>", [(p,) for p in parts])


def _checklist_html(chart: SessionChart) -> str:
    s = chart.session
    if chart.check_in is None:
        return format_html(
            "<h3>Check-in</h3><p>Not checked in. {}</p>", _add_link("checkin", s, "Check in")
        )
    rows = []
    for line in chart.checklist:
        if line.done:
            state = "done"
        elif line.waiver:
            state = format_html("waived by {}: {}", line.waiver.waived_by, line.waiver.reason)
        else:
            state = mark_safe("<strong>not done</strong>")
        rows.append((line.label, line.detail, state))
    table = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
    return format_html(
        "<h3>Checklist (checked in {} by {})</h3><table>{}</table><p>{}</p>",
        _local(chart.check_in.checked_in_at, s),
        chart.check_in.checked_in_by,
        table,
        _add_link("checklistwaiver", s, "Waive an item (clinician)")
        if chart.checklist_missing
        else "Complete: dosing may start.",
    )


def _dose_html(chart: SessionChart) -> str:
    s, d = chart.session, chart.dose
    if d is None:
        return format_html(
            "<h3>Dose</h3><p>Not given. {}</p>",
            _add_link("doseadministration", s, "Record the dose"),
        )
    if d.route == Protocol.Route.IV:
        text = format_html(
            "{} mg/kg x {} kg = <strong>{} mg</strong> over {} minutes, {}-{}",
            d.mg_per_kg, d.weight_kg, d.total_mg, d.infusion_minutes,
            _local(d.started_at, s), _local(d.ended_at, s),
        )  # fmt: skip
    else:
        times = ", ".join(_local(x.given_at, s) for x in chart.devices)
        text = format_html(
            "<strong>{} mg</strong> = {} x {} mg devices at {}; lot {}",
            d.total_mg, d.devices, d.device_mg, times, d.lot_number,
        )  # fmt: skip
    signed = (
        format_html(" Signed off by {}: {}", d.signed_off_by, d.sign_off_reason)
        if d.signed_off_by
        else ""
    )
    return format_html("<h3>Dose</h3><p>{}. Given by {}.{}</p>", text, d.administered_by, signed)


def _vitals_html(chart: SessionChart) -> str:
    s = chart.session
    current = set(chart.current_vitals)
    rows = [
        (
            _local(v.measured_at, s),
            v.get_timepoint_display(),
            v.blood_pressure,
            v.heart_rate,
            v.spo2,
            v.respiratory_rate or "-",
            v.temperature_c or "-",
            v.recorded_by,
            "" if v in current else "corrected (kept)",
        )
        for v in chart.vitals
    ]
    table = format_html_join("", "<tr>" + "<td>{}</td>" * 9 + "</tr>", rows)
    due = chart.vitals_next_due
    overdue = ", ".join(
        f"{c.timepoint.replace('_', ' ')} {_local(c.due_at, s)}" for c in chart.vitals_overdue
    )
    return format_html(
        "<h3>Vitals</h3><table><tr><th>time</th><th>timepoint</th><th>BP</th><th>HR</th>"
        "<th>SpO2</th><th>RR</th><th>°C</th><th>by</th><th></th></tr>{}</table>"
        "<p>Next due: {}. Overdue: {}. {}</p>",
        table,
        f"{due.timepoint.replace('_', ' ')} at {_local(due.due_at, s)}" if due else "none",
        overdue or "none",
        _add_link("vitalsigns", s, "Record vitals"),
    )


def _side_effects_html(chart: SessionChart) -> str:
    s = chart.session
    rows = [
        (
            e.get_kind_display(),
            e.get_severity_display(),
            "serious" if e.serious else "",
            _local(e.onset_at, s),
            _local(e.resolved_at, s),
            e.cadss if e.cadss is not None else "-",
            e.moaa_s if e.moaa_s is not None else "-",
            e.notes,
        )
        for e in chart.current_side_effects
    ]
    table = format_html_join("", "<tr>" + "<td>{}</td>" * 8 + "</tr>", rows)
    return format_html(
        "<h3>Side effects</h3><table>{}</table><p>{}</p>",
        table,
        _add_link("sideeffect", s, "Record a side effect"),
    )


def _alerts_html(chart: SessionChart) -> str:
    rows = [
        (
            reverse("admin:scheduling_alert_change", args=[a.pk]),
            a.get_kind_display(),
            a.message,
            "open" if a.is_open else f"acknowledged: {a.acknowledgement_note}",
        )
        for a in chart.alerts
    ]
    table = format_html_join(
        "", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>', rows
    )
    return format_html("<h3>Alerts</h3><table>{}</table>", table)


def _discharge_html(chart: SessionChart) -> str:
    s, d = chart.session, chart.discharge
    if d is not None:
        return format_html(
            "<h3>Discharge</h3><p>Discharged {} by {} after {} minutes of monitoring; "
            "escort {}.</p>",
            _local(d.discharged_at, s, "%d %b %Y %H:%M"),
            d.discharged_by,
            d.monitoring_minutes,
            d.escort_name,
        )
    problems = chart.discharge_problems()
    items = format_html_join("", "<li>{}</li>", [(m,) for ms in problems.values() for m in ms])
    return format_html(
        "<h3>Discharge</h3><ul>{}</ul><p>{}</p>",
        items,
        _add_link("discharge", s, "Discharge") if not problems else "",
    )


class ClinicChecklistItemForm(forms.ModelForm):
    class Meta:
        model = ClinicChecklistItem
        fields = ["clinic", "label", "drug", "protocols", "order", "is_active"]

    def clean(self):
        data = super().clean()
        clinic, drug = data.get("clinic"), data.get("drug")
        protocols = list(data.get("protocols") or ())
        foreign = [p for p in protocols if clinic and p.clinic_id not in (None, clinic.id)]
        if foreign:
            self.add_error("protocols", f"Another clinic's protocol: {foreign[0]}.")
        other_drug = [p for p in protocols if drug and p.drug != drug]
        if other_drug:
            self.add_error(
                "protocols",
                f"{other_drug[0]} is not a {Protocol.Drug(drug).label.lower()} protocol: "
                "the item would never be asked there.",
            )
        return data


@admin.register(ClinicChecklistItem)
class ClinicChecklistItemAdmin(ScopedHistoryAdmin):
    """A clinic's own check-in items, asked with the built-in ones and gating the dose."""

    form = ClinicChecklistItemForm
    list_display = ["label", "clinic", "drug", "asked_for", "is_active"]
    list_filter = ["is_active", "drug", "clinic"]
    search_fields = ["label"]
    filter_horizontal = ["protocols"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("protocols")

    @admin.display(description="protocols")
    def asked_for(self, obj) -> str:
        return ", ".join(p.name for p in obj.protocols.all()) or "every protocol"

    def has_delete_permission(self, request, obj=None):
        return False  # retired instead: the check-ins that asked it keep it
