"""API for protocols, courses and sessions. Thin: parse, check the role, call a service.

Every business rule is in the rooms' services; a refusal there is a 400 naming the
field (clinic.api.base.exception_handler), exactly as for malformed input.
"""

from django.db.models import Count, Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clinic.api.base import (
    BOOKERS,
    COURSE_STARTERS,
    PATIENT,
    STAFF,
    IdField,
    InputSerializer,
    ModelSerializer,
    Role,
    ScopedMixin,
    StrictFilterSet,
    UtcDateTimeFilter,
    caller,
    created,
)
from clinic.models import Chair, Weekday
from patients.api import ReadLogMixin
from patients.models import Patient

from . import selectors as booking_selectors
from . import services as booking_services
from .models import Course, Protocol, ProtocolPhase, Session, SessionStatusChange, StaffNotice

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
        serializer.instance = booking_services.protocol_create(phases=phases, **data)


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
        course = booking_services.course_start(**self._start_args(request), by=request.user)
        return created(CourseSerializer(self.get_queryset().get(pk=course.pk)).data)

    @extend_schema(responses=PlannedSessionSerializer(many=True))
    @action(detail=False, methods=["post"], pagination_class=None)
    def preview(self, request, **kwargs):
        """The sessions a new course would have; nothing is written."""
        planned = booking_services.course_plan(**self._start_args(request))
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
        slots = booking_selectors.slots_free(
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
        session = booking_services.session_book(
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
        sessions = booking_services.course_maintenance_frequency_set(
            course=course, by=request.user, **data.validated_data
        )
        return Response(SessionSerializer(sessions, many=True).data)


# --- Sessions ---------------------------------------------------------------------------


class MoveInput(InputSerializer):
    starts_at = serializers.DateTimeField()
    chair = IdField(queryset=Chair.objects.all(), required=False, allow_null=True)
    scope = serializers.ChoiceField(
        choices=booking_services.Scope.choices, default=booking_services.Scope.ONE
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CancelInput(InputSerializer):
    scope = serializers.ChoiceField(
        choices=booking_services.Scope.choices, default=booking_services.Scope.ONE
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class NoteInput(InputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReasonInput(InputSerializer):
    reason = serializers.CharField(max_length=2000)


class SessionFilter(StrictFilterSet):
    starts_after = UtcDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    starts_before = UtcDateTimeFilter(field_name="starts_at", lookup_expr="lt")

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
    """Sessions and every move in their booking; each action calls one service. The
    chart adds its actions (check-in to discharge) in scheduling.chart.api."""

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
    }
    inputs = {
        "retrieve": SessionDetailSerializer,
        "move": MoveInput,
        "cancel": CancelInput,
        "no_show": NoteInput,
        "restore": ReasonInput,
    }

    def get_queryset(self):
        qs = self.scope(Session.objects.select_related("clinic"))
        if self.action == "retrieve":
            qs = qs.prefetch_related("status_changes")
        return qs

    def get_serializer_class(self):
        return self.inputs.get(self.action, SessionSerializer)

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
        moved = booking_services.session_move(
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
        cancelled = booking_services.session_cancel(
            session=session, scope=data["scope"], reason=data["reason"], by=request.user
        )
        return Response(SessionSerializer(cancelled, many=True).data)

    def _apply(self, request, service, show):
        """Parse the body, call the service on this session as the caller, show the result."""
        session = self.get_object()
        service(session=session, by=request.user, **self._input(request))
        return show(session)

    def _transition(self, request, to):
        session = self.get_object()
        data = self._input(request)
        return self._done(
            booking_services.session_transition(
                session=session, to=to, by=request.user, note=data["note"]
            )
        )

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"], url_path="no-show")
    def no_show(self, request, pk=None, **kwargs):
        return self._transition(request, Session.Status.NO_SHOW)

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None, **kwargs):
        session = self.get_object()
        data = self._input(request)
        return self._done(
            booking_services.session_restore(
                session=session, by=request.user, reason=data["reason"]
            )
        )


class StaffNoticeSerializer(ModelSerializer):
    class Meta:
        model = StaffNotice
        fields = "__all__"
        read_only_fields = [f.name for f in StaffNotice._meta.fields]


class StaffNoticeViewSet(
    ScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Notices for staff: no-show follow-ups, maintenance to book, REMS forms due,
    patients' cancellations, reminders that failed."""

    serializer_class = StaffNoticeSerializer
    filterset_fields = ["kind"]
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    roles = {"list": STAFF, "retrieve": STAFF}

    def get_queryset(self):
        return self.scope(StaffNotice.objects.all())
