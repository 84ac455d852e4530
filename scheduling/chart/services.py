"""Writes for the session chart: check-in, waivers, dose, vitals, side effects, alerts,
questionnaires, discharge and the REMS report.

Every function checks its rules before it writes and writes in one transaction, the
session locked first (`_locked`), so a refusal (a ValidationError naming the field and
the rule) leaves nothing behind.
Vitals and side effects are append-only: a correction is a new row amending the old.
Logs carry ids only.
"""

import datetime as dt
import logging
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.models import Clinic, StaffMembership
from clinic.selectors import user_has_role
from clinic.validators import validate_weight_kg
from patients.models import Patient, QuestionnaireResponse
from patients.selectors import age_on
from patients.services import questionnaire_record

from ..booking.models import Protocol, Session, StaffNotice
from ..booking.services.gates import course_gate_check
from ..booking.services.notices import staff_notice_resolve, staff_notices_raise
from ..booking.services.sessions import session_transition
from ..stock.models import Lot, StockLocation
from ..stock.selectors import clinic_keeps_stock
from ..stock.services import stock_draw_for_dose
from .models import (
    VITAL_BOUNDS,
    Alert,
    CheckIn,
    ChecklistItem,
    ChecklistWaiver,
    ClinicChecklistAnswer,
    DeviceAdministration,
    Discharge,
    DoseAdministration,
    ReadyToLeave,
    RemsReport,
    SideEffect,
    VitalSigns,
)
from .selectors import (
    PHQ9_FRESH,
    REMS_ONLY,
    clinic_checklist_items,
    rems_form_for_session,
    session_chart,
    sessions_rems_form_due,
    vitals_findings,
)

logger = logging.getLogger(__name__)

S = Session.Status
R = StaffMembership.Role
CARE = (R.NURSE, R.CLINICIAN)  # who charts a session
CHARTING = (S.CHECKED_IN, S.IN_PROGRESS, S.MONITORING)


def _refuse(roles, doing: str) -> PermissionDenied:
    who = " or ".join(R(r).label.lower() for r in roles)
    return PermissionDenied(f"Only a {who} of the session's clinic can {doing}.")


def _require(*, by: AbstractBaseUser | None, session: Session, roles, doing: str) -> None:
    if by is None or not user_has_role(user=by, clinic=session.clinic, roles=roles):
        raise _refuse(roles, doing)


def _locked(
    session: Session,
    *,
    by: AbstractBaseUser | None,
    roles,
    doing: str,
    refuse_as: str = "",
) -> Session:
    """The session, re-read and locked for this transaction, once `by` is proven to hold
    one of `roles` at its clinic (the clinic of the session's row, read from the
    database, whatever the caller's instance says): a user who may not write it never
    locks it, so nobody can hold up another clinic's charting. Only the session's row is
    locked (`of`, where the database locks rows: PostgreSQL; SQLite locks none, its write
    transaction excludes the others). The session comes with that clinic; its other
    relations load on first use, if at all.

    Every chart write starts here, so here the session is also marked changed
    (`Session.version`, which the chart's and the day board's ETags read), in the same
    transaction: a refused write rolls the mark back with the rest.

    With `refuse_as` (a field name), a session that does not exist or that `by` may not
    write is one refusal, a 400 naming that field: an API caller learns nothing about
    other clinics' sessions. Without it, those are DoesNotExist and a 403."""
    if by is None:
        raise _refuse(roles, doing)
    try:
        # A session never changes clinic: read before the lock, it is the locked row's.
        clinic = Clinic.objects.filter(sessions=session.pk).first()
        if clinic is None:
            raise Session.DoesNotExist(f"No session {session.pk}.")
        if not user_has_role(user=by, clinic=clinic, roles=roles):
            raise _refuse(roles, doing)
        found = Session.objects.select_for_update(of=("self",)).get(pk=session.pk)
    except (Session.DoesNotExist, PermissionDenied):
        if refuse_as:
            raise ValidationError({refuse_as: "No such session among yours."}) from None
        raise
    Session.clinic.field.set_cached_value(found, clinic)
    Session.objects.filter(pk=found.pk).mark_changed()
    return found


def _label(status: str) -> str:
    return Session.Status(status).label.lower()


def _not_future(value: dt.datetime, now: dt.datetime, field: str, what: str) -> None:
    if value.tzinfo is None:
        raise ValidationError({field: "Give a time with its time zone."})
    if value > now + dt.timedelta(minutes=1):
        raise ValidationError({field: f"{what} cannot be in the future."})


# --- questionnaires ----------------------------------------------------------------------


