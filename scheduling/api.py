"""API for protocols, courses and sessions. Thin: parse, check the role, call a service.

Every business rule is in scheduling.services; a refusal there is a 400 naming the
field (clinic.api.base.exception_handler), exactly as for malformed input.
"""

from django.db.models import Count, Q
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clinic import conditional
from clinic.api.base import (
    BOOKERS,
    CLINICAL,
    COURSE_STARTERS,
    MAX_ID,
    PATIENT,
    STAFF,
    IdField,
    InputSerializer,
    ModelSerializer,
    Role,
    ScopedMixin,
    StrictFilterSet,
    caller,
    created,
)
from clinic.models import Chair, Weekday
from patients.api import ReadLogMixin
from patients.models import Patient

from . import selectors, services
from .api_chart import (
    AlertSerializer,
    DoseSerializer,
    SideEffectSerializer,
    VitalSignsSerializer,
    VitalsValues,
)
from .models import ChecklistItem, Course, Protocol, ProtocolPhase, Session, SessionStatusChange

# --- Protocols --------------------------------------------------------------------------


class PhaseSerializer(ModelSerializer):
    class Meta:
        model = ProtocolPhase
        fields = ["order", "name", "sessions_per_period", "period_unit", "period_length", "periods"]
        read_only_fields = ["order"]


PROTOCOL_FIELDS = [
    "code", "name", "description", "drug", "route", "is_active", "session_minutes",
    "min_observation_minutes", "min_gap_hours", "fasting_food_minutes",
    "fasting_liquids_minutes", "dose_mg_per_kg", "dose_mg_per_kg_min", "dose_mg_per_kg_max",
    "infusion_minutes", "device_mg", "dose_mg_min", "dose_mg_max", "first_dose_mg",
    "first_dose_mg_65_and_over", "device_interval_minutes", "dose_ceiling_mg_per_kg",
    "dose_ceiling_mg", "vitals_every_minutes_during", "vitals_every_minutes_after",
    "pulse_oximetry_throughout", "check_in_fasting", "check_in_weight",
]  # fmt: skip


class ProtocolSerializer(ModelSerializer):
    phases = PhaseSerializer(many=True)
    built_in = serializers.SerializerMethodField()

    class Meta:
        model = Protocol
        fields = ["id", "clinic", "built_in", *PROTOCOL_FIELDS, "phases"]
        read_only_fields = ["id", "built_in"]
        validators: list = []  # the service validates the whole protocol, once

    serializer_related_field = IdField

    def get_built_in(self, obj) -> bool:
        return obj.clinic_id is None

    def validate_clinic(self, clinic):
        if clinic is None or not caller(self.context["request"]).has(clinic.id, (Role.CLINICIAN,)):
            raise serializers.ValidationError("Protocols are created for one of your clinics.")
        return clinic


