from rest_framework import mixins, viewsets

from clinic.models import Chair, Clinic, Closure, OpeningHours

from .base import PATIENT, STAFF, ModelSerializer, Role, ScopedMixin


class OpeningHoursSerializer(ModelSerializer):
    class Meta:
        model = OpeningHours
        fields = ["weekday", "opens", "closes"]


class ClosureSerializer(ModelSerializer):
    class Meta:
        model = Closure
        fields = ["start_date", "end_date", "reason"]


class ClinicSerializer(ModelSerializer):
    opening_hours = OpeningHoursSerializer(many=True, read_only=True)
    closures = ClosureSerializer(many=True, read_only=True)

    class Meta:
        model = Clinic
        fields = [
            "id", "name", "slug", "timezone", "address", "phone", "email",
            "maintenance_horizon_days", "course_start_horizon_days", "screening_valid_days",
            "idle_logoff_minutes",
            "opening_hours", "closures",
        ]  # fmt: skip
        read_only_fields = ["id", "slug", "opening_hours", "closures"]

    def validate(self, attrs):
        instance = Clinic(**{**self._current(), **attrs})
        instance.full_clean(exclude=["slug"], validate_unique=False)
        return attrs

    def _current(self):
        if self.instance is None:
            return {}
        editable = [f for f in self.Meta.fields if f not in self.Meta.read_only_fields]
        return {f: getattr(self.instance, f) for f in editable}


class ClinicViewSet(
    ScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Clinics the caller works at (or, for a patient, their own clinic)."""

    serializer_class = ClinicSerializer
    clinic_field = "id"
    patient_field = "patients__id"
    roles = {
        "list": (*STAFF, PATIENT),
        "retrieve": (*STAFF, PATIENT),
        "update": (Role.CLINIC_ADMIN,),
        "partial_update": (Role.CLINIC_ADMIN,),
    }
    ordering_fields = ["name", "id"]
    ordering = ["name"]

    def get_queryset(self):
        return self.scope(Clinic.objects.prefetch_related("opening_hours", "closures")).distinct()


class ChairSerializer(ModelSerializer):
    class Meta:
        model = Chair
        fields = ["id", "clinic", "name", "is_active"]


class ChairViewSet(ScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ChairSerializer
    roles = {"list": STAFF, "retrieve": STAFF}
    filterset_fields = ["clinic", "is_active"]
    ordering_fields = ["name", "id"]
    ordering = ["clinic_id", "name"]

    def get_queryset(self):
        return self.scope(Chair.objects.all())
