"""The reminder outbox in the API, read-only: what was planned, sent, skipped or failed."""

from rest_framework import mixins, serializers, viewsets

from clinic.api.base import STAFF, ModelSerializer, ScopedMixin

from .models import Reminder


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
    roles = {"list": STAFF, "retrieve": STAFF}

    def get_queryset(self):
        return self.scope(Reminder.objects.all())
