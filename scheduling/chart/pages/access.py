"""The chart's objects a page may show, scoped as booking's access scopes the rest."""

from django.shortcuts import get_object_or_404

from scheduling.booking.pages.access import scoped
from scheduling.chart.models import Alert


def alert_for(request, pk: int, roles) -> Alert:
    return get_object_or_404(scoped(request, Alert.objects.all(), roles), pk=pk)
