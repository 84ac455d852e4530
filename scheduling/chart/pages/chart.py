"""The nurse's chart for one chair: checklist, dose, vitals, side effects, discharge.

Every form posts with htmx and gets the chart's body back, so a new reading, its alert
and the live chart appear without a page load; without JavaScript the same posts
render the whole page.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from clinic import conditional
from clinic.signin import kept_form, login_required, require_POST
from patients.services import record_access_log
from scheduling.booking import services as booking_services
from scheduling.booking.models import Protocol, Session
from scheduling.booking.pages import access
from scheduling.booking.pages.forms import errors_onto
from scheduling.chart import selectors as chart_selectors
from scheduling.chart import services as chart_services
from scheduling.chart.models import VitalSigns
from scheduling.chart.pages.forms import (
    AcknowledgeForm,
    CheckInForm,
    ChecklistCompleteForm,
    DischargeForm,
    DoseIntranasalForm,
    DoseIvForm,
    ReadyToLeaveForm,
    ResolveForm,
    SideEffectForm,
    VitalsForm,
    WaiveForm,
    dose_stock_fields,
)

CRITERIA = [
    ("status", "Session in monitoring"),
    ("observation", "Minimum observation passed"),
    ("vitals", "Vitals after the dose within thresholds (or signed off)"),
    ("alerts", "No open alerts"),
    ("side_effects", "Sedation, dissociation and respiratory depression resolved"),
    ("moaa_s", "MOAA/S 5 (fully alert)"),
    ("cadss", "CADSS down to the clinic's limit"),
    ("escort_name", "Escort home recorded"),
]
READY_TO_LEAVE = ("ready_to_leave", "A clinician judged the patient ready to leave")


@dataclass(frozen=True)
class Unblock:
    """What lifts one reason of a refusal, and where on the chart it is done."""

    href: str | None  # the place on the chart (an anchor), if it is done there
    text: str  # said to whoever may do it
    nurse: str = ""  # said to a nurse instead, when only a clinician may: no link then
    nurse_href: bool = False  # with `nurse`: the nurse still has part of it to do there


# By the criterion or field a refusal names (the service's keys).
DOSE_UNBLOCKS = {
    "checklist": Unblock(
        "#checklist-title",
        "Complete it in the check-in checklist, or waive it there with a reason.",
        "Complete it in the check-in checklist, or a clinician must waive it with a reason.",
        nurse_href=True,
    ),
    "alerts": Unblock(
        "#alerts",
        "Acknowledge the alert with a note, or give a sign-off reason with the dose.",
        "A clinician must acknowledge the alert with a note, or sign off the dose with a reason.",
    ),
    "sign_off": Unblock(
        "#id_sign_off_reason",
        "Give a sign-off reason with the dose.",
        "A clinician must sign off the dose with a reason: a clinician records it.",
    ),
    "sign_off_reason": Unblock(
        "#id_sign_off_reason",
        "Write why this dose is right for the patient in the sign-off reason, or first "
        "acknowledge the alert with a note.",
    ),
}
DISCHARGE_UNBLOCKS = {
    "status": Unblock(
        "#dose-title", "The dose is recorded and finished (start monitoring) before discharge."
    ),
    "observation": Unblock(None, "Wait until then: no sign-off shortens it."),
    "vitals": Unblock(
        "#vitals-title",
        "Record the reading under Vitals; a reading past the thresholds also waits for a "
        "clinician to acknowledge its alert.",
    ),
    "alerts": Unblock(
        "#alerts",
        "Acknowledge each alert with a note.",
        "A clinician must acknowledge each alert with a note.",
    ),
    "side_effects": Unblock(
        "#se-title", "Mark it resolved under Side effects, with the MOAA/S or CADSS found then."
    ),
    "moaa_s": Unblock(
        "#se-title",
        "Record the MOAA/S found now under Side effects (on its Resolved line, or a new record).",
    ),
    "cadss": Unblock(
        "#se-title",
        "Record the CADSS found now under Side effects (on its Resolved line, or a new record).",
    ),
    "escort_name": Unblock("#discharge-form", "Name the escort in the discharge form."),
    "ready_to_leave": Unblock(
        "#ready-to-leave-form",
        "Record it: Ready to leave now.",
        "A clinician must record the time the patient was ready to leave.",
    ),
}
# A refusal's lines that say what unblocks it: the page says that itself, to each viewer.
UNBLOCK_CODES = (chart_services.NEEDS_CLINICIAN, chart_services.NEEDS_REASON)


def _refusal(exc: ValidationError, unblocks: dict, *, clinician: bool, fields=()) -> list[dict]:
    """Every reason of a service's refusal, by what it names, each with what unblocks it
    for this viewer: a link to where it is done, or, to a nurse, that a clinician must.

    Reasons about one of `fields` (the refused form's own) stay on the field; they show
    here too when they wait for a clinician's sign-off or for its reason."""
    rows = []
    for name, errors in exc.error_dict.items():
        codes = {e.code for e in errors}
        reasons = [m for e in errors if e.code not in UNBLOCK_CODES for m in e]
        if name in fields:
            if chart_services.NEEDS_REASON in codes:
                name = "sign_off_reason"
            elif chart_services.NEEDS_CLINICIAN in codes:
                name = "sign_off"
            else:
                continue
        u = unblocks.get(name)
        row = {"reasons": reasons, "unblock": None, "href": None}
        if u is not None:
            by_nurse = bool(u.nurse) and not clinician
            row["unblock"] = u.nurse if by_nurse else u.text
            row["href"] = u.href if (not by_nurse or u.nurse_href) else None
        rows.append(row)
    return rows


def _on_fields(exc: ValidationError, fields) -> ValidationError:
    """The part of a refusal for the form's own fields: their reasons less the unblocking
    lines, or only the ask for a sign-off reason (its reasons are in `_refusal`'s box)."""
    on_fields = {}
    for name, errors in exc.error_dict.items():
        asks = [e for e in errors if e.code == chart_services.NEEDS_REASON]
        kept = asks or [e for e in errors if e.code not in UNBLOCK_CODES]
        if name in fields and kept:
            on_fields[name] = kept
    return ValidationError(on_fields)


def _dose_form(chart, data=None):
    p = chart.protocol
    if p.route == Protocol.Route.IV:
        form = DoseIvForm(
            data,
            initial={"mg_per_kg": p.dose_mg_per_kg, "infusion_minutes": p.infusion_minutes},
        )
    else:
        form = DoseIntranasalForm(data, protocol=p, initial={"dose_mg": p.first_dose_mg})
    clinic = chart.session.clinic
    return dose_stock_fields(form, protocol=p, clinic=clinic, today=clinic.local_today())


def _dose_preview(chart, mg_per_kg) -> str:
    """What the IV dose comes to, from the weight at check-in (the service's own sum)."""
    weight = chart.check_in.weight_kg if chart.check_in else None
    if weight is None:
        return "Record the weight at check-in to compute the dose."
    try:
        per_kg = Decimal(str(mg_per_kg))
    except (InvalidOperation, TypeError):
        return "Give the dose in mg/kg."
    total = chart_services.iv_total_mg(mg_per_kg=per_kg, weight_kg=weight)
    return f"{per_kg} mg/kg × {weight} kg = {total} mg"


COMPLETE_FIELDS = {
    "fasting": ["fasting_confirmed"],
    "escort": ["escort_confirmed", "escort_name"],
    "weight": ["weight_kg"],
}


def _clinic_items(chart, *, missing_only: bool) -> list[tuple[int, str]]:
    return [
        (line.clinic_item_id, line.label)
        for line in chart.checklist
        if line.clinic_item_id and not (missing_only and line.satisfied)
    ]


def _weight_if_asked(form, protocol: Protocol):
    """The weight is asked at check-in only where the protocol asks it (IV always; not the
    built-in esketamine protocols, dosed in devices)."""
    if not protocol.check_in_weight:
        form.fields.pop("weight_kg", None)
    return form


def _check_in_form(chart, form=None):
    """The check-in, with the clinic's own items for this protocol."""
    form = form or CheckInForm(initial={"escort_name": chart.session.patient.escort_name})
    form.add_clinic_items(_clinic_items(chart, missing_only=False))
    return _weight_if_asked(form, chart.protocol)


def _complete_form(chart, form=None):
    """The checklist items still to do after check-in, and only those."""
    form = form or ChecklistCompleteForm(initial={"escort_name": chart.session.patient.escort_name})
    for line in chart.checklist:
        if line.satisfied:
            for name in COMPLETE_FIELDS.get(line.item, []):
                form.fields.pop(name, None)
    form.add_clinic_items(_clinic_items(chart, missing_only=True))
    return _weight_if_asked(form, chart.protocol)


def _vitals_rows(chart):
    rows = []
    for v in chart.current_vitals:
        findings = chart_selectors.vitals_findings(clinic=chart.clinic, vitals=v)
        rows.append({"v": v, "flag": findings.fields})
    return rows


def _series(chart) -> list[dict]:
    """Readings for the live chart: minutes since check-in on a linear axis."""
    if chart.check_in is None:
        return []
    t0 = chart.check_in.checked_in_at
    return [
        {
            "t": round((v.measured_at - t0).total_seconds() / 60, 1),
            "systolic": v.systolic,
            "diastolic": v.diastolic,
            "heart_rate": v.heart_rate,
            "spo2": v.spo2,
        }
        for v in chart.current_vitals
    ]


def _context(request, session: Session, **forms) -> dict:
    chart = chart_selectors.session_chart(session=session)
    problems = chart.discharge_problems()
    next_due = chart.vitals_next_due
    vitals_initial = {"timepoint": next_due.timepoint if next_due else "after"}
    dose_form = forms.get("dose_form") or _dose_form(chart)
    preview = None
    if chart.protocol.route == Protocol.Route.IV and chart.dose is None:
        preview = _dose_preview(chart, dose_form["mg_per_kg"].value())
    if preview is not None:
        dose_form.fields["mg_per_kg"].widget.attrs.update(
            {
                "hx-get": reverse("pages:chart_dose_preview", args=[session.pk]),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": "#dose-preview",
                "hx-swap": "innerHTML",
            }
        )
    c = access.caller(request)
    is_clinician = c.has(chart.clinic.id, [access.Role.CLINICIAN])

    def refused(name, unblocks, fields):
        exc = forms.get(name)
        return exc and _refusal(exc, unblocks, clinician=is_clinician, fields=fields)

    return {
        "next_due": next_due
        and {
            "label": VitalSigns.Timepoint(next_due.timepoint).label,
            "due_at": next_due.due_at,
        },
        "chart": chart,
        "session": chart.session,
        "tz": chart.clinic.tz,
        "S": Session.Status,
        "check_in_form": _check_in_form(chart, forms.get("check_in_form")),
        "dose_form": dose_form,
        "dose_preview": preview,
        "vitals_form": forms.get("vitals_form") or VitalsForm(initial=vitals_initial),
        "vitals_rows": _vitals_rows(chart),
        "series": _series(chart),
        "side_effect_form": forms.get("side_effect_form") or SideEffectForm(),
        "discharge_form": forms.get("discharge_form") or DischargeForm(),
        "dose_refused": refused("dose_refused", DOSE_UNBLOCKS, dose_form.fields),
        "discharge_refused": refused("discharge_refused", DISCHARGE_UNBLOCKS, ()),
        "criteria": [
            {"label": label, "met": key not in problems, "why": problems.get(key, [])}
            for key, label in CRITERIA + ([READY_TO_LEAVE] if chart.is_esketamine else [])
        ],
        "recovering": [
            e
            for e in chart.current_side_effects
            if e.kind in chart_selectors.RECOVERY_KINDS and e.resolved_at is None
        ],
        "resolve_form": forms.get("resolve_form") or ResolveForm(),
        "resolve_for": forms.get("resolve_for"),
        "ready_form": forms.get("ready_form") or ReadyToLeaveForm(),
        "complete_form": _complete_form(chart, forms.get("complete_form")),
        "waive_form": forms.get("waive_form"),
        "waive_for": forms.get("waive_for"),
        "acknowledge_form": forms.get("acknowledge_form"),
        "acknowledge_for": forms.get("acknowledge_for"),
        "status_error": forms.get("status_error"),
        "can_chart": c.has(chart.clinic.id, access.CLINICAL),
        "is_clinician": is_clinician,
    }


def _render(request, session, status=200, **forms) -> HttpResponse:
    context = _context(request, session, **forms)
    template = "_body.html" if request.htmx else "chart.html"
    return render(request, f"scheduling/pages/chart/{template}", context, status=status)


# The chart's forms that a signed-out post can be offered back into, by their POST view.
KEPT_FORMS = {
    "pages:chart_check_in": ("check_in_form", CheckInForm),
    "pages:chart_vitals": ("vitals_form", VitalsForm),
    "pages:chart_side_effect": ("side_effect_form", SideEffectForm),
    "pages:chart_discharge": ("discharge_form", DischargeForm),
}


@login_required
def chart(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.session_for(
        request, pk, access.CLINICAL, queryset=chart_selectors.chart_validator_sessions()
    )

    # Re-read while open: unchanged, it is a 304. A form offered back after signing in
    # comes with its message, so never as a 304 (conditional.not_modified).
    def page():
        record_access_log(user=request.user, patient_ids=[session.patient_id], action="page:chart")
        forms = {}
        for view_name, (form_name, form_class) in KEPT_FORMS.items():
            fields = kept_form(request, view_name)
            if fields is not None:  # sent while signed out: offered back, to check and save
                forms[form_name] = form_class(initial=fields)
        return _render(request, session, **forms)

    return conditional.respond(request, (chart_selectors.chart_validator(session=session),), page)


@login_required
@require_GET
def dose_preview(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.session_for(request, pk, access.CLINICAL)
    chart = chart_selectors.session_chart(session=session)
    return HttpResponse(_dose_preview(chart, request.GET.get("mg_per_kg")))


# What each of the chart's actions tells the nurse it did (shown with the chart redrawn).
DONE = {
    "chart_check_in": "Checked in.",
    "chart_checklist": "Checklist updated.",
    "chart_waive": "Checklist item waived, with the reason on the chart.",
    "chart_dose": "Dose recorded.",
    "chart_vitals": "Vital signs recorded.",
    "chart_side_effect": "Side effect recorded.",
    "chart_side_effect_resolve": "Side effect marked resolved.",
    "chart_acknowledge": "Alert acknowledged.",
    "chart_ready_to_leave": "Ready-to-leave time recorded.",
    "chart_monitoring": "Dose finished: monitoring started.",
    "chart_discharge": "Discharged.",
}


def _done(request) -> None:
    messages.success(request, DONE[request.resolver_match.url_name])


def _post(
    request, pk, form_class, form_name, call, roles=access.CLINICAL, refused_as="", **on_error
):
    """Parse, call the service, and re-render the chart with the form's errors, if any.

    `form_class` is a form class, or a callable (session, data) -> form; `on_error` goes
    to the template with a refused form (which row's form it was). With `refused_as`, the
    service's refusal goes to the template under that name, shown reason by reason with
    what unblocks each (`_refusal`); only what names the form's fields goes on the form."""
    session = access.session_for(request, pk, roles)
    if isinstance(form_class, type):
        form = form_class(request.POST)
    else:
        form = form_class(session, request.POST)
    if form.is_valid():
        try:
            call(session, form.cleaned_data)
        except ValidationError as exc:
            if refused_as and hasattr(exc, "error_dict"):
                on_error[refused_as] = exc
                exc = _on_fields(exc, form.fields)
            errors_onto(form, exc)
            return _render(request, session, status=400, **{form_name: form}, **on_error)
        _done(request)
        return _render(request, session)
    return _render(request, session, status=400, **{form_name: form}, **on_error)


@login_required(unsaved="The check-in")
@require_POST
def check_in(request: HttpRequest, pk: int) -> HttpResponse:
    def form(session, data):  # with the clinic's own items
        items = chart_selectors.clinic_checklist_items(session=session)
        form = CheckInForm(data)
        form.add_clinic_items((item.id, item.label) for item in items)
        return _weight_if_asked(form, session.course.protocol)

    def call(session, d):
        chart_services.session_check_in(session=session, by=request.user, **d)

    return _post(request, pk, form, "check_in_form", call)


@login_required(unsaved="The checklist")
@require_POST
def checklist_complete(request: HttpRequest, pk: int) -> HttpResponse:
    def form(session, data):  # only what is still missing, as on the page
        return _complete_form(
            chart_selectors.session_chart(session=session), ChecklistCompleteForm(data)
        )

    def call(session, d):
        chart_services.checklist_complete(session=session, by=request.user, **d)

    return _post(request, pk, form, "complete_form", call)


@login_required(unsaved="The waiver")
@require_POST
def waive(request: HttpRequest, pk: int) -> HttpResponse:
    """A clinician waives one checklist item on the chart, with a reason."""

    def call(session, d):
        chart_services.checklist_waive(session=session, by=request.user, **d)

    item = request.POST.get("item")
    return _post(
        request, pk, WaiveForm, "waive_form", call, [access.Role.CLINICIAN], waive_for=item
    )


@login_required(unsaved="The dose")
@require_POST
def dose(request: HttpRequest, pk: int) -> HttpResponse:
    def form(session, data):  # the IV form needs the chart's weight and protocol
        return _dose_form(chart_selectors.session_chart(session=session), data)

    def call(session, d):
        chart_services.dose_record(session=session, by=request.user, **d)

    return _post(request, pk, form, "dose_form", call, refused_as="dose_refused")


@login_required(unsaved="Your reading")
@require_POST
def vitals(request: HttpRequest, pk: int) -> HttpResponse:
    def call(session, d):
        chart_services.vitals_record(session=session, by=request.user, **d)

    return _post(request, pk, VitalsForm, "vitals_form", call)


@login_required(unsaved="The side effect")
@require_POST
def side_effect(request: HttpRequest, pk: int) -> HttpResponse:
    def call(session, d):
        chart_services.side_effect_record(session=session, by=request.user, **d)

    return _post(request, pk, SideEffectForm, "side_effect_form", call)


@login_required(unsaved="The side effect's resolution")
@require_POST
def side_effect_resolve(request: HttpRequest, pk: int, effect: int) -> HttpResponse:
    """Record that a side effect resolved, with the CADSS or MOAA/S found then."""

    def call(session, d):
        found = get_object_or_404(session.side_effects, pk=effect)
        chart_services.side_effect_resolve(side_effect=found, by=request.user, **d)

    return _post(request, pk, ResolveForm, "resolve_form", call, resolve_for=effect)


@login_required(unsaved="The acknowledgement")
@require_POST
def acknowledge(request: HttpRequest, pk: int, alert_id: int) -> HttpResponse:
    """A clinician at the chair acknowledges one of the session's alerts, with a note."""

    def call(session, d):
        alert = get_object_or_404(session.alerts, pk=alert_id)
        chart_services.alert_acknowledge(alert=alert, by=request.user, note=d["note"])

    return _post(
        request, pk, AcknowledgeForm, "acknowledge_form", call, [access.Role.CLINICIAN],
        acknowledge_for=alert_id,
    )  # fmt: skip


@login_required(unsaved="The ready-to-leave time")
@require_POST
def ready_to_leave(request: HttpRequest, pk: int) -> HttpResponse:
    def call(session, d):
        chart_services.ready_to_leave_record(session=session, by=request.user, **d)

    return _post(request, pk, ReadyToLeaveForm, "ready_form", call)


@login_required(unsaved="The start of monitoring")
@require_POST
def monitoring(request: HttpRequest, pk: int) -> HttpResponse:
    """The dose has ended: the session moves to monitoring."""
    session = access.session_for(request, pk, access.CLINICAL)
    try:
        booking_services.session_transition(
            session=session, to=Session.Status.MONITORING, by=request.user
        )
    except ValidationError as exc:
        return _render(request, session, status=400, status_error=exc.messages)
    _done(request)
    return _render(request, session)


@login_required(unsaved="The discharge")
@require_POST
def discharge(request: HttpRequest, pk: int) -> HttpResponse:
    session = access.session_for(request, pk, access.CLINICAL)
    form = DischargeForm(request.POST)
    if form.is_valid():
        try:
            chart_services.session_discharge(session=session, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            return _render(request, session, status=400, discharge_form=form, discharge_refused=exc)
        _done(request)
        return _render(request, session)
    return _render(request, session, status=400, discharge_form=form)


@login_required
def today(request: HttpRequest) -> HttpResponse:
    """The nurse's day: today's sessions at each of their clinics, chair by chair."""
    clinics = access.clinics_for(request, access.CLINICAL)
    boards = []
    # All the caller's clinics in one read (a superuser sees every clinic), not a board each.
    days = chart_selectors.clinic_days_today(clinics=clinics)
    for day in days:
        by_chair = {c.id: {"chair": c, "sessions": []} for c in day.chairs}
        for s in day.sessions:
            if s.status != Session.Status.CANCELLED and s.chair_id in by_chair:
                by_chair[s.chair_id]["sessions"].append(s)
        boards.append({"clinic": day.clinic, "day": day.day, "chairs": list(by_chair.values())})
    record_access_log(
        user=request.user,
        patient_ids=[s.patient_id for d in days for s in d.sessions],
        action="page:today",
    )
    return render(request, "scheduling/pages/chart/today.html", {"boards": boards})
