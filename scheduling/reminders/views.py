"""The pages reminders link to, and the SMS provider's delivery callback.

Confirm-or-cancel links answer GET with a page and act only on the button's POST:
mail scanners and link previews open links by themselves.
"""

import logging
import zoneinfo

from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from clinic.ratelimits import public_link_limit

from ..booking.models import Session
from . import services as reminders_services
from .content import (
    clinic_address_lines,
    clinic_name_for_patients,
    local_when,
    preparation_lines,
    session_response_token_read,
)
from .sms import twilio_signature_valid

logger = logging.getLogger(__name__)

ANSWERS = {"confirm": Session.Response.CONFIRMED, "cancel": Session.Response.CANCELLED}


def _page(request, context, status=200) -> HttpResponse:
    response = render(request, "scheduling/reminders/respond.html", context, status=status)
    response["Referrer-Policy"] = "no-referrer"  # the token must not leak onwards
    response["X-Robots-Tag"] = "noindex"
    response["Cache-Control"] = "no-store"
    return response


@public_link_limit("reminder-answer")
@require_http_methods(["GET", "POST"])
def session_respond(request: HttpRequest, token: str) -> HttpResponse:
    try:
        session_id, planned_starts_at = session_response_token_read(token)
    except signing.SignatureExpired:
        return _page(request, {"problem": "This link has expired. Please call the clinic."}, 410)
    except signing.BadSignature:
        return _page(request, {"problem": "This link is not valid."}, 404)
    session = (
        Session.objects.select_related("clinic__reminder_policy", "patient", "course__protocol")
        .filter(pk=session_id)
        .first()
    )
    if session is None:
        return _page(request, {"problem": "This appointment no longer exists."}, 404)
    tz = zoneinfo.ZoneInfo(session.patient.timezone or session.clinic.timezone)
    context = {
        "session": session,
        # The clinic as its reminders name it: never the drug or the diagnosis.
        "clinic_name": clinic_name_for_patients(session.clinic),
        "clinic_address": clinic_address_lines(session.clinic),
        "clinic_phone": session.clinic.phone,
        "preparation": preparation_lines(session.course.protocol),
        **local_when(session.starts_at, tz),
    }
    if session.starts_at != planned_starts_at:
        context["problem"] = (
            "This appointment has changed since the message was sent: see your latest "
            "message, or call the clinic."
        )
        return _page(request, context, 409)
    if request.method == "POST":
        answer = ANSWERS.get(request.POST.get("answer", ""))
        if answer is None:
            context["problem"] = "Choose confirm or cancel."
            return _page(request, context, 400)
        try:
            session = reminders_services.session_respond(
                session=session,
                planned_starts_at=planned_starts_at,
                answer=answer,
                now=timezone.now(),
            )
        except ValidationError as exc:
            context["problem"] = " ".join(exc.messages)
            return _page(request, context, 409)
        context.update(session=session, done=answer)
        return _page(request, context)
    if session.status != Session.Status.BOOKED:
        context["problem"] = "This appointment is no longer booked. Please call the clinic."
    return _page(request, context)


@csrf_exempt  # the provider cannot send a CSRF token; its signature is checked instead
@require_POST
def sms_status(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    url = settings.SITE_URL + request.get_full_path()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not twilio_signature_valid(url=url, params=request.POST.dict(), signature=signature):
        logger.warning("SMS status callback refused: bad signature")
        return HttpResponseForbidden("Bad signature.")
    try:
        reminders_services.reminder_delivery_record(
            provider_message_id=request.POST.get("MessageSid", ""),
            status=request.POST.get("MessageStatus", ""),
            error_code=request.POST.get("ErrorCode", ""),
            now=timezone.now(),
        )
    except ValidationError:
        return HttpResponse(status=400)
    return HttpResponse(status=204)