@transaction.atomic
def questionnaire_submit(
    *,
    patient: Patient,
    kind: str,
    items,
    by: AbstractBaseUser | None,
    session: Session | None = None,
    completed_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    shown_crisis_help: bool = False,
) -> QuestionnaireResponse:
    """Record a PHQ-9 or GAD-7; a PHQ-9 with item 9 above 0 raises an alert.

    The one way in for staff, the chart and the patient portal: the alert lives here
    because alerts belong to scheduling. Item errors are named `items[i]`.
    `shown_crisis_help`: the caller (the portal) shows the patient the clinic's phone and
    crisis line at once (Clinic.crisis_help); the alert then says what they were shown.
    """
    now = now or timezone.now()
    if session is not None and session.patient_id != patient.id:
        raise ValidationError({"session": "That session is another patient's."})
    response = questionnaire_record(
        patient=patient, kind=kind, items=items, by=by, completed_at=completed_at, now=now
    )
    if response.kind == QuestionnaireResponse.Kind.PHQ9 and response.item9:
        message = (
            f"PHQ-9 item 9 (thoughts of self-harm) scored {response.item9} of 3: "
            "a clinician must assess the patient."
        )
        if shown_crisis_help:
            shown = patient.clinic.crisis_help()
            told = [f"the clinic's phone ({shown['phone'] or 'none set'})"]
            if shown["line"]:
                told.append(f"the crisis line ({shown['line']})")
            message += f" The portal showed the patient, at once, {' and '.join(told)}."
        alert = Alert.objects.create(
            clinic_id=patient.clinic_id,
            patient=patient,
            session=session,
            kind=Alert.Kind.PHQ9_ITEM9,
            questionnaire=response,
            message=message,
            raised_at=now,
        )
        logger.warning("alert %s: phq9 item 9 for patient %s", alert.id, patient.id)
    # The charts whose check-in checklist counts it (session_chart's rule) and its alert's.
    Session.objects.filter(
        patient=patient, starts_at__lte=response.completed_at + PHQ9_FRESH
    ).mark_changed()
    return response


# --- check-in and the checklist ----------------------------------------------------------