class ProtocolViewSet(
    ScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Built-in protocols and the caller's clinics' own; clinicians create their own."""

    serializer_class = ProtocolSerializer
    filterset_fields = ["drug", "route", "is_active", "clinic"]
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]
    roles = {"list": STAFF, "retrieve": STAFF, "create": (Role.CLINICIAN,)}

    def get_queryset(self):
        c = caller(self.request)
        qs = Protocol.objects.prefetch_related("phases")
        if c.is_superuser:
            return qs
        # Built-in protocols are every clinic's; a clinic's own are its staff's only.
        roles = self.roles.get(self.action or "", STAFF)
        return qs.filter(Q(clinic__isnull=True) | Q(clinic_id__in=c.clinic_ids(roles)))

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        phases = [dict(p) for p in data.pop("phases")]
        serializer.instance = services.protocol_create(phases=phases, **data)


# --- Session representations (used by course and session endpoints) -------------------


class StatusChangeSerializer(ModelSerializer):
    class Meta:
        model = SessionStatusChange
        fields = ["from_status", "to_status", "changed_by", "changed_at", "note"]


def _patient_response_field() -> serializers.ChoiceField:
    # Declared, not derived from the model: DRF drops a read-only field's allow_blank,
    # and the schema would then refuse the blank a session has until the patient answers.
    return serializers.ChoiceField(
        choices=Session.Response.choices, allow_blank=True, read_only=True,
        help_text="The patient's answer to the confirm-or-cancel reminder; blank: none yet.",
    )  # fmt: skip


class SessionSerializer(ModelSerializer):
    local_start = serializers.SerializerMethodField()
    patient_response = _patient_response_field()

    class Meta:
        model = Session
        fields = [
            "id", "clinic", "course", "patient", "chair", "phase", "number", "starts_at",
            "ends_at", "local_start", "status", "patient_response", "responded_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_local_start(self, obj) -> str:
        """Start in the clinic's own time zone, with its offset."""
        return obj.starts_at.astimezone(obj.clinic.tz).isoformat()


class SessionDetailSerializer(SessionSerializer):
    status_changes = StatusChangeSerializer(many=True, read_only=True)

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "status_changes"]
        read_only_fields = fields


# --- Courses ----------------------------------------------------------------------------


class CourseSerializer(ModelSerializer):
    session_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Course
        fields = [
            "id", "clinic", "patient", "protocol", "start_date", "preferred_weekdays",
            "preferred_time", "status", "planned_until", "created_at", "session_count",
        ]  # fmt: skip
        read_only_fields = fields


class CourseStartInput(InputSerializer):
    patient = IdField(queryset=Patient.objects.all())
    protocol = IdField(queryset=Protocol.objects.all())
    start_date = serializers.DateField()
    preferred_weekdays = serializers.ListField(
        child=serializers.ChoiceField(choices=Weekday.choices), allow_empty=False, max_length=7
    )
    preferred_time = serializers.TimeField()


class PlannedSessionSerializer(InputSerializer):
    number = serializers.IntegerField()
    phase = serializers.IntegerField(source="phase_key")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    local_start = serializers.DateTimeField(format="%Y-%m-%dT%H:%M")


class SlotSerializer(InputSerializer):
    chair = serializers.IntegerField(source="chair_id")
    chair_name = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    local_start = serializers.DateTimeField()


class SlotQuery(serializers.Serializer):  # query strings: text, parsed by the fields
    start = serializers.DateField(required=False)
    days = serializers.IntegerField(min_value=1, max_value=62, default=14)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=20)


class MaintenanceFrequencyInput(InputSerializer):
    every_weeks = serializers.IntegerField(min_value=1, max_value=2)
    reason = serializers.CharField(max_length=2000)


