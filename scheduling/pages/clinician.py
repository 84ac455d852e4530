"""Clinician: courses with open alerts, and one course at a glance with its PHQ-9 trend."""

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from clinic.signin import login_required, require_POST
from patients.models import QuestionnaireResponse
from patients.services import record_access_log

from .. import selectors, services
from ..models import Course
from . import access
from .forms import AcknowledgeForm, errors_onto

CLINICIAN = (access.Role.CLINICIAN,)


@login_required
def courses(request: HttpRequest) -> HttpResponse:
    """Active courses at the clinician's clinics, those with open alerts first."""
    ids = access.clinic_ids_for(request, CLINICIAN)
    qs = Course.objects.select_related("patient", "protocol", "clinic").annotate(
        open_alerts=Count(
            "patient__alerts", filter=Q(patient__alerts__acknowledged_at__isnull=True)
        )
    )
    if ids is not None:
        qs = qs.filter(clinic_id__in=ids)
    rows = list(
        qs.filter(status=Course.Status.ACTIVE).order_by("-open_alerts", "patient__last_name")
    )
    record_access_log(
        user=request.user, patient_ids=[c.patient_id for c in rows], action="page:courses"
    )
    return render(request, "scheduling/pages/clinician/courses.html", {"courses": rows})


def _series(overview) -> dict:
    """The PHQ-9 chart's data: scores by date, and the baseline, response and remission
    lines from the course's outcome (the rules live in course_outcomes)."""
    outcome = overview.outcomes[QuestionnaireResponse.Kind.PHQ9]
    tz = overview.course.clinic.tz
    baseline = outcome.baseline.total if outcome.baseline else None
    return {
        "points": [
            {"x": r.completed_at.astimezone(tz).strftime("%d %b"), "y": r.total}
            for r in overview.phq9
        ],
        "baseline": baseline,
        "response": baseline / 2 if baseline is not None else None,
        "remission_below": 5,
    }


def _render(request, course: Course, status=200, forms=None) -> HttpResponse:
    overview = selectors.course_overview(course=course)
    forms = forms or {}
    alerts = [
        {"alert": a, "form": forms.get(a.id) or AcknowledgeForm()} for a in overview.open_alerts
    ]
    return render(
        request,
        "scheduling/pages/clinician/course.html",
        {
            "o": overview,
            "course": course,
            "tz": course.clinic.tz,
            "alerts": alerts,
            "phq9": overview.outcomes[QuestionnaireResponse.Kind.PHQ9],
            "series": _series(overview),
        },
        status=status,
    )


@login_required
def course(request: HttpRequest, pk: int) -> HttpResponse:
    c = access.course_for(request, pk, CLINICIAN)
    record_access_log(user=request.user, patient_ids=[c.patient_id], action="page:course")
    return _render(request, c)


@login_required
@require_POST
def acknowledge(request: HttpRequest, pk: int, alert_id: int) -> HttpResponse:
    c = access.course_for(request, pk, CLINICIAN)
    alert = access.alert_for(request, alert_id, CLINICIAN)
    if alert.patient_id != c.patient_id:
        from django.http import Http404

        raise Http404
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            services.alert_acknowledge(alert=alert, by=request.user, note=form.cleaned_data["note"])
        except ValidationError as exc:
            errors_onto(form, exc, {"acknowledgement_note": "note", "alert": "note"})
        else:
            return redirect("pages:course", pk=c.pk)
    return _render(request, c, status=400, forms={alert.id: form})
