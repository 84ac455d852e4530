"""Reads for scheduling."""

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from clinic.models import Clinic

from .models import Session


def clinics_for_user(*, user: AbstractBaseUser) -> QuerySet[Clinic]:
    if user.is_superuser:
        return Clinic.objects.all()
    return Clinic.objects.filter(memberships__user=user).distinct()


def sessions_upcoming(*, clinics, now: dt.datetime, limit: int = 50) -> QuerySet[Session]:
    """The next sessions at these clinics, with what a list shows, in two queries or so."""
    return (
        Session.objects.filter(clinic__in=clinics, ends_at__gte=now)
        .exclude(status=Session.Status.CANCELLED)
        .select_related("patient", "chair", "course__protocol", "phase", "clinic")
        .order_by("starts_at")[:limit]
    )


def sessions_for_patient(*, patient, now: dt.datetime) -> QuerySet[Session]:
    return (
        Session.objects.filter(patient=patient, ends_at__gte=now)
        .exclude(status=Session.Status.CANCELLED)
        .select_related("clinic", "course__protocol")
        .order_by("starts_at")
    )
