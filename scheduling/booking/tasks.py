"""Booking's periodic tasks (beat: clinic/celery.py). Thin: each calls one service.

Names stay `scheduling.tasks.*`, as beat and any task already queued know them."""

from celery import shared_task

from . import services


@shared_task(name="scheduling.tasks.courses_extend_horizon")
def courses_extend_horizon() -> int:
    return services.courses_extend_horizon()
