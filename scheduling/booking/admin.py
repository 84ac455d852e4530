import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet

from clinic.admin_scope import ScopedAdmin, ScopedHistoryAdmin, ScopedInline
from clinic.forms import errors_onto
from clinic.models import Chair, Weekday

from . import services as booking_services
from .models import Course, Protocol, ProtocolPhase, Session, SessionStatusChange, StaffNotice


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
            booking_services.protocol_validate_phases(phases)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc


class ProtocolPhaseInline(ScopedInline, admin.TabularInline):
    model = ProtocolPhase
    formset = PhaseFormSet
    extra = 0


@admin.register(Protocol)
class ProtocolAdmin(ScopedHistoryAdmin):
    shared_rows = True  # built-in protocols: every clinic's to use, a superuser's to change
    list_display = ["name", "drug", "route", "clinic", "is_active"]
    list_filter = ["drug", "route", "is_active", "clinic"]
    search_fields = ["name", "code"]
    filter_horizontal = ["contraindications"]
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
            self.planned = booking_services.course_plan(
                patient=data["patient"],
                protocol=data["protocol"],
                start_date=data["start_date"],
                preferred_weekdays=data["preferred_weekdays"],
                preferred_time=data["preferred_time"],
            )
        except ValidationError as exc:
            errors_onto(self, exc)
        return data


class SessionInline(ScopedInline, admin.TabularInline):
    model = Session
    fields = ["number", "phase", "starts_at", "ends_at", "chair", "status"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Course)
