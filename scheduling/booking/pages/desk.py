"""Front desk: the day board, patients, starting a course, moving and cancelling."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from clinic.models import Chair
from clinic.signin import login_required, require_POST
from patients.models import Patient
from patients.selectors import screenings_with_answers
from patients.services import patient_register, record_access_log
from scheduling.booking import selectors as booking_selectors
from scheduling.booking import services as booking_services
from scheduling.booking.models import Protocol, Session
from scheduling.booking.pages import access
from scheduling.booking.pages.forms import (
    CancelForm,
    CourseForm,
    MoveForm,
    PatientRegisterForm,
    PatientSearchForm,
    SlotForm,
    SlotsQueryForm,
    combine_local,
    errors_onto,
)
from scheduling.booking.services import Scope

CANCEL_IDS = "id_cancel_%s"  # the move form beside it has a scope field too: ids apart


# --- patients --------------------------------------------------------------------------------


@login_required
def patients(request: HttpRequest) -> HttpResponse:
    ids = access.clinic_ids_for(request, access.STAFF)
    form = PatientSearchForm(request.GET or None)
    found = Patient.objects.none()
    if form.is_valid() and form.cleaned_data["q"]:
        q = form.cleaned_data["q"]
        found = Patient.objects.filter(
            Q(last_name__icontains=q) | Q(first_name__icontains=q) | Q(mrn__iexact=q)
        ).select_related("clinic")
        if ids is not None:
            found = found.filter(clinic_id__in=ids)
        found = list(found.order_by("last_name", "first_name")[:50])
        record_access_log(
            user=request.user, patient_ids=[p.id for p in found], action="page:patient:search"
        )
    template = "_results.html" if request.htmx else "patients.html"
    return render(
        request,
        f"scheduling/pages/desk/{template}",
        {"form": form, "found": found, "searched": form.is_valid() and form.cleaned_data["q"]},
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_new(request: HttpRequest) -> HttpResponse:
    clinics = access.clinics_for(request, access.REGISTRARS)
    clinic_id = request.POST.get("clinic") or request.GET.get("clinic")
    clinic = clinics.filter(pk=clinic_id).first() if clinic_id else clinics.first()
    if clinic is None:
        return redirect("pages:patients")
    form = PatientRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = patient_register(clinic=clinic, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(
                request,
                f"Registered {patient.first_name} {patient.last_name}, record number "
                f"{patient.mrn}.",
            )
            return redirect("pages:patient", pk=patient.pk)
    return render(
        request,
        "scheduling/pages/desk/patient_new.html",
        {"form": form, "clinics": clinics, "clinic": clinic},
    )


@login_required
def patient(request: HttpRequest, pk: int) -> HttpResponse:
    p = access.patient_for(request, pk, access.STAFF)
    record_access_log(user=request.user, patient_ids=[p.id], action="page:patient")
    c = access.caller(request)
    return render(
        request,
        "scheduling/pages/desk/patient.html",
        {
            "patient": p,
            "courses": p.courses.select_related("protocol").order_by("-start_date"),
            "sessions": booking_selectors.sessions_for_patient(
                patient=p, now=timezone.now()
            ).select_related("chair")[:20],
            "screenings": screenings_with_answers().filter(patient=p),
            "can_screen": c.has(p.clinic_id, access.CLINICAL),
            "can_sign_off": c.has(p.clinic_id, [access.Role.CLINICIAN]),
        },
    )


# --- starting a course -----------------------------------------------------------------------


def _course_form(request, data=None, initial=None) -> CourseForm:
    ids = access.clinic_ids_for(request, access.COURSE_STARTERS)
    patients = Patient.objects.select_related("clinic").order_by("last_name", "first_name")
    protocols = Protocol.objects.filter(is_active=True).order_by("name")
    if ids is not None:
        patients = patients.filter(clinic_id__in=ids)
        protocols = protocols.filter(Q(clinic__isnull=True) | Q(clinic_id__in=ids))
    return CourseForm(data, initial=initial, patients=patients, protocols=protocols)


def _course_args(form: CourseForm) -> dict:
    d = form.cleaned_data
    return dict(
        patient=d["patient"],
        protocol=d["protocol"],
        start_date=d["start_date"],
        preferred_weekdays=d["preferred_weekdays"],
        preferred_time=d["preferred_time"],
    )


COURSE_ALIASES = {"screening": "patient"}


@login_required
@require_http_methods(["GET", "POST"])
def course_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        initial = {"patient": request.GET.get("patient")}
        return render(
            request,
            "scheduling/pages/desk/course_new.html",
            {"form": _course_form(request, initial=initial)},
        )
    form = _course_form(request, request.POST)
    action = request.POST.get("action", "preview")
    planned = None
    if form.is_valid():
        try:
            if action == "confirm":
                course = booking_services.course_start(**_course_args(form), by=request.user)
                booked = list(course.sessions.order_by("starts_at"))
                first = booked[0]
                day = first.starts_at.astimezone(course.clinic.tz).date()
                messages.success(
                    request,
                    f"Course booked: {len(booked)} session{pluralize(len(booked))} of "
                    f"{course.protocol.name}, the first on "
                    f"{first.starts_at.astimezone(course.clinic.tz):%a %d %b %Y, %H:%M}.",
                )
                url = reverse("pages:board") + f"?clinic={course.clinic_id}&date={day:%Y-%m-%d}"
                if request.htmx:
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = url
                    return response
                return redirect(url)
            planned = booking_services.course_plan(**_course_args(form))
        except ValidationError as exc:
            errors_onto(form, exc, COURSE_ALIASES)
    context = {"form": form, "planned": planned}
    if planned is not None:
        tz = form.cleaned_data["patient"].clinic.tz
        context["planned"] = [
            {"number": p.number, "local": p.starts_at.astimezone(tz)} for p in planned
        ]
    if request.htmx:
        return render(request, "scheduling/pages/desk/_course_preview.html", context)
    return render(request, "scheduling/pages/desk/course_new.html", context)


# --- one session: move, cancel, free slots -----------------------------------------------------


def _session_context(request, session: Session, **forms) -> dict:
    tz = session.clinic.tz
    local = session.starts_at.astimezone(tz)
    query = SlotsQueryForm(request.GET or None)
    start = session.clinic.local_today()
    if query.is_valid() and query.cleaned_data["start"]:
        start = max(start, query.cleaned_data["start"])
    slots = []
    if session.status == Session.Status.BOOKED:
        slots = booking_selectors.slots_free(
            course=session.course,
            start=start,
            days=14,
            now=timezone.now(),
            limit=24,
            exclude_session_id=session.id,
        )
    return {
        "session": session,
        "local": local,
        "history": session.status_changes.select_related("changed_by").order_by("changed_at"),
        "move_form": forms.get("move_form")
        or MoveForm(
            initial={"date": local.date(), "time": local.time(), "chair": session.chair_id},
            clinic=session.clinic,
        ),
        "cancel_form": forms.get("cancel_form") or CancelForm(auto_id=CANCEL_IDS),
        "slot_errors": forms.get("slot_errors"),
        "slots_query": SlotsQueryForm(initial={"start": start}),
        "slots": slots,
        "is_clinician": access.caller(request).has(session.clinic_id, [access.Role.CLINICIAN]),
    }


@login_required
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.session_for(request, pk, access.STAFF)
    record_access_log(user=request.user, patient_ids=[session.patient_id], action="page:session")
    context = _session_context(request, session)
    if request.htmx and request.GET.get("part") == "slots":
        return render(request, "scheduling/pages/desk/_slots.html", context)
    return render(request, "scheduling/pages/desk/session.html", context)


def _say_moved(request, moved: list[Session], tz) -> None:
    n = len(moved)
    messages.success(request, f"Moved {n} session{pluralize(n)}: now {_sessions_line(moved, tz)}.")


def _after_edit(session: Session) -> HttpResponse:
    return redirect("pages:session", pk=session.pk)


@login_required
@require_POST
def session_move(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.session_for(request, pk, access.BOOKERS)
    form = MoveForm(request.POST, clinic=session.clinic)
    if form.is_valid():
        d = form.cleaned_data
        try:
            moved = booking_services.session_move(
                session=session,
                starts_at=combine_local(d["date"], d["time"], session.clinic.tz),
                chair=d["chair"],
                scope=d["scope"],
                note=d["note"],
                by=request.user,
            )
        except ValidationError as exc:
            errors_onto(form, exc, {"starts_at": "time", "chair_id": "chair"})
        else:
            _say_moved(request, moved, session.clinic.tz)
            return _after_edit(session)
    context = _session_context(request, session, move_form=form)
    return render(request, "scheduling/pages/desk/session.html", context, status=400)


def _in_scope(session: Session, scope: str) -> list[Session]:
    """The sessions a cancel of `session` in `scope` would cancel, locked as
    session_cancel locks them (the session, then its scope): the scope's one
    statement lives there, so the count asked about is the count cancelled."""
    locked = Session.objects.select_for_update().get(pk=session.pk)
    return booking_services.sessions_in_scope(locked, scope)


def _sessions_line(sessions: list[Session], tz) -> str:
    return "; ".join(
        f"session {s.number} on {s.starts_at.astimezone(tz):%a %d %b %Y, %H:%M}" for s in sessions
    )


def _cancel_confirm(request, session, form, targets, status=200) -> HttpResponse:
    tz = session.clinic.tz
    context = {
        "session": session,
        "form": form,
        "scope": form.cleaned_data["scope"],
        "targets": [{"s": s, "local": s.starts_at.astimezone(tz)} for s in targets],
        "count": len(targets),
    }
    return render(request, "scheduling/pages/desk/cancel_confirm.html", context, status=status)


@login_required
@require_POST
def session_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel one session, this and the following, or the whole course: first a page that
    names how many sessions (and which) will be cancelled; only its button cancels."""
    session = access.session_for(request, pk, access.BOOKERS)
    form = CancelForm(request.POST, auto_id=CANCEL_IDS)
    if form.is_valid():
        d = form.cleaned_data
        cancelled = None
        try:
            with transaction.atomic():
                targets = _in_scope(session, d["scope"])
                if d["confirmed"] == len(targets):  # asked, and the count is still the same
                    cancelled = booking_services.session_cancel(
                        session=session, scope=d["scope"], reason=d["reason"], by=request.user
                    )
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            if cancelled is None:  # not asked yet, or the count changed since: ask
                return _cancel_confirm(request, session, form, targets)
            n = len(cancelled)
            what = _sessions_line(cancelled, session.clinic.tz)
            stopped = " The course is stopped." if d["scope"] == Scope.ALL else ""
            messages.success(request, f"Cancelled {n} session{pluralize(n)}: {what}.{stopped}")
            return _after_edit(session)
    context = _session_context(request, session, cancel_form=form)
    return render(request, "scheduling/pages/desk/session.html", context, status=400)


