"""Screenings on the pages: a nurse or a clinician records one against the whole checklist,
and a clinician signs off a present relative finding with a reason. The rules are the
patients services' (screening_record, screening_sign_off), as for the API and the admin.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from clinic.signin import kept_form, login_required, require_POST
from patients.models import Contraindication, Screening
from patients.services import record_access_log, screening_record, screening_sign_off
from scheduling.booking.pages import access
from scheduling.booking.pages.forms import ScreeningForm, SignOffForm, errors_onto

# Who records a screening and who signs off: as the API (and the role table) has it.
RECORDERS = access.CLINICAL
SIGNERS = (access.Role.CLINICIAN,)


def _recorded(screening: Screening) -> str:
    """What was recorded, in a sentence, for the message after saving."""
    findings = list(screening.answers.filter(present=True).select_related("contraindication"))
    if not findings:
        return "Screening recorded: nothing found on the checklist."
    blocking = sum(a.contraindication.is_absolute for a in findings)
    to_sign = len(findings) - blocking
    parts = [f"{len(findings)} finding{'s' if len(findings) > 1 else ''}"]
    if blocking:
        parts.append(f"{blocking} that block{'s' if blocking == 1 else ''} treatment")
    if to_sign:
        parts.append(f"{to_sign} for a clinician to sign off")
    return f"Screening recorded: {'; '.join(parts)}."


@login_required(unsaved="The screening")
@require_http_methods(["GET", "POST"])
def screening_new(request: HttpRequest, pk: int) -> HttpResponse:
    patient = access.patient_for(request, pk, RECORDERS)
    items = list(Contraindication.objects.filter(is_active=True))
    if request.method == "GET":  # offered back if it was sent while signed out
        form = ScreeningForm(initial=kept_form(request, "pages:screening_new"), items=items)
    else:
        form = ScreeningForm(request.POST, items=items)
        if form.is_valid():
            try:
                screening = screening_record(
                    patient=patient,
                    answers=form.answers(),
                    notes=form.cleaned_data["notes"],
                    by=request.user,
                )
            except ValidationError as exc:
                errors_onto(form, exc)
            else:
                messages.success(request, _recorded(screening))
                return redirect("pages:screening", pk=screening.pk)
    return render(
        request,
        "scheduling/pages/desk/screening_new.html",
        {"patient": patient, "form": form},
        status=400 if form.is_bound else 200,
    )


def _render(request, screening: Screening, status=200, forms=None) -> HttpResponse:
    """The screening's answers; a sign-off form on each finding awaiting one, for a
    clinician (`forms`: a refused form, by answer id)."""
    forms = forms or {}
    may_sign = access.caller(request).has(screening.patient.clinic_id, SIGNERS)
    rows = []
    for a in screening.answers.all():
        form = forms.get(a.id)  # refused, even if nothing is left to sign off here
        if form is None and may_sign and a.awaits_sign_off:
            form = SignOffForm()
        rows.append({"answer": a, "form": form})
    return render(
        request,
        "scheduling/pages/desk/screening.html",
        {
            "screening": screening,
            "patient": screening.patient,
            "rows": rows,
            "awaiting": len(screening.awaiting_sign_off),
        },
        status=status,
    )


@login_required
def screening(request: HttpRequest, pk: int) -> HttpResponse:
    found = access.screening_for(request, pk, access.STAFF)
    record_access_log(user=request.user, patient_ids=[found.patient_id], action="page:screening")
    return _render(request, found)


@login_required(unsaved="The sign-off")
@require_POST
def sign_off(request: HttpRequest, pk: int, answer_id: int) -> HttpResponse:
    """A clinician signs off one present relative finding of the screening, with a reason."""
    found = access.screening_for(request, pk, SIGNERS)
    answer = get_object_or_404(found.answers.all(), pk=answer_id)
    form = SignOffForm(request.POST)
    if form.is_valid():
        try:
            screening_sign_off(answer=answer, clinician=request.user, **form.cleaned_data)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(request, f"Signed off: {answer.contraindication.name}.")
            return redirect("pages:screening", pk=found.pk)
    return _render(request, found, status=400, forms={answer.id: form})