class BookInput(InputSerializer):
    starts_at = serializers.DateTimeField()
    chair = IdField(queryset=Chair.objects.all(), required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


def _own_patient(request, patient: Patient, roles) -> Patient:
    if not caller(request).has(patient.clinic_id, roles):
        raise serializers.ValidationError({"patient": ["Not a patient of your clinic."]})
    return patient


def _own_chair(course: Course, chair: Chair | None) -> Chair | None:
    if chair is not None and chair.clinic_id != course.clinic_id:
        raise serializers.ValidationError({"chair": ["Not a chair of this course's clinic."]})
    return chair


class CourseViewSet(
    ReadLogMixin,
    ScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Courses: a patient's run through a protocol. Starting one books every session."""

    serializer_class = CourseSerializer
    patient_field = "patient_id"
    filterset_fields = ["clinic", "patient", "protocol", "status"]
    ordering_fields = ["start_date", "created_at", "id"]
    ordering = ["-start_date", "id"]
    roles = {
        "list": (*STAFF, PATIENT),
        "retrieve": (*STAFF, PATIENT),
        "create": COURSE_STARTERS,
        "preview": COURSE_STARTERS,
        "slots": BOOKERS,
        "book": BOOKERS,
        "maintenance_frequency": (Role.CLINICIAN,),
    }

    def get_queryset(self):
        return self.scope(Course.objects.annotate(session_count=Count("sessions")))

    def get_serializer_class(self):
        return {
            "create": CourseStartInput,
            "preview": CourseStartInput,
            "book": BookInput,
            "maintenance_frequency": MaintenanceFrequencyInput,
        }.get(self.action, CourseSerializer)

    def _start_args(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        _own_patient(request, args["patient"], COURSE_STARTERS)
        return args

    @extend_schema(responses=CourseSerializer)
    def create(self, request, *args, **kwargs):
        course = services.course_start(**self._start_args(request), by=request.user)
        return created(CourseSerializer(self.get_queryset().get(pk=course.pk)).data)

    @extend_schema(responses=PlannedSessionSerializer(many=True))
    @action(detail=False, methods=["post"], pagination_class=None)
    def preview(self, request, **kwargs):
        """The sessions a new course would have; nothing is written."""
        planned = services.course_plan(**self._start_args(request))
        return Response(PlannedSessionSerializer(planned, many=True).data)

    @extend_schema(parameters=[SlotQuery], responses=SlotSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def slots(self, request, pk=None, **kwargs):
        """The next free (chair, start) pairs for one more session of this course."""
        course = self.get_object()
        query = SlotQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        start = query.validated_data.get("start") or course.clinic.local_today(now)
        slots = selectors.slots_free(
            course=course,
            start=start,
            days=query.validated_data["days"],
            limit=query.validated_data["limit"],
            now=now,
        )
        return Response(SlotSerializer(slots, many=True).data)

    @extend_schema(responses={201: SessionSerializer})
    @action(detail=True, methods=["post"])
    def book(self, request, pk=None, **kwargs):
        """Book one more session in this course."""
        course = self.get_object()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_book(
            course=course,
            starts_at=data.validated_data["starts_at"],
            chair=_own_chair(course, data.validated_data.get("chair")),
            note=data.validated_data["note"],
            by=request.user,
        )
        return created(SessionSerializer(session).data)

    @extend_schema(responses=SessionSerializer(many=True))
    @action(detail=True, methods=["post"], url_path="maintenance-frequency", pagination_class=None)
    def maintenance_frequency(self, request, pk=None, **kwargs):
        """A clinician sets maintenance to every 1 or 2 weeks for the rest of the course:
        booked maintenance sessions to come are cancelled with the reason and written out
        anew. Answers the new sessions."""
        course = self.get_object()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        sessions = services.course_maintenance_frequency_set(
            course=course, by=request.user, **data.validated_data
        )
        return Response(SessionSerializer(sessions, many=True).data)


# --- Sessions ---------------------------------------------------------------------------


class MoveInput(InputSerializer):
    starts_at = serializers.DateTimeField()
    chair = IdField(queryset=Chair.objects.all(), required=False, allow_null=True)
    scope = serializers.ChoiceField(choices=services.Scope.choices, default=services.Scope.ONE)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CancelInput(InputSerializer):
    scope = serializers.ChoiceField(choices=services.Scope.choices, default=services.Scope.ONE)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class NoteInput(InputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReasonInput(InputSerializer):
    reason = serializers.CharField(max_length=2000)


class ClinicItemIds(serializers.ListField):
    """The ids of the clinic's own checklist items done (each a line's `clinic_item` on
    the chart); one not on the session's checklist is refused by the service."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.IntegerField(min_value=1, max_value=MAX_ID))
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)


class CheckInInput(InputSerializer):
    fasting_confirmed = serializers.BooleanField()
    escort_confirmed = serializers.BooleanField()
    escort_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    escort_phone = PhoneNumberField(required=False, allow_blank=True)
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )
    pre_dose_vitals = VitalsValues(required=False, allow_null=True)
    phq9_items = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=3),
        min_length=9,
        max_length=9,
        required=False,
        allow_null=True,
    )
    clinic_items_done = ClinicItemIds()
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ChecklistCompleteInput(InputSerializer):
    fasting_confirmed = serializers.BooleanField(required=False, default=False)
    escort_confirmed = serializers.BooleanField(required=False, default=False)
    escort_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    escort_phone = PhoneNumberField(required=False, allow_blank=True)
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )
    clinic_items_done = ClinicItemIds()


class WaiveInput(InputSerializer):
    item = serializers.CharField(
        max_length=40,
        help_text=f"A line's `item` on the chart: one of {', '.join(ChecklistItem.values)}, "
        "or a clinic's own item (clinic_item_<id>).",
    )
    reason = serializers.CharField(max_length=2000)


class DoseInput(InputSerializer):
    started_at = serializers.DateTimeField(required=False)
    mg_per_kg = serializers.DecimalField(max_digits=4, decimal_places=2, required=False)
    infusion_minutes = serializers.IntegerField(min_value=1, max_value=600, required=False)
    dose_mg = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    lot_number = serializers.CharField(required=False, allow_blank=True, max_length=40)
    sign_off_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ReadyToLeaveInput(InputSerializer):
    ready_at = serializers.DateTimeField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class DischargeInput(InputSerializer):
    escort_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    escort_phone = PhoneNumberField(required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class RemsInput(InputSerializer):
    benzodiazepines = serializers.BooleanField()
    non_benzo_sedatives = serializers.BooleanField()
    psychostimulants = serializers.BooleanField()
    maois = serializers.BooleanField()
    setting = serializers.CharField(required=False, allow_blank=True, max_length=200)


class RemsFiledInput(InputSerializer):
    reference = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ChecklistLineSerializer(InputSerializer):
    item = serializers.CharField()
    label = serializers.CharField()
    done = serializers.BooleanField()
    detail = serializers.CharField()
    waived = serializers.SerializerMethodField()
    satisfied = serializers.BooleanField()
    clinic_item = serializers.IntegerField(
        source="clinic_item_id", allow_null=True, help_text="A clinic's own item: its id."
    )

    def get_waived(self, line) -> bool:
        return line.waiver is not None


class VitalsCheckSerializer(InputSerializer):
    timepoint = serializers.CharField()
    due_at = serializers.DateTimeField()
    done = serializers.BooleanField()
    overdue = serializers.BooleanField()


class ChartSerializer(InputSerializer):
    """The session chart as a nurse sees it (scheduling.selectors.session_chart)."""

    session = SessionSerializer()
    checklist = ChecklistLineSerializer(many=True)
    dose = DoseSerializer(allow_null=True)
    vitals = VitalSignsSerializer(many=True, source="current_vitals")
    vitals_schedule = VitalsCheckSerializer(many=True)
    vitals_next_due = VitalsCheckSerializer(allow_null=True)
    vitals_overdue = VitalsCheckSerializer(many=True)
    side_effects = SideEffectSerializer(many=True, source="current_side_effects")
    alerts = AlertSerializer(many=True)
    observation_ends_at = serializers.DateTimeField(allow_null=True)
    discharge_problems = serializers.SerializerMethodField()

    def get_discharge_problems(self, chart) -> dict[str, list[str]]:
        return chart.discharge_problems()


class RemsFormSerializer(InputSerializer):
    session_id = serializers.IntegerField()
    patient_name = serializers.CharField()
    birth_date = serializers.DateField()
    sex = serializers.CharField()
    first_treatment = serializers.BooleanField(allow_null=True)
    benzodiazepines = serializers.BooleanField(allow_null=True)
    non_benzo_sedatives = serializers.BooleanField(allow_null=True)
    psychostimulants = serializers.BooleanField(allow_null=True)
    maois = serializers.BooleanField(allow_null=True)
    monitoring_clinician = serializers.CharField(allow_null=True)
    setting = serializers.CharField(allow_null=True)
    date = serializers.DateField()
    dose_mg = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
    lot_number = serializers.CharField(allow_null=True)
    total_minutes = serializers.IntegerField(allow_null=True)
    ready_to_leave_at = serializers.DateTimeField(allow_null=True)
    bp_before_dose = serializers.CharField(allow_null=True)
    bp_at_40_minutes = serializers.CharField(allow_null=True)
    bp_before_leaving = serializers.CharField(allow_null=True)
    vitals_in_range_before_dose = serializers.BooleanField(allow_null=True)
    vitals_in_range_before_leaving = serializers.BooleanField(allow_null=True)
    sedation = serializers.BooleanField(allow_null=True)
    dissociation = serializers.BooleanField(allow_null=True)
    respiratory_depression = serializers.BooleanField(allow_null=True)
    serious_adverse_events = serializers.ListField(child=serializers.CharField(), allow_null=True)
    filed_at = serializers.DateTimeField(allow_null=True)
    missing = serializers.ListField(child=serializers.CharField())
    is_complete = serializers.BooleanField()


class SessionFilter(StrictFilterSet):
    starts_after = filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    starts_before = filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")

    class Meta:
        model = Session
        fields = ["clinic", "chair", "course", "patient", "status"]


class SessionViewSet(
    ReadLogMixin,
    ScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Sessions and every move in their life; each action calls one service."""

    serializer_class = SessionSerializer
    patient_field = "patient_id"
    filterset_class = SessionFilter
    ordering_fields = ["starts_at", "number", "id"]
    ordering = ["starts_at", "id"]
    roles = {
        "list": (*STAFF, PATIENT),
        "retrieve": (*STAFF, PATIENT),
        "move": BOOKERS,
        "cancel": (*BOOKERS, PATIENT),
        "no_show": BOOKERS,
        "restore": (Role.CLINICIAN,),
        "check_in": CLINICAL,
        "checklist": CLINICAL,
        "waive": (Role.CLINICIAN,),
        "dose": CLINICAL,
        "monitoring": CLINICAL,
        "ready_to_leave": (Role.CLINICIAN,),
        "discharge": CLINICAL,
        "chart": CLINICAL,
        "rems_form": CLINICAL,
        "rems": CLINICAL,
        "rems_filed": CLINICAL,
    }

    def get_queryset(self):
        if self.action == "chart":  # read as its validator needs it (its conditional GET)
            return self.scope(selectors.chart_validator_sessions())
        qs = self.scope(Session.objects.select_related("clinic"))
        if self.action == "retrieve":
            qs = qs.prefetch_related("status_changes")
        return qs

    def get_serializer_class(self):
        return {
            "retrieve": SessionDetailSerializer,
            "move": MoveInput,
            "cancel": CancelInput,
            "no_show": NoteInput,
            "check_in": CheckInInput,
            "checklist": ChecklistCompleteInput,
            "waive": WaiveInput,
            "dose": DoseInput,
            "monitoring": NoteInput,
            "ready_to_leave": ReadyToLeaveInput,
            "discharge": DischargeInput,
            "rems": RemsInput,
            "rems_filed": RemsFiledInput,
            "restore": ReasonInput,
        }.get(self.action, SessionSerializer)

    def _input(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data

    def _done(self, session) -> Response:
        session = self.get_queryset().prefetch_related("status_changes").get(pk=session.pk)
        return Response(SessionDetailSerializer(session).data)

    @extend_schema(responses=SessionSerializer(many=True))
    @action(detail=True, methods=["post"], pagination_class=None)
    def move(self, request, pk=None, **kwargs):
        session = self.get_object()
        data = self._input(request)
        moved = services.session_move(
            session=session,
            starts_at=data["starts_at"],
            chair=_own_chair(session.course, data.get("chair")),
            scope=data["scope"],
            note=data["note"],
            by=request.user,
        )
        return Response(SessionSerializer(moved, many=True).data)

    @extend_schema(responses=SessionSerializer(many=True))
    @action(detail=True, methods=["post"], pagination_class=None)
    def cancel(self, request, pk=None, **kwargs):
        session = self.get_object()
        data = self._input(request)
        if caller(request).patient_id == session.patient_id and data["scope"] != "one":
            raise serializers.ValidationError({"scope": ["Patients cancel one session at a time."]})
        cancelled = services.session_cancel(
            session=session, scope=data["scope"], reason=data["reason"], by=request.user
        )
        return Response(SessionSerializer(cancelled, many=True).data)

    def _apply(self, request, service, show):
        """Parse the body, call the service on this session as the caller, show the result."""
        session = self.get_object()
        service(session=session, by=request.user, **self._input(request))
        return show(session)

    def _show_chart(self, session) -> Response:
        return Response(ChartSerializer(selectors.session_chart(session=session)).data)

    def _show_rems(self, session) -> Response:
        return Response(RemsFormSerializer(selectors.rems_form_for_session(session=session)).data)

    def _transition(self, request, to):
        session = self.get_object()
        data = self._input(request)
        return self._done(
            services.session_transition(session=session, to=to, by=request.user, note=data["note"])
        )

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"], url_path="no-show")
    def no_show(self, request, pk=None, **kwargs):
        return self._transition(request, Session.Status.NO_SHOW)

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request, pk=None, **kwargs):
        """Check the patient in with the pre-session checklist (fasting and weight where
        the protocol asks, escort, pre-dose vitals, PHQ-9 where the clinic asks, and the
        clinic's own items: `clinic_items_done`, ids from the chart). Items may follow
        later."""
        return self._apply(request, services.session_check_in, self._done)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["post"])
    def checklist(self, request, pk=None, **kwargs):
        """Complete, before the dose, checklist items not done at check-in (the clinic's
        own items by id, among those asked at check-in). A done item is never undone."""
        return self._apply(request, services.checklist_complete, self._show_chart)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["post"])
    def waive(self, request, pk=None, **kwargs):
        """A clinician waives one checklist item, with a reason."""
        return self._apply(request, services.checklist_waive, self._show_chart)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["post"])
    def dose(self, request, pk=None, **kwargs):
        """Record the dose and start it (IV by weight; esketamine by devices with a lot
        number). Outside the protocol's range: a clinician records it with a reason."""
        return self._apply(request, services.dose_record, self._show_chart)

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"])
    def monitoring(self, request, pk=None, **kwargs):
        """The dose is complete: the patient is now under observation."""
        return self._transition(request, Session.Status.MONITORING)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["post"], url_path="ready-to-leave")
    def ready_to_leave(self, request, pk=None, **kwargs):
        """A clinician records when the patient was ready to leave (esketamine: discharge
        and the REMS form wait for it). A correction gives a `reason`."""
        return self._apply(request, services.ready_to_leave_record, self._show_chart)

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"])
    def discharge(self, request, pk=None, **kwargs):
        """Refused, listing what is missing, until the minimum observation has passed,
        vitals are in range or signed off, alerts are acknowledged, sedation, dissociation
        and respiratory depression have resolved (MOAA/S 5, CADSS down to the clinic's
        limit), an escort is named and, for esketamine, the pre-discharge blood pressure
        and a clinician's ready-to-leave time are recorded."""
        return self._apply(request, services.session_discharge, self._done)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["get"])
    def chart(self, request, pk=None, **kwargs):
        """The whole chart: checklist, dose, vitals with the next due and overdue checks,
        side effects, alerts, and what discharge still needs.

        Re-read while open: send the ETag back in `If-None-Match` and an unchanged chart
        is a `304 Not Modified`."""
        session = self.get_object()
        validator = selectors.chart_validator(session=session)
        parts = (validator, request.accepted_renderer.format)
        return conditional.respond(request, parts, lambda: self._show_chart(session))

    @extend_schema(responses=RemsFormSerializer)
    @action(detail=True, methods=["get"], url_path="rems-form")
    def rems_form(self, request, pk=None, **kwargs):
        """The esketamine REMS patient monitoring form, filled from the chart."""
        return self._show_rems(self.get_object())

    @extend_schema(responses=RemsFormSerializer)
    @action(detail=True, methods=["post"])
    def rems(self, request, pk=None, **kwargs):
        """Answer the REMS questions the chart does not already hold."""
        return self._apply(request, services.rems_report_record, self._show_rems)

    @extend_schema(responses=RemsFormSerializer)
    @action(detail=True, methods=["post"], url_path="rems-filed")
    def rems_filed(self, request, pk=None, **kwargs):
        """Mark the REMS form as filed (refused while any field is missing)."""
        return self._apply(request, services.rems_form_mark_filed, self._show_rems)

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None, **kwargs):
        session = self.get_object()
        data = self._input(request)
        return self._done(
            services.session_restore(session=session, by=request.user, reason=data["reason"])
        )