def _weight(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        weight = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValidationError({"weight_kg": "Give the weight in kilograms."}) from exc
    try:
        validate_weight_kg(weight)
    except ValidationError as exc:
        raise ValidationError({"weight_kg": exc.messages}) from exc
    return weight


def _clinic_items_ticked(ids, asked: set[int]) -> set[int]:
    """The clinic checklist items ticked (by id), each one on this session's checklist."""
    ticked = {int(i) for i in ids or ()}
    unknown = sorted(ticked - asked)
    if unknown:
        listed = ", ".join(str(i) for i in unknown)
        raise ValidationError(
            {"clinic_items_done": f"Not on this session's checklist: item {listed}."}
        )
    return ticked


def _tick(answer: ClinicChecklistAnswer, *, by: AbstractBaseUser, now: dt.datetime) -> None:
    answer.done, answer.done_at, answer.done_by = True, now, by


@transaction.atomic
def session_check_in(
    *,
    session: Session,
    by: AbstractBaseUser,
    fasting_confirmed: bool,
    escort_confirmed: bool,
    escort_name: str = "",
    escort_phone: str = "",
    weight_kg: Decimal | float | str | None = None,
    pre_dose_vitals: dict | None = None,
    phq9_items: list[int] | None = None,
    clinic_items_done: list[int] | None = None,
    notes: str = "",
    now: dt.datetime | None = None,
) -> CheckIn:
    """Record the pre-session checklist and check the patient in.

    A session the front desk already marked as arrived stays checked in; a booked one is
    checked in (on its own day only, as session_transition says). Pre-dose vitals and a
    PHQ-9 may come now or later through vitals_record and questionnaire_submit. The
    clinic's own items for this protocol are recorded as asked now, done where their id
    is in `clinic_items_done`. What is missing must be done (checklist_complete), or
    waived by a clinician, before the dose (dose_record).
    """
    now = now or timezone.now()
    session = _locked(session, by=by, roles=CARE, doing="check a patient in")
    if session.status not in (S.BOOKED, S.CHECKED_IN):
        raise ValidationError(
            {"status": f"A {_label(session.status)} session cannot be checked in."}
        )
    if CheckIn.objects.filter(session=session).exists():
        raise ValidationError({"session": "The checklist of this session is already recorded."})
    # Age, screening and REMS again: any of them may have lapsed since the booking.
    course_gate_check(patient=session.patient, protocol=session.course.protocol, now=now)
    asked = clinic_checklist_items(session=session)
    ticked = _clinic_items_ticked(clinic_items_done, {item.id for item in asked})
    escort_name = (escort_name or "").strip()
    if escort_confirmed and not escort_name:
        escort_name = session.patient.escort_name.strip()
        escort_phone = escort_phone or session.patient.escort_phone
    if escort_confirmed and not escort_name:
        raise ValidationError({"escort_name": "Name the escort or the person driving home."})
    check_in = CheckIn(
        session=session,
        checked_in_at=now,
        checked_in_by=by,
        fasting_confirmed=fasting_confirmed,
        escort_confirmed=escort_confirmed,
        escort_name=escort_name,
        escort_phone=escort_phone or "",
        weight_kg=_weight(weight_kg),
        notes=notes.strip(),
    )
    check_in.full_clean(exclude=["session"])
    check_in.save()
    for item in asked:  # the label as asked today: a later edit of the item changes nothing
        answer = ClinicChecklistAnswer(check_in=check_in, item=item, label=item.label)
        if item.id in ticked:
            _tick(answer, by=by, now=now)
        answer._history_user = by
        answer.save()
    if session.status == S.BOOKED:
        session_transition(session=session, to=S.CHECKED_IN, by=by, now=now)
    if pre_dose_vitals:
        vitals_record(
            session=session,
            by=by,
            timepoint=VitalSigns.Timepoint.PRE_DOSE,
            now=now,
            **pre_dose_vitals,
        )
    if phq9_items is not None:
        questionnaire_submit(
            patient=session.patient,
            kind=QuestionnaireResponse.Kind.PHQ9,
            items=phq9_items,
            by=by,
            session=session,
            now=now,
        )
    logger.info("session %s checked in by user %s", session.id, by.pk)
    return check_in


@transaction.atomic
def checklist_complete(
    *,
    session: Session,
    by: AbstractBaseUser,
    fasting_confirmed: bool = False,
    escort_confirmed: bool = False,
    escort_name: str = "",
    escort_phone: str = "",
    weight_kg=None,
    clinic_items_done: list[int] | None = None,
    now: dt.datetime | None = None,
) -> CheckIn:
    """Complete check-in items that were not done at check-in, before the dose: the
    clinic's own items by id, among those asked at check-in. An item done is never
    undone here; the history keeps the check-in as first recorded."""
    now = now or timezone.now()
    session = _locked(session, by=by, roles=CARE, doing="complete the checklist")
    if session.status != S.CHECKED_IN:
        raise ValidationError(
            {"status": f"The checklist is completed before the dose; this session is "
             f"{_label(session.status)}."}
        )  # fmt: skip
    check_in = CheckIn.objects.get(session=session)  # the session lock above serialises it
    answers = {a.item_id: a for a in check_in.answers.all()}
    ticked = _clinic_items_ticked(clinic_items_done, set(answers))
    if fasting_confirmed:
        check_in.fasting_confirmed = True
    if escort_confirmed and not check_in.escort_confirmed:
        name = (escort_name or "").strip() or session.patient.escort_name.strip()
        if not name:
            raise ValidationError({"escort_name": "Name the escort or the person driving home."})
        check_in.escort_confirmed, check_in.escort_name = True, name
        check_in.escort_phone = escort_phone or session.patient.escort_phone or ""
    if weight_kg not in (None, "") and check_in.weight_kg is None:
        check_in.weight_kg = _weight(weight_kg)
    check_in.full_clean(exclude=["session"])
    check_in._history_user = by
    check_in.save()
    for item_id in sorted(ticked):
        answer = answers[item_id]
        if not answer.done:
            _tick(answer, by=by, now=now)
            answer._history_user = by
            answer.save()
    logger.info("session %s: checklist completed by user %s", session.id, by.pk)
    return check_in


@transaction.atomic
def checklist_waive(
    *,
    session: Session,
    item: str,
    by: AbstractBaseUser,
    reason: str,
    now: dt.datetime | None = None,
) -> ChecklistWaiver:
    """A clinician lets dosing go ahead without one checklist item, with a reason."""
    now = now or timezone.now()
    session = _locked(session, by=by, roles=[R.CLINICIAN], doing="waive a checklist item")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Write why dosing may go ahead without this."})
    if session.status != S.CHECKED_IN:
        raise ValidationError(
            {"status": f"Waivers come before the dose; this session is {_label(session.status)}."}
        )
    line = next(
        (x for x in session_chart(session=session, now=now).checklist if x.item == item), None
    )
    if line is None:
        if item in ChecklistItem.values:
            raise ValidationError({"item": "This session's checklist does not ask for that item."})
        raise ValidationError({"item": f"Unknown checklist item {item!r}."})
    if line.waiver is not None:
        raise ValidationError({"item": f"{line.label} is already waived."})
    if line.done:
        raise ValidationError({"item": f"{line.label} is done: nothing to waive."})
    waiver = ChecklistWaiver.objects.create(
        session=session, item=item, waived_by=by, reason=reason.strip(), waived_at=now
    )
    logger.info("session %s: checklist item %s waived by user %s", session.id, item, by.pk)
    return waiver


# --- dose --------------------------------------------------------------------------------


# The codes of a dose refusal's last line, what unblocks it: a clinician's sign-off (asked
# of a nurse), or the clinician's reason for it (asked of a clinician who gave none).
NEEDS_CLINICIAN = "needs_clinician"
NEEDS_REASON = "needs_reason"


@transaction.atomic
def dose_record(
    *,
    session: Session,
    by: AbstractBaseUser,
    started_at: dt.datetime | None = None,
    mg_per_kg: Decimal | str | None = None,
    infusion_minutes: int | None = None,
    dose_mg: int | None = None,
    lot_number: str = "",
    administered_by: AbstractBaseUser | None = None,
    sign_off_reason: str = "",
    stock_lot: Lot | None = None,
    stock_location: StockLocation | None = None,
    stock_drawn: Decimal | str | None = None,
    witness: str = "",
    witness_password: str = "",
    now: dt.datetime | None = None,
) -> DoseAdministration:
    """Record the dose and start it: the session moves to in progress.

    At a clinic that keeps its controlled-substance record here (a storage location set
    up), the dose draws from `stock_lot` in the same transaction: IV `stock_drawn` mL (the
    dose's own when not given), the remainder wasted before a `witness` who gives their
    `witness_password`; esketamine its devices, the chart's lot number the lot's.

    Refused until the checklist is complete or waived. IV: `mg_per_kg` (always given:
    a dose is never guessed) x the weight recorded at check-in, over `infusion_minutes`.
    Intranasal: `dose_mg` in whole devices, one every device interval from `started_at`
    (the first device), with the lot number. Above the protocol's ceiling a dose is
    refused outright. An open alert of the session (a pre-dose caution included), a dose
    outside the protocol's range, or a first intranasal dose of the course that is not the
    protocol's first dose, needs a clinician's sign-off: a clinician records the dose and
    gives `sign_off_reason` (or first acknowledges the alert with a note).
    """
    now = now or timezone.now()
    started_at = started_at or now
    session = _locked(session, by=by, roles=CARE, doing="record a dose")
    administered_by = administered_by or by
    _require(by=administered_by, session=session, roles=CARE, doing="give a dose")
    if session.status != S.CHECKED_IN:
        raise ValidationError(
            {
                "status": "A dose is started after check-in; this session is "
                f"{_label(session.status)}."
            }
        )
    chart = session_chart(session=session, now=now)
    if chart.dose is not None:
        raise ValidationError({"session": "A dose is already recorded for this session."})
    missing = chart.checklist_missing
    if missing:
        raise ValidationError(
            {
                "checklist": [
                    f"{line.label}: not done. Complete it, or a clinician waives it with a reason."
                    for line in missing
                ]
            }
        )
    _not_future(started_at, now, "started_at", "The dose")
    if started_at < chart.check_in.checked_in_at:
        raise ValidationError({"started_at": "The dose cannot start before check-in."})
    protocol = session.course.protocol
    if stock_lot is None and clinic_keeps_stock(clinic_id=session.clinic_id):
        raise ValidationError(
            {"stock_lot": "This clinic keeps its controlled-substance record here: name the "
             "lot the dose is drawn from."}
        )  # fmt: skip
    if stock_lot is not None and protocol.route == Protocol.Route.INTRANASAL:
        lot_number = stock_lot.lot_number
    dose = DoseAdministration(
        session=session,
        route=protocol.route,
        drug=protocol.drug,
        started_at=started_at,
        administered_by=administered_by,
        recorded_by=by,
        recorded_at=now,
    )
    if protocol.route == Protocol.Route.IV:
        out_of_range = _iv_dose(dose, protocol, chart.check_in, mg_per_kg, infusion_minutes)
        device_times: list[dt.datetime] = []
    else:
        out_of_range, device_times = _intranasal_dose(dose, protocol, session, dose_mg, lot_number)
    _dose_ceiling_check(dose, protocol)
    needs_sign_off = {}
    if out_of_range:
        needs_sign_off["mg_per_kg" if protocol.route == Protocol.Route.IV else "dose_mg"] = (
            out_of_range
        )
    if chart.open_alerts:
        needs_sign_off["alerts"] = [
            f"{a.get_kind_display()}: {a.message} Not yet acknowledged." for a in chart.open_alerts
        ]
    if needs_sign_off:
        if not user_has_role(user=by, clinic=session.clinic, roles=[R.CLINICIAN]):
            ask = ValidationError(  # coded: the chart page says it its own way to each viewer
                "A clinician acknowledges the alert with a note, or records the dose with a "
                "signed-off reason."
                if "alerts" in needs_sign_off
                else "This needs a clinician's sign-off: a clinician records it.",
                code=NEEDS_CLINICIAN,
            )
            raise ValidationError({f: [*ms, ask] for f, ms in needs_sign_off.items()})
        if not sign_off_reason.strip():
            problems = [m for ms in needs_sign_off.values() for m in ms]
            why = ValidationError(
                "Write why this dose is right for the patient.", code=NEEDS_REASON
            )
            raise ValidationError({"sign_off_reason": [*problems, why]})
        dose.signed_off_by, dose.signed_off_at = by, now
        dose.sign_off_reason = sign_off_reason.strip()
    dose.save()
    DeviceAdministration.objects.bulk_create(
        DeviceAdministration(dose=dose, number=n, given_at=t)
        for n, t in enumerate(device_times, start=1)
    )
    if stock_lot is not None:
        stock_draw_for_dose(dose=dose, lot=stock_lot, location=stock_location, drawn=stock_drawn,
                            by=by, witness=witness, witness_password=witness_password,
                            now=now)  # fmt: skip
    session_transition(session=session, to=S.IN_PROGRESS, by=by, now=now)
    logger.info("session %s: dose %s recorded by user %s", session.id, dose.id, by.pk)
    return dose


def iv_total_mg(*, mg_per_kg: Decimal, weight_kg: Decimal) -> Decimal:
    """An IV dose in mg: mg/kg x the weight recorded at check-in, to 0.1 mg. The chart page
    shows this before the dose is recorded."""
    return (Decimal(mg_per_kg) * Decimal(weight_kg)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _iv_dose(dose, protocol, check_in, mg_per_kg, infusion_minutes) -> list[str]:
    """Fill in an IV dose from mg/kg and the check-in weight; return range problems."""
    if check_in.weight_kg is None:
        raise ValidationError(
            {"weight_kg": "An IV dose is by weight: the weight was not recorded at check-in."}
        )
    if mg_per_kg in (None, ""):
        raise ValidationError(
            {"mg_per_kg": "Give the IV dose in mg/kg (the protocol's usual dose is "
             f"{protocol.dose_mg_per_kg} mg/kg)."}
        )  # fmt: skip
    try:
        per_kg = Decimal(str(mg_per_kg))
    except InvalidOperation as exc:
        raise ValidationError({"mg_per_kg": "Give the dose in mg/kg."}) from exc
    if per_kg <= 0 or per_kg != per_kg.quantize(Decimal("0.01")) or per_kg >= 100:
        raise ValidationError({"mg_per_kg": "Give a dose above 0 in mg/kg, to 2 decimals."})
    minutes = infusion_minutes or protocol.infusion_minutes
    if not minutes or minutes < 1:
        raise ValidationError({"infusion_minutes": "Give the infusion time in minutes."})
    dose.mg_per_kg, dose.weight_kg, dose.infusion_minutes = per_kg, check_in.weight_kg, minutes
    dose.total_mg = iv_total_mg(mg_per_kg=per_kg, weight_kg=check_in.weight_kg)
    dose.ended_at = dose.started_at + dt.timedelta(minutes=minutes)
    lo, hi = protocol.dose_mg_per_kg_min, protocol.dose_mg_per_kg_max
    if (lo is not None and per_kg < lo) or (hi is not None and per_kg > hi):
        return [f"{per_kg} mg/kg is outside the protocol's range of {lo}-{hi} mg/kg."]
    return []


def _dose_ceiling_check(dose: DoseAdministration, protocol: Protocol) -> None:
    """Refuse a dose above the protocol's plausibility ceiling; no sign-off lifts it."""
    per_kg, mg = protocol.dose_ceilings()
    field = "mg_per_kg" if protocol.route == Protocol.Route.IV else "dose_mg"
    if per_kg is not None and dose.mg_per_kg is not None and dose.mg_per_kg > per_kg:
        raise ValidationError(
            {field: f"{dose.mg_per_kg} mg/kg is above the ceiling of {per_kg} mg/kg for this "
             "protocol: it cannot be recorded, even with a sign-off."}
        )  # fmt: skip
    if dose.total_mg > mg:
        raise ValidationError(
            {field: f"{dose.total_mg} mg is above the ceiling of {mg} mg a session for this "
             "protocol: it cannot be recorded, even with a sign-off."}
        )  # fmt: skip


def _intranasal_dose(dose, protocol, session, dose_mg, lot_number):
    device_mg = protocol.device_mg or 28
    if dose_mg in (None, ""):
        raise ValidationError({"dose_mg": "Give the dose in mg."})
    if isinstance(dose_mg, bool) or not isinstance(dose_mg, int) or dose_mg <= 0:
        raise ValidationError({"dose_mg": "Give the dose as a whole number of mg."})
    if dose_mg % device_mg:
        raise ValidationError(
            {"dose_mg": f"{dose_mg} mg is not a whole number of {device_mg} mg devices."}
        )
    if not (lot_number or "").strip():
        raise ValidationError({"lot_number": "Record the lot number of the devices."})
    devices = dose_mg // device_mg
    interval = dt.timedelta(minutes=protocol.device_interval_minutes or 5)
    times = [dose.started_at + n * interval for n in range(devices)]
    dose.devices, dose.device_mg, dose.total_mg = devices, device_mg, Decimal(dose_mg)
    dose.lot_number = lot_number.strip()
    dose.ended_at = times[-1]
    problems = []
    lo, hi = protocol.dose_mg_min, protocol.dose_mg_max
    first = _first_dose_mg(protocol, session)
    if first is not None and dose_mg != first:
        problems.append(
            f"The patient's first {protocol.drug} dose is {first} mg, not {dose_mg} mg."
        )
    elif first is None and ((lo is not None and dose_mg < lo) or (hi is not None and dose_mg > hi)):
        problems.append(f"{dose_mg} mg is outside the protocol's range of {lo}-{hi} mg.")
    return problems, times


def _first_dose_mg(protocol: Protocol, session: Session) -> int | None:
    """The dose the patient's first ever dose of this drug must be, if it is that dose and
    the protocol sets one: the protocol's first dose, or its first dose from 65."""
    if not protocol.first_dose_mg and not protocol.first_dose_mg_65_and_over:
        return None
    if DoseAdministration.objects.filter(
        session__patient_id=session.patient_id, drug=protocol.drug
    ).exists():
        return None
    patient = session.patient
    age = age_on(birth_date=patient.birth_date, day=session.clinic.local_today(session.starts_at))
    if age >= 65 and protocol.first_dose_mg_65_and_over:
        return protocol.first_dose_mg_65_and_over
    return protocol.first_dose_mg


# --- vitals ------------------------------------------------------------------------------

VITAL_LABELS = {
    "systolic": ("Systolic pressure", "mmHg"),
    "diastolic": ("Diastolic pressure", "mmHg"),
    "heart_rate": ("Heart rate", "/min"),
    "spo2": ("SpO2", "%"),
    "respiratory_rate": ("Respiratory rate", "/min"),
    "temperature_c": ("Temperature", "°C"),
}


def vitals_check(*, values: dict) -> None:
    """Refuse physiologically impossible values: input errors, named by field."""
    errors = {}
    for name, (lo, hi) in VITAL_BOUNDS.items():
        value = values.get(name)
        if value is None:
            if name in ("respiratory_rate", "temperature_c"):
                continue
            errors[name] = f"{VITAL_LABELS[name][0]} is required."
            continue
        label, unit = VITAL_LABELS[name]
        whole = name != "temperature_c"
        if isinstance(value, bool) or (whole and not isinstance(value, int)):
            errors[name] = f"{label} must be a whole number."
        elif not lo <= value <= hi:
            errors[name] = (
                f"{label} {value} {unit} is not possible (expected {lo}-{hi}): check the entry."
            )
    s, d = values.get("systolic"), values.get("diastolic")
    if "systolic" not in errors and "diastolic" not in errors and d >= s:
        errors["diastolic"] = f"Diastolic {d} must be below systolic {s}: check the entry."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def vitals_record(
    *,
    session: Session,
    by: AbstractBaseUser,
    timepoint: str,
    systolic: int,
    diastolic: int,
    heart_rate: int,
    spo2: int,
    respiratory_rate: int | None = None,
    temperature_c: Decimal | str | None = None,
    measured_at: dt.datetime | None = None,
    amends: VitalSigns | None = None,
    amendment_reason: str = "",
    now: dt.datetime | None = None,
    refuse_as: str = "",
) -> VitalSigns:
    """Record a set of vitals; values past the clinic's thresholds raise an alert.

    A correction passes `amends` (the reading it corrects, which is kept) and a reason.
    `refuse_as`: see `_locked` (the API passes "session").

    The values are checked first, then the session is locked (`_locked`, which proves
    the writer may chart it), its status and any correction checked, and the reading
    written with its alert, if `vitals_findings` (the one reading of the thresholds)
    finds one."""
    if by is None or not by.is_authenticated:
        raise _refuse(CARE, "record vitals")
    now = now or timezone.now()
    measured_at = measured_at or now
    if timepoint not in VitalSigns.Timepoint.values:
        raise ValidationError({"timepoint": f"Unknown timepoint {timepoint!r}."})
    _not_future(measured_at, now, "measured_at", "A measurement")
    if temperature_c not in (None, ""):
        try:
            temperature_c = Decimal(str(temperature_c)).quantize(Decimal("0.1"), ROUND_HALF_UP)
        except InvalidOperation as exc:
            raise ValidationError({"temperature_c": "Give the temperature in °C."}) from exc
    else:
        temperature_c = None
    values = dict(
        systolic=systolic,
        diastolic=diastolic,
        heart_rate=heart_rate,
        spo2=spo2,
        respiratory_rate=respiratory_rate,
        temperature_c=temperature_c,
    )
    vitals_check(values=values)
    session = _locked(session, by=by, roles=CARE, doing="record vitals", refuse_as=refuse_as)
    allowed = CHARTING + ((S.DISCHARGED,) if amends is not None else ())
    if session.status not in allowed:
        raise ValidationError(
            {"status": f"Vitals are not recorded for a {_label(session.status)} session."}
        )
    if amends is not None:
        _amendable(amends, session, VitalSigns, amendment_reason)
    vitals = VitalSigns.objects.create(
        session=session,
        timepoint=timepoint,
        measured_at=measured_at,
        recorded_by=by,
        recorded_at=now,
        amends=amends,
        amendment_reason=amendment_reason.strip() if amends else "",
        **values,
    )
    # Nothing corrects a reading just written: say so, or showing it asks the database.
    VitalSigns._meta.get_field("amended_by").set_cached_value(vitals, None)
    findings = vitals_findings(clinic=session.clinic, vitals=vitals)
    if findings.kind:
        alert = Alert.objects.create(
            clinic=session.clinic,
            patient_id=session.patient_id,
            session=session,
            kind=findings.kind,
            vitals=vitals,
            message=findings.message,
            raised_at=vitals.recorded_at,
        )
        logger.warning("alert %s: %s at session %s", alert.id, findings.kind, session.id)
    return vitals


def _amendable(original, session: Session, model, reason: str) -> None:
    if original.session_id != session.id:
        raise ValidationError({"amends": "The record corrected belongs to another session."})
    if model.objects.filter(amends=original).exists():
        raise ValidationError(
            {"amends": "That record is already corrected: amend the latest correction."}
        )
    if not (reason or "").strip():
        raise ValidationError({"amendment_reason": "Say why the record is corrected."})


# --- side effects ------------------------------------------------------------------------


@transaction.atomic
def side_effect_record(
    *,
    session: Session,
    by: AbstractBaseUser,
    kind: str,
    severity: str,
    onset_at: dt.datetime | None = None,
    resolved_at: dt.datetime | None = None,
    serious: bool = False,
    cadss: int | None = None,
    moaa_s: int | None = None,
    notes: str = "",
    amends: SideEffect | None = None,
    amendment_reason: str = "",
    now: dt.datetime | None = None,
) -> SideEffect:
    """Record a side effect (or amend one, e.g. when it resolves); serious ones raise an
    alert. CADSS is a total of 0-92, MOAA/S a score of 0-5 (0 = unresponsive)."""
    now = now or timezone.now()
    onset_at = onset_at or now
    session = _locked(session, by=by, roles=CARE, doing="record a side effect")
    allowed = CHARTING + ((S.DISCHARGED,) if amends is not None else ())
    if session.status not in allowed:
        raise ValidationError(
            {"status": f"Side effects are not recorded for a {_label(session.status)} session."}
        )
    errors = {}
    if kind not in SideEffect.Kind.values:
        errors["kind"] = f"Unknown side effect {kind!r}."
    if severity not in SideEffect.Severity.values:
        errors["severity"] = "Severity is mild, moderate or severe."
    if cadss is not None and not 0 <= cadss <= SideEffect.CADSS_MAX:
        errors["cadss"] = f"A CADSS total is 0-{SideEffect.CADSS_MAX}, not {cadss}."
    if moaa_s is not None and not 0 <= moaa_s <= SideEffect.MOAAS_MAX:
        errors["moaa_s"] = f"MOAA/S is scored 0-{SideEffect.MOAAS_MAX}, not {moaa_s}."
    if kind == SideEffect.Kind.OTHER and not notes.strip():
        errors["notes"] = "Describe the side effect."
    if errors:
        raise ValidationError(errors)
    _not_future(onset_at, now, "onset_at", "The onset")
    if resolved_at is not None:
        _not_future(resolved_at, now, "resolved_at", "The resolution")
        if resolved_at < onset_at:
            raise ValidationError({"resolved_at": "A side effect cannot resolve before its onset."})
    if amends is not None:
        _amendable(amends, session, SideEffect, amendment_reason)
    effect = SideEffect.objects.create(
        session=session,
        kind=kind,
        severity=severity,
        onset_at=onset_at,
        resolved_at=resolved_at,
        serious=serious,
        cadss=cadss,
        moaa_s=moaa_s,
        notes=notes.strip(),
        recorded_by=by,
        recorded_at=now,
        amends=amends,
        amendment_reason=amendment_reason.strip() if amends else "",
    )
    already_alerted = amends is not None and amends.serious
    if serious and not already_alerted:
        alert = Alert.objects.create(
            clinic=session.clinic,
            patient=session.patient,
            session=session,
            kind=Alert.Kind.SERIOUS_SIDE_EFFECT,
            side_effect=effect,
            message=f"Serious side effect: {effect.get_kind_display()} ({severity}).",
            raised_at=now,
        )
        logger.warning("alert %s: serious side effect at session %s", alert.id, session.id)
    return effect


def side_effect_resolve(
    *,
    side_effect: SideEffect,
    by: AbstractBaseUser,
    resolved_at: dt.datetime | None = None,
    cadss: int | None = None,
    moaa_s: int | None = None,
    now: dt.datetime | None = None,
) -> SideEffect:
    """Mark a side effect resolved: an amendment that copies it with the resolution time
    and, when given, the CADSS and MOAA/S scores found then."""
    now = now or timezone.now()
    e = side_effect
    return side_effect_record(
        session=e.session,
        by=by,
        kind=e.kind,
        severity=e.severity,
        onset_at=e.onset_at,
        resolved_at=resolved_at or now,
        serious=e.serious,
        cadss=e.cadss if cadss is None else cadss,
        moaa_s=e.moaa_s if moaa_s is None else moaa_s,
        notes=e.notes,
        amends=e,
        amendment_reason="Resolved.",
        now=now,
    )


# --- alerts ------------------------------------------------------------------------------


@transaction.atomic
def alert_acknowledge(
    *, alert: Alert, by: AbstractBaseUser, note: str, now: dt.datetime | None = None
) -> Alert:
    """A clinician of the alert's clinic has seen it and says what was done."""
    now = now or timezone.now()
    alert = Alert.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=alert.pk)
    if by is None or not user_has_role(user=by, clinic=alert.clinic, roles=[R.CLINICIAN]):
        raise PermissionDenied("Only a clinician of the clinic can acknowledge an alert.")
    if not alert.is_open:
        raise ValidationError({"alert": "This alert is already acknowledged."})
    if not (note or "").strip():
        raise ValidationError({"acknowledgement_note": "Say what was decided or done."})
    alert.acknowledged_by, alert.acknowledged_at = by, now
    alert.acknowledgement_note = note.strip()
    alert.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledgement_note"])
    if alert.session_id:
        Session.objects.filter(pk=alert.session_id).mark_changed()
    logger.info("alert %s acknowledged by user %s", alert.id, by.pk)
    return alert


# --- discharge ---------------------------------------------------------------------------


@transaction.atomic
def ready_to_leave_record(
    *,
    session: Session,
    by: AbstractBaseUser,
    ready_at: dt.datetime | None = None,
    note: str = "",
    reason: str = "",
    now: dt.datetime | None = None,
) -> ReadyToLeave:
    """A clinician records when the patient was ready to leave. A second record before
    discharge corrects the first and needs a `reason`; the history keeps the original."""
    now = now or timezone.now()
    ready_at = ready_at or now
    session = _locked(session, by=by, roles=[R.CLINICIAN], doing="judge a patient ready to leave")
    if session.status != S.MONITORING:
        raise ValidationError(
            {"status": f"A patient is judged ready to leave during monitoring; this session "
             f"is {_label(session.status)}."}
        )  # fmt: skip
    _not_future(ready_at, now, "ready_at", "The time ready to leave")
    chart = session_chart(session=session, now=now)
    if ready_at < chart.monitoring_from:
        start = chart.monitoring_from.astimezone(session.clinic.tz)
        raise ValidationError(
            {"ready_at": f"The patient cannot be ready before monitoring began ({start:%H:%M})."}
        )
    earlier = chart.ready_to_leave
    if earlier is not None and not reason.strip():
        raise ValidationError({"reason": "A time is already recorded: say why it is corrected."})
    record = earlier or ReadyToLeave(session=session)
    record.ready_at, record.judged_by, record.recorded_at = ready_at, by, now
    record.note = note.strip()
    record._change_reason = reason.strip()  # django-simple-history's change reason
    record.save()
    logger.info("session %s: ready to leave, judged by user %s", session.id, by.pk)
    return record


@transaction.atomic
def session_discharge(
    *,
    session: Session,
    by: AbstractBaseUser,
    escort_name: str = "",
    escort_phone: str = "",
    notes: str = "",
    now: dt.datetime | None = None,
) -> Discharge:
    """Let the patient go, once every criterion is met; refused with each one that is not.

    Criteria: the protocol's minimum observation from the first device (esketamine) or
    the end of the infusion (IV); the last vitals after the dose within the clinic's
    thresholds or signed off (their alert acknowledged); no open alert; an escort.
    """
    now = now or timezone.now()
    session = _locked(session, by=by, roles=CARE, doing="discharge a patient")
    chart = session_chart(session=session, now=now)
    problems = chart.discharge_problems(escort_name=escort_name)
    if problems:
        raise ValidationError(problems)
    if not escort_name.strip():
        escort_name, escort_phone = chart.check_in.escort_name, chart.check_in.escort_phone
    start = chart.monitoring_from
    discharge = Discharge.objects.create(
        session=session,
        discharged_by=by,
        discharged_at=now,
        monitoring_from=start,
        monitoring_minutes=int((now - start) // dt.timedelta(minutes=1)),
        escort_name=escort_name.strip(),
        escort_phone=escort_phone or "",
        notes=notes.strip(),
    )
    session_transition(session=session, to=S.DISCHARGED, by=by, now=now)
    logger.info("session %s discharged by user %s", session.id, by.pk)
    return discharge


# --- the REMS form -----------------------------------------------------------------------


@transaction.atomic
def rems_report_record(
    *,
    session: Session,
    by: AbstractBaseUser,
    benzodiazepines: bool,
    non_benzo_sedatives: bool,
    psychostimulants: bool,
    maois: bool,
    monitoring_clinician: AbstractBaseUser | None = None,
    setting: str = "",
    now: dt.datetime | None = None,
) -> RemsReport:
    """Record the REMS answers the chart does not hold. Editable until the form is filed."""
    now = now or timezone.now()
    session = _locked(session, by=by, roles=CARE, doing="fill in the REMS form")
    if not session.course.protocol.rems_at(session.clinic):
        raise ValidationError({"session": REMS_ONLY})
    answers = dict(
        benzodiazepines=benzodiazepines,
        non_benzo_sedatives=non_benzo_sedatives,
        psychostimulants=psychostimulants,
        maois=maois,
    )
    wrong = {k: "Answer yes or no." for k, v in answers.items() if not isinstance(v, bool)}
    if wrong:
        raise ValidationError(wrong)
    if monitoring_clinician is not None and not user_has_role(
        user=monitoring_clinician, clinic=session.clinic, roles=CARE
    ):
        raise ValidationError(
            {"monitoring_clinician": "The monitoring clinician works at the session's clinic."}
        )
    report = RemsReport.objects.select_for_update().filter(session=session).first()
    if report is not None and report.filed_at is not None:
        raise ValidationError({"session": "The REMS form is filed: it can no longer change."})
    if report is None:
        report = RemsReport(session=session)
    for name, value in answers.items():
        setattr(report, name, value)
    report.monitoring_clinician = monitoring_clinician
    report.setting = (
        setting.strip() or report.setting or RemsReport._meta.get_field("setting").get_default()
    )
    report.recorded_by, report.recorded_at = by, now
    report.save()
    return report


@transaction.atomic
def rems_form_mark_filed(
    *, session: Session, by: AbstractBaseUser, reference: str = "", now: dt.datetime | None = None
) -> RemsReport:
    """Mark the session's REMS form as filed; refused while a field of it is missing."""
    now = now or timezone.now()
    session = _locked(session, by=by, roles=CARE, doing="file the REMS form")
    form = rems_form_for_session(session=session, now=now)
    if form.missing:
        raise ValidationError({"missing": [f"Missing: {m}." for m in form.missing]})
    report = RemsReport.objects.select_for_update().get(session=session)
    if report.filed_at is not None:
        raise ValidationError({"session": "The REMS form is already filed."})
    report.filed_at, report.filed_by, report.filed_reference = now, by, reference.strip()
    report.save(update_fields=["filed_at", "filed_by", "filed_reference"])

    staff_notice_resolve(
        notices=StaffNotice.objects.filter(
            session=session, kind=StaffNotice.Kind.REMS_FORM_DUE, resolved_at__isnull=True
        ),
        by=by,
        now=now,
    )
    logger.info("session %s: REMS form filed by user %s", session.id, by.pk)
    return report


# Dosing and discharge have safety rules (the checklist; observation, vitals, alerts,
# escort) that live here. Those write their record first, so asking for the record before
# the status changes means no caller can reach these statuses around the rules.
_RECORD_NEEDED = {
    S.IN_PROGRESS: (DoseAdministration, "Record the dose first (the checklist must be done)."),
    S.MONITORING: (DoseAdministration, "Record the dose first."),
    S.DISCHARGED: (Discharge, "Discharge through the discharge form, which checks the criteria."),
}


def _session_status_changing(sender, *, session, to, **kwargs) -> None:
    """Receiver of booking's session_status_changing (scheduling.apps)."""
    needed = _RECORD_NEEDED.get(to)
    if needed and not needed[0].objects.filter(session=session).exists():
        raise ValidationError({"status": needed[1]})


def rems_form_notices_raise_due(*, now: dt.datetime | None = None) -> int:
    """The periodic check: a notice for each discharged esketamine session whose REMS
    monitoring form is due, once per session however often this runs."""
    now = now or timezone.now()
    due = []
    for session in sessions_rems_form_due(now=now):
        local = session.starts_at.astimezone(session.clinic.tz)
        due_on = local.date() + dt.timedelta(days=7)
        due.append(dict(
            clinic_id=session.clinic_id,
            kind=StaffNotice.Kind.REMS_FORM_DUE,
            dedupe_key=f"rems_form_due:{session.pk}",
            message=f"The REMS monitoring form for session {session.number} of course "
            f"{session.course_id} ({local:%a %d %b %Y}) is due by {due_on:%a %d %b %Y}.",
            session_id=session.pk,
            course_id=session.course_id,
            due_on=due_on,
        ))  # fmt: skip
    return staff_notices_raise(due, now=now)
