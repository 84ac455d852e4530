from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from . import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's next sessions: a patient's own, or their clinics' for staff."""
    now = timezone.now()
    patient = getattr(request.user, "patient", None)
    if patient is not None:
        sessions = selectors.sessions_for_patient(patient=patient, now=now)
        return render(request, "scheduling/home.html", {"sessions": sessions, "patient": patient})
    clinics = selectors.clinics_for_user(user=request.user)
    sessions = selectors.sessions_upcoming(clinics=clinics, now=now)
    return render(request, "scheduling/home.html", {"sessions": sessions, "clinics": clinics})


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