__all__ = ["CourseViewSet", "ProtocolViewSet", "SessionViewSet"]


# --- The day board ----------------------------------------------------------------------


class BoardPatientSerializer(ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "mrn", "first_name", "last_name"]
        read_only_fields = fields


class BoardSessionSerializer(ModelSerializer):
    patient = BoardPatientSerializer()
    patient_response = _patient_response_field()
    chair_name = serializers.CharField(allow_null=True)
    protocol = serializers.CharField(source="protocol_name")
    local_start = serializers.SerializerMethodField()
    latest_vitals = VitalSignsSerializer(allow_null=True)
    open_alerts = AlertSerializer(many=True)

    class Meta:
        model = Session
        fields = [
            "id", "course", "number", "status", "patient_response", "responded_at", "starts_at",
            "ends_at", "local_start", "chair", "chair_name", "protocol", "patient",
            "latest_vitals", "open_alerts",
        ]  # fmt: skip
        read_only_fields = fields

    def get_local_start(self, obj) -> str:
        # The board's sessions know their clinic (read through `clinic.sessions`).
        return obj.starts_at.astimezone(obj.clinic.tz).isoformat()


class BoardChairSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


@extend_schema_serializer(many=False)  # one board, though served at the list route
class DayBoardSerializer(serializers.Serializer):
    clinic = serializers.IntegerField(source="clinic.id")
    day = serializers.DateField()
    chairs = BoardChairSerializer(many=True)
    sessions = BoardSessionSerializer(many=True, read_only=True)


