from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html

from clinic.admin_scope import ScopedAdmin, ScopedHistoryAdmin, ScopedInline, in_clinics
from clinic.forms import errors_onto

from . import services
from .forms import checklist_answers, checklist_fields
from .models import (
    Contraindication,
    Patient,
    RecordAccess,
    Screening,
    ScreeningAnswer,
    ScreeningSignOff,
)
from .services import record_access_log, reminder_settings_touched


@admin.register(Patient)
class PatientAdmin(ScopedHistoryAdmin):
    list_display = ["mrn", "last_name", "first_name", "birth_date", "clinic"]
    list_filter = ["clinic"]
    search_fields = ["mrn", "last_name", "first_name", "email"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:  # a new patient has no reminders yet
            reminder_settings_touched(patient=obj, changed=form.changed_data)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200 and str(object_id).isdigit():
            record_access_log(
                user=request.user, patient_ids=[int(object_id)], action="admin:patient:change"
            )
        return response


@admin.register(RecordAccess)
class RecordAccessAdmin(ScopedAdmin):
    """The read log: who opened which patient's record. Read-only."""

    clinic_path = "patient__clinic"

    list_display = ["accessed_at", "user", "patient", "action"]
    list_filter = ["action"]
    date_hierarchy = "accessed_at"
    list_select_related = ["user", "patient"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Contraindication)
class ContraindicationAdmin(admin.ModelAdmin):
    """The checklist is shared by every clinic: any staff may read it, and only a superuser
    changes it (a clinic's clinician editing it would change every other clinic's)."""

    list_display = ["name", "kind", "order", "is_active", "code"]
    list_display_links = ["name"]
    list_editable = ["order"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "code", "description"]
    prepopulated_fields = {"code": ["name"]}


# --- Screening: recorded through screening_record, then read-only ------------------------


class ScreeningRecordForm(forms.ModelForm):
    """The whole active checklist, each item answered yes or no explicitly.

    Built per request (screening_record_form) so its fields follow the current checklist.
    """

    items: list[Contraindication] = []

    class Meta:
        model = Screening
        fields = ["patient", "notes"]

    def answers(self) -> list[tuple[int, bool, str]]:
        return checklist_answers(self.cleaned_data, self.items)


def screening_record_form(items: list[Contraindication]) -> type[ScreeningRecordForm]:
    attrs: dict = {"items": items, **checklist_fields(items)}
    return type("ScreeningRecordForm", (ScreeningRecordForm,), attrs)


class ScreeningAnswerInline(ScopedInline, admin.TabularInline):
    model = ScreeningAnswer
    fields = ["contraindication", "kind", "present", "note", "sign_off_status"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("contraindication", "sign_off__clinician")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="kind")
    def kind(self, answer: ScreeningAnswer) -> str:
        return answer.contraindication.get_kind_display()

    @admin.display(description="sign-off")
    def sign_off_status(self, answer: ScreeningAnswer) -> str:
        item = answer.contraindication
        if not answer.present:
            return "-"
        if item.kind == Contraindication.Kind.ABSOLUTE:
            return "Blocks treatment (cannot be signed off)"
        sign_off = getattr(answer, "sign_off", None)
        if sign_off is not None:
            return format_html(
                "Signed off by {} on {}: {}",
                sign_off.clinician,
                f"{sign_off.signed_at:%Y-%m-%d}",
                sign_off.reason,
            )
        url = reverse("admin:patients_screeningsignoff_add") + f"?answer={answer.pk}"
        return format_html('Needs sign-off: <a href="{}">sign off</a>', url)


@admin.register(Screening)
class ScreeningAdmin(ScopedAdmin):
    clinic_path = "patient__clinic"
    list_display = ["id", "screened_at", "patient", "screened_by"]
    list_filter = ["patient__clinic"]
    list_select_related = ["patient", "screened_by"]
    search_fields = ["patient__mrn", "patient__last_name"]
    date_hierarchy = "screened_at"
    readonly_fields = ["patient", "screened_at", "screened_by", "notes"]
    inlines = [ScreeningAnswerInline]

    def get_inline_instances(self, request, obj=None):
        # On add, the checklist is part of the form itself.
        return [] if obj is None else super().get_inline_instances(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def _checklist(self, request) -> list[Contraindication]:
        if not hasattr(request, "_screening_checklist"):
            request._screening_checklist = list(Contraindication.objects.filter(is_active=True))
        return request._screening_checklist

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = screening_record_form(self._checklist(request))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return super().get_fieldsets(request, obj)
        rows = [(f"item_{item.id}", f"note_{item.id}") for item in self._checklist(request)]
        return [(None, {"fields": ["patient", "notes"]}), ("Checklist", {"fields": rows})]

    def has_change_permission(self, request, obj=None):
        return False  # a correction is a new screening

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        screening = services.screening_record(
            patient=form.cleaned_data["patient"],
            answers=form.answers(),
            by=request.user,
            notes=form.cleaned_data["notes"],
        )
        obj.pk = screening.pk
        obj.screened_at = screening.screened_at
        obj.screened_by = screening.screened_by
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        pass  # screening_record wrote the answers


# --- Sign-offs: added by a clinician through screening_sign_off, never edited -----------


class SignOffForm(forms.ModelForm):
    clinician = None  # set per request by the admin

    class Meta:
        model = ScreeningSignOff
        fields = ["answer", "reason"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            services.screening_sign_off_check(
                answer=data["answer"], clinician=self.clinician, reason=data["reason"]
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_onto(self, exc)
        return data


class AnswerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, answer: ScreeningAnswer) -> str:
        patient = answer.screening.patient
        return (
            f"{patient.last_name}, {patient.first_name} ({patient.mrn}) - "
            f"{answer.contraindication.name} - screened {answer.screening.screened_at:%Y-%m-%d}"
        )


@admin.register(ScreeningSignOff)
class ScreeningSignOffAdmin(ScopedAdmin):
    clinic_path = "answer__screening__patient__clinic"
    list_display = ["signed_at", "patient", "contraindication", "clinician"]
    list_select_related = [
        "answer__screening__patient",
        "answer__contraindication",
        "clinician",
    ]
    list_filter = ["answer__screening__patient__clinic"]
    search_fields = ["answer__screening__patient__mrn", "answer__screening__patient__last_name"]
    readonly_fields = ["answer", "clinician", "reason", "signed_at"]

    @admin.display(description="patient")
    def patient(self, sign_off: ScreeningSignOff) -> Patient:
        return sign_off.answer.screening.patient

    @admin.display(description="contraindication")
    def contraindication(self, sign_off: ScreeningSignOff) -> Contraindication:
        return sign_off.answer.contraindication

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SignOffForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.clinician = request.user
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "answer":
            # Present relative findings not yet signed off, at the user's clinics.
            answers = ScreeningAnswer.objects.filter(
                present=True,
                contraindication__kind=Contraindication.Kind.RELATIVE,
                sign_off__isnull=True,
            ).select_related("screening__patient", "contraindication")
            clinics = self.clinic_ids(request, "add")
            kwargs["queryset"] = answers.filter(in_clinics("screening__patient__clinic", clinics))
            kwargs["form_class"] = AnswerChoiceField
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False  # the history is kept: never edited in place

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        sign_off = services.screening_sign_off(
            answer=form.cleaned_data["answer"],
            clinician=request.user,
            reason=form.cleaned_data["reason"],
        )
        obj.pk = sign_off.pk
        obj.clinician = sign_off.clinician
        obj.signed_at = sign_off.signed_at
        obj._state.adding = False
