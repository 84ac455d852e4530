from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from clinic.models import Weekday

from . import services
from .models import Course, Protocol, ProtocolPhase, Session, SessionStatusChange


class PhaseFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        phases = [
            form.instance
            for form in sorted(
                (f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")),
                key=lambda f: f.cleaned_data.get("order") or 0,
            )
        ]
        if not phases:
            raise ValidationError("A protocol needs at least one phase.")
        try:
            services.protocol_validate_phases(phases)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc


class ProtocolPhaseInline(admin.TabularInline):
    model = ProtocolPhase
    formset = PhaseFormSet
    extra = 0


@admin.register(Protocol)
class ProtocolAdmin(admin.ModelAdmin):
    list_display = ["name", "drug", "route", "clinic", "is_active"]
    list_filter = ["drug", "route", "is_active", "clinic"]
    search_fields = ["name", "code"]
    inlines = [ProtocolPhaseInline]


class CourseStartForm(forms.ModelForm):
    """Adding a course in the admin runs the same service as every other way in."""

    preferred_weekdays = forms.TypedMultipleChoiceField(
        choices=Weekday.choices, coerce=int, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Course
        fields = ["patient", "protocol", "start_date", "preferred_weekdays", "preferred_time"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.planned = services.course_plan(
                patient=data["patient"],
                protocol=data["protocol"],
                start_date=data["start_date"],
                preferred_weekdays=data["preferred_weekdays"],
                preferred_time=data["preferred_time"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data


class SessionInline(admin.TabularInline):
    model = Session
    fields = ["number", "phase", "starts_at", "ends_at", "chair", "status"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["id", "patient", "protocol", "start_date", "status", "clinic"]
    list_filter = ["status", "clinic", "protocol"]
    search_fields = ["patient__mrn", "patient__last_name"]
    autocomplete_fields = ["patient"]
    inlines = [SessionInline]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = CourseStartForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "clinic",
            "patient",
            "protocol",
            "start_date",
            "preferred_weekdays",
            "preferred_time",
            "planned_until",
            "created_by",
        ]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        course = services.course_start(
            patient=form.cleaned_data["patient"],
            protocol=form.cleaned_data["protocol"],
            start_date=form.cleaned_data["start_date"],
            preferred_weekdays=form.cleaned_data["preferred_weekdays"],
            preferred_time=form.cleaned_data["preferred_time"],
            by=request.user,
        )
        obj.pk = course.pk
        obj.clinic = course.clinic
        obj._state.adding = False
        messages.info(request, f"{course.sessions.count()} sessions booked.")


class StatusChangeInline(admin.TabularInline):
    model = SessionStatusChange
    fields = ["changed_at", "from_status", "to_status", "changed_by", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["id", "starts_at", "patient", "chair", "number", "status", "clinic"]
    list_filter = ["status", "clinic", "chair"]
    date_hierarchy = "starts_at"
    search_fields = ["patient__mrn", "patient__last_name"]
    list_select_related = ["patient", "chair", "clinic"]
    readonly_fields = ["clinic", "course", "patient", "phase", "number", "status", "created_at"]
    inlines = [StatusChangeInline]
