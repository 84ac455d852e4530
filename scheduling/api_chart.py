"""API for the session chart: vitals, side effects, doses, questionnaires and alerts.

Reads are scoped like every endpoint; writes go through scheduling.services.chart.
Vitals and side effects are append-only: no update or delete endpoints exist, and a
correction is a new record that names the one it amends.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clinic.api.base import (
    CLINICAL,
    MAX_ID,
    PATIENT,
    STAFF,
    IdField,
    InputSerializer,
    ModelSerializer,
    Role,
    ScopedMixin,
    StrictBooleanFilter,
    StrictFilterSet,
    created,
)
from patients.api import ReadLogMixin
from patients.models import Patient, QuestionnaireResponse

from . import services
from .models import (
    Alert,
    DoseAdministration,
    Reminder,
    Session,
    SideEffect,
    StaffNotice,
    VitalSigns,
)

CHART_READERS = CLINICAL
READ_ALL_STAFF = STAFF


def _amended(model, values: dict, session: Session):
    """The record a correction amends: one of this session's, or a 400 naming `amends`."""
    if "amends" not in values:
        return None
    original = model.objects.filter(pk=values.pop("amends"), session=session).first()
    if original is None:
        raise serializers.ValidationError({"amends": ["Not a record of this session."]})
    return original


def _in_scope_session(view, session_id) -> Session:
    """A session the caller may chart, or a 400 naming the field (never whose it is)."""
    # Only the id: the service it goes to reads the session again, locked, with its joins.
    session = view.scope_sessions().filter(pk=session_id).select_related(None).only("id").first()
    if session is None:
        raise serializers.ValidationError({"session": ["No such session among yours."]})
    return session


class SessionScopeMixin(ScopedMixin):
    clinic_field = "session__clinic_id"
    patient_field = None

    def scope_sessions(self):
        from clinic.api.base import caller

        c = caller(self.request)
        qs = Session.objects.select_related("clinic", "course__protocol", "patient")
        if c.is_superuser:
            return qs
        return qs.filter(clinic_id__in=c.clinic_ids(self.roles.get(self.action, CLINICAL)))


# --- Vitals --------------------------------------------------------------------------------


class VitalSignsSerializer(ModelSerializer):
    amended_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = VitalSigns
        fields = [
            "id", "session", "timepoint", "measured_at", "systolic", "diastolic", "heart_rate",
            "spo2", "respiratory_rate", "temperature_c", "recorded_by", "recorded_at",
            "amends", "amended_by", "amendment_reason",
        ]  # fmt: skip
        read_only_fields = fields


_datetime = serializers.DateTimeField().to_representation
_temperature = VitalSignsSerializer().fields["temperature_c"].to_representation


def vitals_data(v: VitalSigns) -> dict:
    """One reading exactly as VitalSignsSerializer renders it (a test holds the two
    equal), built by hand: the serializer's fields cost more than the rest of recording
    a reading's response, on the chart's busiest write and on the day board."""
    amended_by = v.amended_by.pk if hasattr(v, "amended_by") else None
    return {
        "id": v.id, "session": v.session_id, "timepoint": v.timepoint,
        "measured_at": _datetime(v.measured_at), "systolic": v.systolic,
        "diastolic": v.diastolic, "heart_rate": v.heart_rate, "spo2": v.spo2,
        "respiratory_rate": v.respiratory_rate,
        "temperature_c": None if v.temperature_c is None else _temperature(v.temperature_c),
        "recorded_by": v.recorded_by_id, "recorded_at": _datetime(v.recorded_at),
        "amends": v.amends_id, "amended_by": amended_by, "amendment_reason": v.amendment_reason,
    }  # fmt: skip


class VitalsValues(InputSerializer):
    systolic = serializers.IntegerField(min_value=0, max_value=1000)
    diastolic = serializers.IntegerField(min_value=0, max_value=1000)
    heart_rate = serializers.IntegerField(min_value=0, max_value=1000)
    spo2 = serializers.IntegerField(min_value=0, max_value=1000)
    respiratory_rate = serializers.IntegerField(
        min_value=0, max_value=1000, required=False, allow_null=True
    )
    temperature_c = serializers.DecimalField(
        max_digits=3, decimal_places=1, required=False, allow_null=True
    )
    measured_at = serializers.DateTimeField(required=False)


