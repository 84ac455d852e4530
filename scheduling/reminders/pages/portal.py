"""The patient's portal: upcoming sessions in their own time zone with the preparation,
confirm or cancel, a PHQ-9 before a session, and a personal calendar feed."""

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from clinic.ratelimits import public_link_limit
from clinic.signin import login_required, require_POST
from patients.models import Patient
from patients.services import patient_calendar_token_reset, patient_reminder_settings_set
from scheduling.booking import selectors as booking_selectors
from scheduling.booking.models import Session
from scheduling.booking.pages import access
from scheduling.booking.pages.forms import errors_onto
from scheduling.reminders import services as reminders_services
from scheduling.reminders.calendar_feed import calendar_feed
from scheduling.reminders.content import (
    clinic_address_lines,
    clinic_name_for_patients,
    local_when,
    preparation_lines,
)
from scheduling.reminders.pages.forms import REMINDER_FIELDS, ReminderSettingsForm

ANSWERS = {"confirm": Session.Response.CONFIRMED, "cancel": Session.Response.CANCELLED}


def _feed_url(request, patient: Patient) -> str | None:
    if not patient.calendar_token:
        return None
    return request.build_absolute_uri(reverse("pages:calendar", args=[patient.calendar_token]))


@login_required
def portal(request: HttpRequest) -> HttpResponse:
    patient = access.own_patient(request)
    tz = patient.tz
    rows = []
    for s in booking_selectors.sessions_for_patient(patient=patient, now=timezone.now()):
        rows.append(
            {
                "s": s,
                "when": local_when(s.starts_at, tz),
                "planned": int(s.starts_at.timestamp()),
                "preparation": preparation_lines(s.course.protocol),
                "clinic_name": clinic_name_for_patients(s.clinic),  # no drug, no diagnosis
                "clinic_address": clinic_address_lines(s.clinic),
            }
        )
    return render(
        request,
        "scheduling/pages/portal/portal.html",
        {"patient": patient, "rows": rows, "feed_url": _feed_url(request, patient)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def reminder_settings(request: HttpRequest) -> HttpResponse:
    """How and when the patient is reminded; planned reminders follow the change."""
    patient = access.own_patient(request)
    form = ReminderSettingsForm(
        request.POST or None, initial={name: getattr(patient, name) for name in REMINDER_FIELDS}
    )
    if request.method == "POST" and form.is_valid():
        try:
            patient_reminder_settings_set(patient=patient, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(request, "Your reminder settings are saved.")
            return redirect("pages:portal")
    return render(request, "scheduling/pages/portal/reminders.html", {"form": form})


@login_required
@require_POST
def respond(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm or cancel from the portal: the same service as the reminder links."""
    session = access.own_session(request, pk)
    answer = ANSWERS.get(request.POST.get("answer", ""))
    try:
        planned = dt.datetime.fromtimestamp(int(request.POST.get("planned", "")), tz=dt.UTC)
    except ValueError:
        planned = None
    if answer is None or planned is None:
        messages.error(request, "Choose confirm or cancel.")
        return redirect("pages:portal")
    if answer == Session.Response.CANCELLED and request.POST.get("confirmed") != "1":
        # Asked first, on a page of its own: works without JavaScript.
        when = local_when(session.starts_at, access.own_patient(request).tz)
        return render(
            request,
            "scheduling/pages/portal/cancel_confirm.html",
            {"s": session, "when": when, "planned": request.POST["planned"]},
        )
    try:
        reminders_services.session_respond(
            session=session, planned_starts_at=planned, answer=answer, now=timezone.now()
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        when = local_when(session.starts_at, access.own_patient(request).tz)["when"]
        done = "confirmed" if answer == Session.Response.CONFIRMED else "cancelled"
        messages.success(request, f"Thank you: your appointment on {when} is {done}.")
    return redirect("pages:portal")


@login_required
@require_POST
def calendar_reset(request: HttpRequest) -> HttpResponse:
    patient = access.own_patient(request)
    patient_calendar_token_reset(patient=patient)
    messages.success(
        request, "Your calendar link is new: the old one no longer works. Subscribe again."
    )
    return redirect("pages:portal")


@public_link_limit("calendar-feed")
@require_GET
def calendar(request: HttpRequest, token: str) -> HttpResponse:
    """The feed a phone's calendar subscribes to: no login, the token is the secret."""
    patient = Patient.objects.filter(calendar_token=token).exclude(calendar_token="").first()
    if patient is None:
        raise Http404
    sessions = booking_selectors.sessions_for_patient(patient=patient, now=timezone.now())
    host = settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0]
    body = calendar_feed(sessions=sessions, now=timezone.now(), site=host)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="sessions.ics"'
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
