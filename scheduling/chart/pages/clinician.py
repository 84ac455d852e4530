"""Clinician: courses with open alerts, and one course at a glance with its PHQ-9 trend."""

from collections import Counter

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from clinic.signin import login_required, require_POST
from patients.models import QuestionnaireResponse
from patients.services import record_access_log
from scheduling.booking import services as booking_services
from scheduling.booking.models import Course, Session
from scheduling.booking.pages import access
from scheduling.booking.pages.forms import RestoreForm, errors_onto
from scheduling.chart import selectors as chart_selectors
from scheduling.chart import services as chart_services
from scheduling.chart.pages.access import alert_for
from scheduling.chart.pages.forms import AcknowledgeForm

CLINICIAN = (access.Role.CLINICIAN,)
UNDOABLE = (Session.Status.CANCELLED, Session.Status.NO_SHOW)  # session_restore's


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
    local = [r.completed_at.astimezone(tz) for r in overview.phq9]
    per_day = Counter(t.date() for t in local)
    # Each score is its own point: two the same day sit side by side, told apart by time.
    return {
        "points": [
            {"x": t.strftime("%d %b %H:%M" if per_day[t.date()] > 1 else "%d %b"), "y": r.total}
            for t, r in zip(local, overview.phq9, strict=True)
        ],
        "baseline": baseline,
        "response": baseline / 2 if baseline is not None else None,
        "remission_below": 5,
    }


def _render(request, course: Course, status=200, forms=None, restore_forms=None) -> HttpResponse:
    """The course page; `forms` and `restore_forms`: a refused form, by alert or session id."""
    overview = chart_selectors.course_overview(course=course)
    forms, restore_forms = forms or {}, restore_forms or {}
    alerts = [
        {"alert": a, "form": forms.get(a.id) or AcknowledgeForm()} for a in overview.open_alerts
    ]
    undoable = [
        {"session": s, "form": restore_forms.get(s.id) or RestoreForm()}
        for s in overview.sessions
        if s.status in UNDOABLE
    ]
    return render(
        request,
        "scheduling/pages/clinician/course.html",
        {
            "o": overview,
            "course": course,
            "tz": course.clinic.tz,
            "alerts": alerts,
            "undoable": undoable,
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
    alert = alert_for(request, alert_id, CLINICIAN)
    if alert.patient_id != c.patient_id:
        from django.http import Http404

        raise Http404
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            chart_services.alert_acknowledge(
                alert=alert, by=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            errors_onto(form, exc, {"acknowledgement_note": "note", "alert": "note"})
        else:
            messages.success(request, f"Acknowledged: {alert.get_kind_display()}.")
            return redirect("pages:course", pk=c.pk)
    return _render(request, c, status=400, forms={alert.id: form})


@login_required(unsaved="Undoing the cancellation")
@require_POST
def session_restore(request: HttpRequest, pk: int, session_id: int) -> HttpResponse:
    """A clinician undoes a cancellation or a no-show of one of the course's sessions, with
    a reason; a refusal (the chair taken since, the screening no longer clear) is shown on
    that session's form."""
    c = access.course_for(request, pk, CLINICIAN)
    session = get_object_or_404(c.sessions, pk=session_id)
    form = RestoreForm(request.POST)
    if form.is_valid():
        try:
            booking_services.session_restore(
                session=session, by=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            errors_onto(form, exc, {"note": "reason"})
        else:
            when = session.starts_at.astimezone(c.clinic.tz)
            messages.success(
                request,
                f"Session {session.number} on {when:%a %d %b %Y, %H:%M} is booked again.",
            )
            return redirect("pages:course", pk=c.pk)
    return _render(request, c, status=400, restore_forms={session.id: form})
