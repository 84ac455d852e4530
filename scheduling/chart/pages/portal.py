"""The patient's PHQ-9 in the portal, and its result (with the clinic's phone and
crisis line at once when item 9 is above 0)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from clinic.signin import login_required
from patients.models import QuestionnaireResponse
from scheduling.booking.pages import access
from scheduling.chart import services as chart_services
from scheduling.chart.pages.forms import Phq9Form


@login_required
@require_http_methods(["GET", "POST"])
def phq9(request: HttpRequest) -> HttpResponse:
    patient = access.own_patient(request)
    form = Phq9Form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            response = chart_services.questionnaire_submit(
                patient=patient,
                kind=QuestionnaireResponse.Kind.PHQ9,
                items=form.items(),
                by=request.user,
                shown_crisis_help=True,  # phq9_result shows it when item 9 is above 0
            )
        except ValidationError as exc:
            form.item_errors(exc)
        else:
            if response.item9:
                messages.success(request, "Thank you: your answers are saved.")
                return redirect("pages:phq9_result", pk=response.pk)
            messages.success(
                request, "Thank you: your answers are with your care team for your next visit."
            )
            return redirect("pages:portal")
    return render(request, "scheduling/pages/portal/phq9.html", {"form": form})


@login_required
@require_GET
def phq9_result(request: HttpRequest, pk: int) -> HttpResponse:
    """After a PHQ-9 whose item 9 (thoughts of self-harm) is above 0: the clinic's phone
    and its crisis line, at once, not "for your next visit"."""
    patient = access.own_patient(request)
    response = patient.questionnaires.filter(pk=pk).first()
    if response is None:
        raise Http404
    return render(
        request,
        "scheduling/pages/portal/phq9_result.html",
        {"response": response, "help": patient.clinic.crisis_help()},
    )
