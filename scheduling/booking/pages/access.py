"""Who may open a page: the caller's clinics for a set of roles, and scoped lookups."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from clinic.api.base import (
    BOOKERS,
    CLINICAL,
    COURSE_STARTERS,
    PATIENT,
    REGISTRARS,
    STAFF,
    Caller,
    Role,
    caller,
)
from clinic.models import Clinic
from patients.models import Patient, Screening
from patients.selectors import screenings_with_answers
from scheduling.booking.models import Course, Session

__all__ = [
    "BOOKERS",
    "CLINICAL",
    "COURSE_STARTERS",
    "PATIENT",
    "REGISTRARS",
    "STAFF",
    "Caller",
    "Role",
    "caller",
    "clinic_ids_for",
    "clinics_for",
    "course_for",
    "own_patient",
    "patient_for",
    "screening_for",
    "session_for",
]


def clinic_ids_for(request, roles) -> list[int] | None:
    """The clinics where the caller holds one of `roles`; None means every clinic
    (a superuser). A caller with none of them is refused (403)."""
    c = caller(request)
    if c.is_superuser:
        return None
    ids = c.clinic_ids(roles)
    if not ids:
        raise PermissionDenied("Your role does not open this page.")
    return ids


def clinics_for(request, roles):
    ids = clinic_ids_for(request, roles)
    qs = Clinic.objects.all() if ids is None else Clinic.objects.filter(id__in=ids)
    return qs.order_by("name")


def scoped(request, queryset, roles):
    ids = clinic_ids_for(request, roles)
    return queryset if ids is None else queryset.filter(clinic_id__in=ids)


def session_for(request, pk: int, roles, queryset=None) -> Session:
    """The session `pk` if the caller holds one of `roles` at its clinic (else 404), read
    from `queryset` (by default with its clinic, patient, chair and protocol)."""
    qs = queryset
    if qs is None:
        qs = Session.objects.select_related("clinic", "patient", "chair", "course__protocol")
    return get_object_or_404(scoped(request, qs, roles), pk=pk)


def course_for(request, pk: int, roles) -> Course:
    qs = Course.objects.select_related("clinic", "patient", "protocol")
    return get_object_or_404(scoped(request, qs, roles), pk=pk)


def patient_for(request, pk: int, roles) -> Patient:
    return get_object_or_404(
        scoped(request, Patient.objects.select_related("clinic"), roles), pk=pk
    )


def screening_for(request, pk: int, roles) -> Screening:
    """A screening with its answers, of a patient at one of the caller's clinics."""
    ids = clinic_ids_for(request, roles)
    qs = screenings_with_answers().select_related("patient__clinic")
    if ids is not None:
        qs = qs.filter(patient__clinic_id__in=ids)
    return get_object_or_404(qs, pk=pk)


def own_patient(request):
    """The signed-in patient (their portal login), or 403 for anyone else."""
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise PermissionDenied("The portal is for patients.")
    return patient


def own_session(request, pk: int) -> Session:
    patient = own_patient(request)
    qs = Session.objects.select_related("clinic", "course__protocol").filter(patient=patient)
    session = qs.filter(pk=pk).first()
    if session is None:
        raise Http404
    return session
