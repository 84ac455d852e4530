from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from clinic.api.base import Role, caller
from clinic.models import Clinic


def home_for(request: HttpRequest) -> str:
    """Each user's main page: a patient's portal, or their role's page at work."""
    if getattr(request.user, "patient", None) is not None:
        return "pages:portal"
    roles = set().union(*caller(request).roles.values()) if caller(request).roles else set()
    if Role.FRONT_DESK in roles:
        return "pages:board"
    if Role.NURSE in roles:
        return "pages:today"
    if Role.CLINICIAN in roles:
        return "pages:courses"
    return "pages:board"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect(home_for(request))


def healthz(request: HttpRequest) -> JsonResponse:
    # A query, not connection.ensure_connection(): that asks nothing of an open
    # (persistent, CONN_MAX_AGE) connection, so a database gone away would pass. Any
    # table would do; the clinics' is migrated first.
    Clinic.objects.only("pk").exists()
    return JsonResponse({"status": "ok"})
