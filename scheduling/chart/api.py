"""API for the session chart: vitals, side effects, doses, questionnaires and alerts.

Reads are scoped like every endpoint; writes go through scheduling.chart.services.
Vitals and side effects are append-only: no update or delete endpoints exist, and a
correction is a new record that names the one it amends.
"""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clinic import conditional
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

from ..booking.api import (
    NoteInput,
    SessionDetailSerializer,
    SessionSerializer,
    SessionViewSet,
    _patient_response_field,
)
from ..booking.models import Session
from ..stock.models import Lot, StockLocation
from . import services as chart_services
from .models import Alert, ChecklistItem, DoseAdministration, SideEffect, VitalSigns
from .selectors import (
    chart_validator,
    chart_validator_sessions,
    day_board,
    day_board_validator,
    rems_form_for_session,
    session_chart,
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
        vitals = chart_services.vitals_record(
            session=session, by=request.user, amends=amends, refuse_as="session", **values
        )
        # A new reading: nothing amends it yet (said, so the serializer asks nothing).
        VitalSigns._meta.get_field("amended_by").set_cached_value(vitals, None)
        return created(VitalSignsSerializer(vitals).data)


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
        effect = chart_services.side_effect_record(
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
        new = chart_services.side_effect_resolve(
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
        response = chart_services.questionnaire_submit(
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
        alert = chart_services.alert_acknowledge(
            alert=alert, by=request.user, note=data.validated_data["note"]
        )
        return Response(AlertSerializer(alert).data)


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
    # The controlled-substance record (where the clinic keeps one): the lot drawn from.
    stock_lot = IdField(queryset=Lot.objects.select_related("product"), required=False)
    stock_location = IdField(queryset=StockLocation.objects.all(), required=False)
    stock_drawn = serializers.DecimalField(
        max_digits=10, decimal_places=3, required=False, help_text="IV: mL drawn (>= given)."
    )
    witness = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text="Witness of the waste."
    )
    witness_password = serializers.CharField(
        required=False, allow_blank=True, max_length=128, style={"input_type": "password"}
    )


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
    """The session chart as a nurse sees it (scheduling.chart.selectors.session_chart)."""

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


class SessionChartViewSet(SessionViewSet):
    # Booking's session endpoint with the chart's actions, check-in to discharge (one URL
    # per session: /sessions/{id}/check-in/ and so on). The docstring is the API's.
    """Sessions and every move in their life; each action calls one service."""

    roles = {
        **SessionViewSet.roles,
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
    inputs = {
        **SessionViewSet.inputs,
        "check_in": CheckInInput,
        "checklist": ChecklistCompleteInput,
        "waive": WaiveInput,
        "dose": DoseInput,
        "monitoring": NoteInput,
        "ready_to_leave": ReadyToLeaveInput,
        "discharge": DischargeInput,
        "rems": RemsInput,
        "rems_filed": RemsFiledInput,
    }

    def get_queryset(self):
        if self.action == "chart":  # read as its validator needs it (its conditional GET)
            return self.scope(chart_validator_sessions())
        return super().get_queryset()

    def _show_chart(self, session) -> Response:
        return Response(ChartSerializer(session_chart(session=session)).data)

    def _show_rems(self, session) -> Response:
        return Response(RemsFormSerializer(rems_form_for_session(session=session)).data)

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request, pk=None, **kwargs):
        """Check the patient in with the pre-session checklist (fasting and weight where
        the protocol asks, escort, pre-dose vitals, PHQ-9 where the clinic asks, and the
        clinic's own items: `clinic_items_done`, ids from the chart). Items may follow
        later."""
        return self._apply(request, chart_services.session_check_in, self._done)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["post"])
    def checklist(self, request, pk=None, **kwargs):
        """Complete, before the dose, checklist items not done at check-in (the clinic's
        own items by id, among those asked at check-in). A done item is never undone."""
        return self._apply(request, chart_services.checklist_complete, self._show_chart)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["post"])
    def waive(self, request, pk=None, **kwargs):
        """A clinician waives one checklist item, with a reason."""
        return self._apply(request, chart_services.checklist_waive, self._show_chart)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["post"])
    def dose(self, request, pk=None, **kwargs):
        """Record the dose and start it (IV by weight; esketamine by devices with a lot
        number). Outside the protocol's range: a clinician records it with a reason."""
        return self._apply(request, chart_services.dose_record, self._show_chart)

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
        return self._apply(request, chart_services.ready_to_leave_record, self._show_chart)

    @extend_schema(responses=SessionDetailSerializer)
    @action(detail=True, methods=["post"])
    def discharge(self, request, pk=None, **kwargs):
        """Refused, listing what is missing, until the minimum observation has passed,
        vitals are in range or signed off, alerts are acknowledged, sedation, dissociation
        and respiratory depression have resolved (MOAA/S 5, CADSS down to the clinic's
        limit), an escort is named and, for esketamine, the pre-discharge blood pressure
        and a clinician's ready-to-leave time are recorded."""
        return self._apply(request, chart_services.session_discharge, self._done)

    @extend_schema(responses=ChartSerializer)
    @action(detail=True, methods=["get"])
    def chart(self, request, pk=None, **kwargs):
        """The whole chart: checklist, dose, vitals with the next due and overdue checks,
        side effects, alerts, and what discharge still needs.

        Re-read while open: send the ETag back in `If-None-Match` and an unchanged chart
        is a `304 Not Modified`."""
        session = self.get_object()
        validator = chart_validator(session=session)
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
        return self._apply(request, chart_services.rems_report_record, self._show_rems)

    @extend_schema(responses=RemsFormSerializer)
    @action(detail=True, methods=["post"], url_path="rems-filed")
    def rems_filed(self, request, pk=None, **kwargs):
        """Mark the REMS form as filed (refused while any field is missing)."""
        return self._apply(request, chart_services.rems_form_mark_filed, self._show_rems)


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
        validator = day_board_validator(clinic=clinic, day=day)
        parts = (validator, today, request.accepted_renderer.format)

        def board():
            return Response(DayBoardSerializer(day_board(clinic=clinic, day=day)).data)

        return conditional.respond(request, parts, board)