class DayBoardQuery(serializers.Serializer):  # query strings: text, parsed by the fields
    clinic = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    date = serializers.DateField(required=False, help_text="Local date; today by default.")


class DayBoardViewSet(ScopedMixin, viewsets.GenericViewSet):
    clinic_field = "id"

    """The front desk's day: chairs, and each session with patient, chair, latest vitals
    and open alerts."""

    roles = {"list": STAFF}
    serializer_class = DayBoardSerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        from clinic.models import Clinic

        return self.scope(Clinic.objects.all())

    @extend_schema(parameters=[DayBoardQuery], responses=DayBoardSerializer)
    def list(self, request, *args, **kwargs):
        query = DayBoardQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        clinic = self.get_queryset().filter(pk=query.validated_data["clinic"]).first()
        if clinic is None:
            raise serializers.ValidationError({"clinic": ["Not one of your clinics."]})
        today = clinic.local_today()
        day = query.validated_data.get("date") or today
        # Polled by every open board: unchanged, it is a 304 (clinic.conditional).
        validator = selectors.day_board_validator(clinic=clinic, day=day)
        parts = (validator, today, request.accepted_renderer.format)

        def board():
            return Response(DayBoardSerializer(selectors.day_board(clinic=clinic, day=day)).data)

        return conditional.respond(request, parts, board)
