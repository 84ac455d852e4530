"""API for patients and their screenings. Thin: parse, check the role, call a service."""

from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action

from clinic.api.base import (
    CLINICAL,
    MAX_ID,
    PATIENT,
    REGISTRARS,
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
from clinic.models import Clinic

from . import services
from .models import Contraindication, Patient, Screening, ScreeningAnswer, ScreeningSignOff


class ReadLogMixin:
    """Logs every read of a patient's record (patients.RecordAccess): detail reads of the
    patient and of what hangs off them, and each patient on a page of the patient list."""

    read_log_patient = "patient_id"  # attribute path from the object to the patient id

    def _patient_id(self, obj):
        value = obj
        for part in self.read_log_patient.split("."):
            value = getattr(value, part)
        return value

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        obj = getattr(self, "_read_object", None)
        if obj is not None:
            services.record_access_log(
                user=request.user,
                patient_ids=[self._patient_id(obj)],
                action=f"api:{self.basename}:retrieve",
            )
        return response

    def get_object(self):
        self._read_object = super().get_object()
        return self._read_object


class PatientSerializer(ModelSerializer):
    clinic = IdField(queryset=Clinic.objects.all())
    phone = PhoneNumberField(required=False, allow_blank=True)
    escort_phone = PhoneNumberField(required=False, allow_blank=True)

    class Meta:
        model = Patient
        fields = ["id", "clinic", *services.PATIENT_EDITABLE, "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness of (clinic, mrn) is checked by the service's full_clean, once.
        validators: list = []

    def validate_clinic(self, clinic):
        c = caller(self.context["request"])
        if self.instance is not None and clinic.id != self.instance.clinic_id:
            raise serializers.ValidationError("A patient cannot be moved to another clinic here.")
        if not c.has(clinic.id, REGISTRARS):
            raise serializers.ValidationError("You cannot register patients at this clinic.")
        return clinic


class PatientFilter(StrictFilterSet):
    name = filters.CharFilter(method="filter_name", label="Name contains")

    class Meta:
        model = Patient
        fields = ["clinic", "mrn", "birth_date"]

    def filter_name(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(last_name__icontains=value) | Q(first_name__icontains=value))


class PatientViewSet(
    ReadLogMixin,
    ScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.UpdateModelMixin, viewsets.GenericViewSet,
):  # fmt: skip
    """Patients of the caller's clinics; a patient sees only their own record (and lists
    only that one)."""

    serializer_class = PatientSerializer
    patient_field = "id"
    read_log_patient = "id"
    filterset_class = PatientFilter
    ordering_fields = ["last_name", "first_name", "birth_date", "created_at", "id"]
    ordering = ["last_name", "first_name", "id"]
    roles = {
        "list": (*STAFF, PATIENT),
        "retrieve": (*STAFF, PATIENT),
        "create": REGISTRARS,
        "update": REGISTRARS,
        "partial_update": REGISTRARS,
    }

    def get_queryset(self):
        return self.scope(Patient.objects.all())

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        services.record_access_log(
            user=request.user,
            patient_ids=[row["id"] for row in response.data["results"]],
            action="api:patient:list",
        )
        return response

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        clinic = data.pop("clinic")
        serializer.instance = services.patient_register(clinic=clinic, by=self.request.user, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("clinic", None)
        serializer.instance = services.patient_update(
            patient=serializer.instance, by=self.request.user, **data
        )


class ContraindicationSerializer(ModelSerializer):
    class Meta:
        model = Contraindication
        fields = ["id", "code", "name", "description", "kind", "is_active", "order"]


class ContraindicationViewSet(ScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The screening checklist (shared by every clinic)."""

    serializer_class = ContraindicationSerializer
    roles = {"list": STAFF, "retrieve": STAFF}
    filterset_fields = ["kind", "is_active"]
    ordering = ["order", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False) or not caller(self.request).is_staff_anywhere:
            return Contraindication.objects.none()
        return Contraindication.objects.all()


class SignOffSerializer(ModelSerializer):
    class Meta:
        model = ScreeningSignOff
        fields = ["id", "clinician", "reason", "signed_at"]


class AnswerSerializer(ModelSerializer):
    sign_off = SignOffSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ScreeningAnswer
        fields = ["id", "contraindication", "present", "note", "sign_off"]


class AnswerInput(InputSerializer):
    contraindication = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    present = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ScreeningSerializer(ModelSerializer):
    answers = AnswerSerializer(many=True, read_only=True)

    class Meta:
        model = Screening
        fields = ["id", "patient", "screened_at", "screened_by", "notes", "answers"]
        read_only_fields = fields


class ScreeningInput(InputSerializer):
    patient = IdField(queryset=Patient.objects.all())
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    answers = AnswerInput(many=True, allow_empty=False)


class SignOffInput(InputSerializer):
    answer = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="The id of a present relative finding."
    )
    reason = serializers.CharField(max_length=5000)


class ScreeningViewSet(
    ReadLogMixin,
    ScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Screenings against the contraindication checklist; sign-offs by clinicians."""

    serializer_class = ScreeningSerializer
    clinic_field = "patient__clinic_id"
    filterset_fields = ["patient"]
    ordering_fields = ["screened_at", "id"]
    ordering = ["-screened_at", "-id"]
    roles = {
        "list": STAFF,
        "retrieve": STAFF,
        "create": CLINICAL,
        "sign_off": (Role.CLINICIAN,),
    }

    def get_queryset(self):
        answers = ScreeningAnswer.objects.select_related("sign_off").order_by("id")
        return self.scope(Screening.objects.prefetch_related(Prefetch("answers", queryset=answers)))

    def get_serializer_class(self):
        return {"create": ScreeningInput, "sign_off": SignOffInput}.get(
            self.action, ScreeningSerializer
        )

    @extend_schema(responses={201: ScreeningSerializer})
    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient = data.validated_data["patient"]
        if not caller(request).has(patient.clinic_id, CLINICAL):
            raise serializers.ValidationError({"patient": ["Not a patient of your clinic."]})
        screening = services.screening_record(
            patient=patient,
            answers=[
                (a["contraindication"], a["present"], a["note"])
                for a in data.validated_data["answers"]
            ],
            notes=data.validated_data["notes"],
            by=request.user,
        )
        return created(ScreeningSerializer(self.get_queryset().get(pk=screening.pk)).data)

    @extend_schema(responses={201: ScreeningSerializer})
    @action(detail=True, methods=["post"], url_path="sign-off")
    def sign_off(self, request, pk=None, **kwargs):
        screening = self.get_object()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = screening.answers.filter(pk=data.validated_data["answer"]).first()
        if answer is None:
            raise serializers.ValidationError({"answer": ["Not an answer of this screening."]})
        services.screening_sign_off(
            answer=answer, clinician=request.user, reason=data.validated_data["reason"]
        )
        return created(ScreeningSerializer(self.get_queryset().get(pk=screening.pk)).data)


__all__ = ["ContraindicationViewSet", "PatientViewSet", "ScreeningViewSet"]