class VitalsInput(VitalsValues):
    session = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    timepoint = serializers.ChoiceField(choices=VitalSigns.Timepoint.choices)
    amends = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    amendment_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class VitalSignsViewSet(
    ReadLogMixin, SessionScopeMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Vital signs. Physiologically impossible values are a 400 naming the field; values
    past the clinic's thresholds raise alerts. Append-only: POST a correction with
    `amends`."""

    serializer_class = VitalSignsSerializer
    read_log_patient = "session.patient_id"
    filterset_fields = ["session", "timepoint"]
    ordering_fields = ["measured_at", "id"]
    ordering = ["measured_at", "id"]
    roles = {"list": CHART_READERS, "retrieve": CHART_READERS, "create": CLINICAL}

    def get_queryset(self):
        return self.scope(VitalSigns.objects.select_related("session", "amended_by"))

    def get_serializer_class(self):
        return VitalsInput if self.action == "create" else VitalSignsSerializer

    @extend_schema(responses={201: VitalSignsSerializer})
    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        session_id = values.pop("session")
        if "amends" in values:  # a correction: its session first, then the reading in it
            session = _in_scope_session(self, session_id)
            amends = _amended(VitalSigns, values, session)
        else:
            # The busiest write: the service proves the session is the caller's to chart
            # as it locks it, and refuses it as this one would ("session").
            session, amends = Session(pk=session_id), None
        vitals = services.vitals_record(
            session=session, by=request.user, amends=amends, refuse_as="session", **values
        )
        return created(vitals_data(vitals))


# --- Side effects --------------------------------------------------------------------------


class SideEffectSerializer(ModelSerializer):
    class Meta:
        model = SideEffect
        fields = [
            "id", "session", "kind", "severity", "onset_at", "resolved_at", "serious", "cadss",
            "moaa_s", "notes", "recorded_by", "recorded_at", "amends", "amendment_reason",
        ]  # fmt: skip
        read_only_fields = fields


class SideEffectInput(InputSerializer):
    session = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    kind = serializers.ChoiceField(choices=SideEffect.Kind.choices)
    severity = serializers.ChoiceField(choices=SideEffect.Severity.choices)
    onset_at = serializers.DateTimeField(required=False)
    resolved_at = serializers.DateTimeField(required=False, allow_null=True)
    serious = serializers.BooleanField(default=False)
    cadss = serializers.IntegerField(min_value=0, max_value=1000, required=False, allow_null=True)
    moaa_s = serializers.IntegerField(min_value=0, max_value=1000, required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    amends = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    amendment_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ResolveInput(InputSerializer):
    resolved_at = serializers.DateTimeField(required=False)
    cadss = serializers.IntegerField(required=False, min_value=0, max_value=SideEffect.CADSS_MAX)
    moaa_s = serializers.IntegerField(required=False, min_value=0, max_value=SideEffect.MOAAS_MAX)


class SideEffectViewSet(
    ReadLogMixin, SessionScopeMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Side effects (CLINICAL.md section 5). A serious one raises an alert. Append-only."""

    serializer_class = SideEffectSerializer
    read_log_patient = "session.patient_id"
    filterset_fields = ["session", "kind", "serious"]
    ordering_fields = ["onset_at", "id"]
    ordering = ["onset_at", "id"]
    roles = {
        "list": CHART_READERS,
        "retrieve": CHART_READERS,
        "create": CLINICAL,
        "resolve": CLINICAL,
    }

    def get_queryset(self):
        return self.scope(SideEffect.objects.select_related("session"))

    def get_serializer_class(self):
        return {"create": SideEffectInput, "resolve": ResolveInput}.get(
            self.action, SideEffectSerializer
        )

    @extend_schema(responses={201: SideEffectSerializer})
    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        session = _in_scope_session(self, values.pop("session"))
        amends = None
        if "amends" in values:
            amends = SideEffect.objects.filter(pk=values.pop("amends"), session=session).first()
            if amends is None:
                raise serializers.ValidationError(
                    {"amends": ["Not a side effect of this session."]}
                )
        effect = services.side_effect_record(
            session=session, by=request.user, amends=amends, **values
        )
        return created(SideEffectSerializer(effect).data)

    @extend_schema(responses={201: SideEffectSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None, **kwargs):
        """Record when it resolved (and the CADSS or MOAA/S found then): a new record
        amending this one."""
        effect = self.get_object()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        new = services.side_effect_resolve(
            side_effect=effect, by=request.user, **data.validated_data
        )
        return created(SideEffectSerializer(new).data)


# --- Doses ---------------------------------------------------------------------------------


class DoseSerializer(ModelSerializer):
    class Meta:
        model = DoseAdministration
        fields = [
            "id", "session", "route", "drug", "mg_per_kg", "weight_kg", "infusion_minutes",
            "total_mg", "devices", "device_mg", "lot_number", "started_at", "ended_at",
            "administered_by", "recorded_by", "recorded_at", "signed_off_by", "sign_off_reason",
            "signed_off_at",
        ]  # fmt: skip
        read_only_fields = fields


class DoseViewSet(
    ReadLogMixin, SessionScopeMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Doses given (record one with POST /sessions/{id}/dose/)."""

    serializer_class = DoseSerializer
    read_log_patient = "session.patient_id"
    filterset_fields = ["session", "route"]
    ordering_fields = ["started_at", "id"]
    ordering = ["started_at", "id"]
    roles = {"list": CHART_READERS, "retrieve": CHART_READERS}

    def get_queryset(self):
        return self.scope(DoseAdministration.objects.select_related("session"))


# --- Questionnaires ------------------------------------------------------------------------


class QuestionnaireSerializer(ModelSerializer):
    class Meta:
        model = QuestionnaireResponse
        fields = [
            "id", "patient", "kind", "items", "total", "band", "completed_at", "recorded_by",
            "recorded_at",
        ]  # fmt: skip
        read_only_fields = fields


class QuestionnaireInput(InputSerializer):
    patient = IdField(queryset=Patient.objects.all())
    kind = serializers.ChoiceField(choices=QuestionnaireResponse.Kind.choices)
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=3), min_length=7, max_length=9
    )
    session = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    completed_at = serializers.DateTimeField(required=False)


class QuestionnaireViewSet(
    ReadLogMixin, ScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """PHQ-9 and GAD-7. A patient fills in and reads only their own; item 9 of a PHQ-9
    above 0 raises an alert to the clinicians."""

    serializer_class = QuestionnaireSerializer
    clinic_field = "patient__clinic_id"
    patient_field = "patient_id"
    filterset_fields = ["patient", "kind"]
    ordering_fields = ["completed_at", "id"]
    ordering = ["-completed_at", "-id"]
    roles = {
        "list": (*CHART_READERS, PATIENT),
        "retrieve": (*CHART_READERS, PATIENT),
        "create": (*CLINICAL, PATIENT),
    }

    def get_queryset(self):
        return self.scope(QuestionnaireResponse.objects.all())

    def get_serializer_class(self):
        return QuestionnaireInput if self.action == "create" else QuestionnaireSerializer

    @extend_schema(responses={201: QuestionnaireSerializer})
    def create(self, request, *args, **kwargs):
        from clinic.api.base import caller

        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        patient = values["patient"]
        c = caller(request)
        own = c.patient_id == patient.id
        if not own and not c.has(patient.clinic_id, CLINICAL):
            raise serializers.ValidationError({"patient": ["Not a patient of yours."]})
        session = None
        if "session" in values:
            session = Session.objects.filter(pk=values["session"], patient=patient).first()
            if session is None:
                raise serializers.ValidationError({"session": ["Not a session of this patient."]})
        response = services.questionnaire_submit(
            patient=patient,
            kind=values["kind"],
            items=values["items"],
            session=session,
            completed_at=values.get("completed_at"),
            by=request.user,
        )
        return created(QuestionnaireSerializer(response).data)


# --- Alerts --------------------------------------------------------------------------------


class AlertSerializer(ModelSerializer):
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id", "clinic", "patient", "session", "kind", "message", "raised_at", "is_open",
            "acknowledged_by", "acknowledged_at", "acknowledgement_note",
        ]  # fmt: skip
        read_only_fields = fields


class AcknowledgeInput(InputSerializer):
    note = serializers.CharField(max_length=2000)


class AlertFilter(StrictFilterSet):
    open = StrictBooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", label="Only open (or closed) alerts"
    )

    class Meta:
        model = Alert
        fields = ["session", "patient", "kind", "open"]


class AlertViewSet(
    ScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Alerts ask a clinician to act; a clinician acknowledges each with a note."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    ordering_fields = ["raised_at", "id"]
    ordering = ["-raised_at", "-id"]
    roles = {
        "list": CHART_READERS,
        "retrieve": CHART_READERS,
        "acknowledge": (Role.CLINICIAN,),
    }

    def get_queryset(self):
        return self.scope(Alert.objects.all())

    def get_serializer_class(self):
        return AcknowledgeInput if self.action == "acknowledge" else AlertSerializer

    @extend_schema(responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None, **kwargs):
        alert = self.get_object()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.alert_acknowledge(
            alert=alert, by=request.user, note=data.validated_data["note"]
        )
        return Response(AlertSerializer(alert).data)


# --- Reminders (read) and staff notices -----------------------------------------------------


class ReminderSerializer(ModelSerializer):
    # Blank means "none": say so in the schema (a read-only choice field hides it).
    skip_reason = serializers.ChoiceField(
        choices=Reminder.SkipReason.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Reminder
        fields = [
            "id", "session", "clinic", "kind", "channel", "status", "skip_reason", "due_at",
            "send_by", "session_starts_at", "attempts", "sent_at", "delivery_status",
            "delivery_updated_at", "last_error", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class ReminderViewSet(
    ScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The reminder outbox, read-only: what was planned, sent, skipped or failed."""

    serializer_class = ReminderSerializer
    filterset_fields = ["session", "kind", "channel", "status"]
    ordering_fields = ["due_at", "id"]
    ordering = ["-due_at", "-id"]
    roles = {"list": READ_ALL_STAFF, "retrieve": READ_ALL_STAFF}

    def get_queryset(self):
        return self.scope(Reminder.objects.all())


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
    roles = {"list": READ_ALL_STAFF, "retrieve": READ_ALL_STAFF}

    def get_queryset(self):
        return self.scope(StaffNotice.objects.all())


__all__ = [
    "AlertViewSet",
    "DoseViewSet",
    "QuestionnaireViewSet",
    "ReminderViewSet",
    "StaffNoticeViewSet",
    "SideEffectViewSet",
    "VitalSignsViewSet",
]