class CourseAdmin(ScopedHistoryAdmin):
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
        course = booking_services.course_start(
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


class StatusChangeInline(ScopedInline, admin.TabularInline):
    model = SessionStatusChange
    fields = ["changed_at", "from_status", "to_status", "changed_by", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class SessionActionForm(forms.ModelForm):
    """Every change to a session in the admin goes through a service, like everywhere else.

    The chosen operation runs in clean(), inside the admin's transaction, so a refusal
    is shown on the form next to the field it names and nothing is written.
    """

    OPERATIONS = [
        ("", "---------"),
        ("move", "Move"),
        ("cancel", "Cancel"),
        ("no_show", "Mark as no-show"),
        ("restore", "Undo cancellation or no-show (clinician)"),
        (Session.Status.CHECKED_IN, "Check in"),
        # Starting the dose and discharging are the chart's forms (they check the rules).
        (Session.Status.MONITORING, "Dose given: monitoring"),
    ]
    operation = forms.ChoiceField(choices=OPERATIONS, required=False)
    scope = forms.ChoiceField(
        choices=booking_services.Scope.choices, initial=booking_services.Scope.ONE
    )
    new_date = forms.DateField(required=False, help_text="Clinic's local date (for a move).")
    new_time = forms.TimeField(required=False, help_text="Clinic's local time (for a move).")
    new_chair = forms.ModelChoiceField(
        queryset=Chair.objects.none(), required=False, help_text="Blank: any free chair."
    )
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = Session
        fields: list[str] = []

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if self.instance.pk:
            self.fields["new_chair"].queryset = Chair.objects.filter(
                clinic=self.instance.clinic, is_active=True
            )

    def clean(self):
        data = super().clean()
        op = data.get("operation")
        if not op or self.errors:
            return data
        session, by, reason = self.instance, self.user, data.get("reason", "")
        scope = data.get("scope") or booking_services.Scope.ONE
        try:
            if op == "move":
                if not data.get("new_date") or not data.get("new_time"):
                    raise ValidationError({"new_date": "Give the new local date and time."})
                starts_at = dt.datetime.combine(
                    data["new_date"], data["new_time"], tzinfo=session.clinic.tz
                )
                booking_services.session_move(
                    session=session,
                    starts_at=starts_at,
                    chair=data.get("new_chair"),
                    scope=scope,
                    by=by,
                    note=reason,
                )
            elif op == "cancel":
                booking_services.session_cancel(session=session, scope=scope, by=by, reason=reason)
            elif op == "no_show":
                booking_services.session_no_show(session=session, by=by, note=reason)
            elif op == "restore":
                booking_services.session_restore(session=session, by=by, reason=reason)
            else:
                booking_services.session_transition(session=session, to=op, by=by, note=reason)
        except (PermissionDenied, ValidationError) as exc:
            errors_onto(
                self, exc, {"starts_at": "new_date", "chair": "new_chair", "note": "reason"}
            )
        return data


class SessionBookForm(forms.ModelForm):
    """Book one more session in a course (make-up or maintenance)."""

    date = forms.DateField(help_text="Clinic's local date.")
    time = forms.TimeField(help_text="Clinic's local time.")
    chair = forms.ModelChoiceField(queryset=Chair.objects.filter(is_active=True), required=False)

    class Meta:
        model = Session
        fields = ["course"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        course = data["course"]
        try:
            self.booked = booking_services.session_book(
                course=course,
                starts_at=dt.datetime.combine(data["date"], data["time"], tzinfo=course.clinic.tz),
                chair=data.get("chair"),
                by=self.user,
            )
        except ValidationError as exc:
            errors_onto(self, exc, {"starts_at": "date"})
        return data


@admin.register(Session)
class SessionAdmin(ScopedHistoryAdmin):
    list_display = [
        "id", "local_start", "patient", "chair", "number", "status", "patient_response", "clinic",
    ]  # fmt: skip
    list_filter = ["status", "clinic", "chair"]
    date_hierarchy = "starts_at"
    search_fields = ["patient__mrn", "patient__last_name"]
    list_select_related = ["patient", "chair", "clinic"]
    readonly_fields = [
        "clinic", "course", "patient", "phase", "number", "local_start", "ends_at", "chair",
        "status", "created_at", "patient_response", "responded_at",
    ]  # fmt: skip
    inlines = [StatusChangeInline]

    @admin.display(description="Starts (clinic time)", ordering="starts_at")
    def local_start(self, obj):
        return f"{obj.starts_at.astimezone(obj.clinic.tz):%a %d %b %Y %H:%M}"

    # Shown under the session's details once it exists; the chart adds its own panel.
    panels: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, *self.panels] if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["course", "date", "time", "chair"]
        if not self.has_change_permission(request, obj):
            return [*self.readonly_fields, *self.panels]  # view only: no operations to offer
        return [
            *self.readonly_fields,
            *self.panels,
            "operation",
            "scope",
            "new_date",
            "new_time",
            "new_chair",
            "reason",
        ]

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = SessionActionForm if obj else SessionBookForm
        if obj is None or self.has_change_permission(request, obj):
            kwargs["fields"] = None  # the form's own fields, not the model's
        form = super().get_form(request, obj, **kwargs)

        class WithUser(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, user=request.user, **kw)

        return WithUser

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.pk = form.booked.pk
            obj._state.adding = False
        # The service already saved everything; saving the form's copy would undo it.


# --- Staff notices -------------------------------------------------------------------------


@admin.register(StaffNotice)
class StaffNoticeAdmin(ScopedAdmin):
    list_display = ["created_at", "kind", "message", "session", "course", "due_on", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "kind", "clinic"]
    list_select_related = ["session", "course"]
    readonly_fields = [
        "clinic", "kind", "session", "course", "reminder", "message", "due_on", "created_at",
        "resolved_at", "resolved_by",
    ]  # fmt: skip
    actions = ["resolve"]

    @admin.action(description="Mark as done", permissions=["change"])
    def resolve(self, request, queryset):
        from django.utils import timezone

        notices = self.scoped(request, queryset, "change")  # of the clinics where allowed
        done = booking_services.staff_notice_resolve(
            notices=notices, by=request.user, now=timezone.now()
        )
        messages.info(request, f"{done} notices marked as done.")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