@login_required
@require_POST
def session_slot(request: HttpRequest, pk: int) -> HttpResponse:
    """A free slot clicked: move this session there, or book one more session of its
    course there."""
    session = access.session_for(request, pk, access.BOOKERS)
    form = SlotForm(request.POST)
    errors = None
    if form.is_valid():
        d = form.cleaned_data
        chair = Chair.objects.filter(clinic=session.clinic, pk=d["chair"]).first()
        try:
            if chair is None:
                raise ValidationError({"chair": "That chair is not at this clinic."})
            if d["action"] == "move":
                moved = booking_services.session_move(
                    session=session, starts_at=d["starts_at"], chair=chair, by=request.user
                )
                _say_moved(request, moved, session.clinic.tz)
                return _after_edit(session)
            booked = booking_services.session_book(
                course=session.course, starts_at=d["starts_at"], chair=chair, by=request.user
            )
            messages.success(
                request,
                f"Booked session {booked.number} on "
                f"{booked.starts_at.astimezone(session.clinic.tz):%a %d %b %Y, %H:%M} "
                f"in {chair.name}.",
            )
            return redirect("pages:session", pk=booked.pk)
        except ValidationError as exc:
            errors = exc.messages
    else:
        errors = [e for errs in form.errors.values() for e in errs]
    context = _session_context(request, session, slot_errors=errors)
    return render(request, "scheduling/pages/desk/session.html", context, status=400)
