"""Celery finds the tasks here (autodiscovery looks in each app's `tasks`): each room keeps
its own, and the one task that spans the rooms is here. Tasks are thin wrappers that
call services."""

from celery import shared_task
from django.utils import timezone

from .booking import tasks as booking_tasks  # noqa: F401
from .booking.services import no_show_notices_raise_due
from .chart.services import rems_form_notices_raise_due
from .reminders import tasks as reminders_tasks  # noqa: F401
from .reminders.services import maintenance_notices_raise_due


@shared_task
def staff_notices_raise_due() -> int:
    """Beat, every 15 minutes: each room's notices to staff, once per fact (no-shows to
    follow up, maintenance to book, REMS forms due)."""
    now = timezone.now()
    sweeps = (no_show_notices_raise_due, maintenance_notices_raise_due, rems_form_notices_raise_due)
    return sum(sweep(now=now) for sweep in sweeps)
