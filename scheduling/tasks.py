"""Celery tasks: thin wrappers that call services."""

from celery import shared_task

from . import services


@shared_task
def courses_extend_horizon() -> int:
    return services.courses_extend_horizon()
