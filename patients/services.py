"""Writes for patients: recording a screening and signing off a relative finding.

The admin and any other way in call these; they are the one place the rules live.
"""

import datetime as dt
import logging
from collections.abc import Iterable, Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.models import StaffMembership
from clinic.selectors import staff_has_role

from .models import (
    Contraindication,
    Patient,
    QuestionnaireResponse,
    Screening,
    ScreeningAnswer,
    ScreeningSignOff,
)
from .signals import REMINDER_SETTINGS, reminder_settings_changed

logger = logging.getLogger(__name__)

# {contraindication id: present} or [(contraindication id, present, note), ...]
Answers = Mapping[int, bool] | Iterable[tuple[int, bool, str]]


def _normalise_answers(answers: Answers) -> tuple[dict[int, tuple[bool, str]], list[str]]:
    if isinstance(answers, Mapping):
        rows = [(key, present, "") for key, present in answers.items()]
    else:
        rows = list(answers)
    given: dict[int, tuple[bool, str]] = {}
    errors: list[str] = []
    for row in rows:
        if not (isinstance(row, tuple | list) and len(row) == 3):
            errors.append("Each answer is (checklist item id, present, note).")
            continue
        item_id, present, note = row
        if isinstance(item_id, bool) or not isinstance(item_id, int):
            errors.append(f"{item_id!r} is not a checklist item id.")
        elif not isinstance(present, bool):
            errors.append(f"Item {item_id}: answer yes or no (got {present!r}).")
        elif not isinstance(note, str):
            errors.append(f"Item {item_id}: the note must be text.")
        elif item_id in given:
            errors.append(f"Item {item_id} is answered twice.")
        else:
            given[item_id] = (present, note.strip())
    return given, errors


@transaction.atomic
def screening_record(
    *,
    patient: Patient,
    answers: Answers,
    by: AbstractBaseUser | None,
    notes: str = "",
    now: dt.datetime | None = None,
) -> Screening:
    """Record a screening: an answer to every active checklist item, or nothing at all.

    Raises ValidationError on the `answers` field when an active item is not answered, an
    id is unknown or retired, or an answer is malformed; PermissionDenied when `by` does
    not work at the patient's clinic (None: recorded by the system, e.g. an import).
    """
    now = now or timezone.now()
    staff_or_system = (
        by is None or by.is_superuser or staff_has_role(user=by, clinic_id=patient.clinic_id)
    )
    if not staff_or_system:
        raise PermissionDenied("Only staff of the patient's clinic can record a screening.")
    given, errors = _normalise_answers(answers)
    items = {c.id: c for c in Contraindication.objects.filter(id__in=given)}
    unknown = sorted(set(given) - set(items))
    if unknown:
        errors.append(f"Unknown checklist items: {', '.join(map(str, unknown))}.")
    retired = sorted(i for i, c in items.items() if not c.is_active)
    if retired:
        names = "; ".join(items[i].name for i in retired)
        errors.append(f"No longer on the checklist (retired): {names}.")
    missing = Contraindication.objects.filter(is_active=True).exclude(id__in=given)
    missing_names = list(missing.values_list("name", flat=True))
    if missing_names:
        errors.append(f"Not answered: {'; '.join(missing_names)}.")
    if errors:
        raise ValidationError({"answers": errors})

    screening = Screening(patient=patient, screened_at=now, screened_by=by, notes=notes.strip())
    screening.full_clean()
    screening.save()
    ScreeningAnswer.objects.bulk_create(
        ScreeningAnswer(
            screening=screening, contraindication_id=item_id, present=present, note=note
        )
        for item_id, (present, note) in given.items()
    )
    logger.info(
        "screening %s recorded for patient %s: %s findings",
        screening.id,
        patient.id,
        sum(present for present, _ in given.values()),
    )
    return screening


def screening_sign_off_check(
    *, answer: ScreeningAnswer, clinician: AbstractBaseUser, reason: str
) -> None:
    """Raise what screening_sign_off would refuse, writing nothing (for forms)."""
    item = answer.contraindication
    clinic_id = answer.screening.patient.clinic_id
    if not staff_has_role(
        user=clinician, clinic_id=clinic_id, roles=[StaffMembership.Role.CLINICIAN]
    ):
        raise PermissionDenied(
            "Only a clinician of the patient's clinic can sign off a contraindication."
        )
    if not answer.present:
        raise ValidationError({"answer": f"{item.name} was answered no: nothing to sign off."})
    if item.kind == Contraindication.Kind.ABSOLUTE:
        raise ValidationError(
            {
                "answer": (
                    f"{item.name} is an absolute contraindication: it blocks treatment and "
                    "cannot be signed off."
                )
            }
        )
    if ScreeningSignOff.objects.filter(answer=answer).exists():
        raise ValidationError({"answer": f"{item.name} is already signed off."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Write why treatment may go ahead despite this finding."})


@transaction.atomic
def screening_sign_off(
    *,
    answer: ScreeningAnswer,
    clinician: AbstractBaseUser,
    reason: str,
    now: dt.datetime | None = None,
) -> ScreeningSignOff:
    """A clinician of the patient's clinic accepts a present relative finding, with a reason.

    Absolute findings cannot be signed off. Raises PermissionDenied for anyone who is not a
    clinician at the patient's clinic, ValidationError naming the field otherwise.
    """
    now = now or timezone.now()
    # Lock the answer so two clinicians signing at once get a clear error, not a crash.
    answer = (
        ScreeningAnswer.objects.select_for_update(of=("self",))
        .select_related("contraindication", "screening__patient")
        .get(pk=answer.pk)
    )
    screening_sign_off_check(answer=answer, clinician=clinician, reason=reason)
    sign_off = ScreeningSignOff(
        answer=answer, clinician=clinician, reason=reason.strip(), signed_at=now
    )
    sign_off.full_clean()
    sign_off.save()
    logger.info("answer %s signed off by user %s", answer.id, clinician.pk)
    return sign_off


PATIENT_EDITABLE = (
    "mrn", "first_name", "last_name", "birth_date", "sex", "email", "phone", "timezone",
    "weight_kg", "escort_name", "escort_phone", "rems_patient_id", "rems_enrolled_on",
    "remind_by_email", "remind_by_sms", "reminders_opt_out", "quiet_hours_start",
    "quiet_hours_end",
)  # fmt: skip


@transaction.atomic
def patient_register(*, clinic, by: AbstractBaseUser | None, **fields) -> Patient:
    """Register a patient at a clinic; every field validated, nothing written on error."""
    unknown = set(fields) - set(PATIENT_EDITABLE)
    if unknown:
        raise ValidationError({f: "This field cannot be set here." for f in sorted(unknown)})
    patient = Patient(clinic=clinic, **fields)
    patient.full_clean()
    patient._history_user = by
    patient.save()
    logger.info("patient %s registered at clinic %s", patient.id, clinic.id)
    return patient


@transaction.atomic
def patient_update(*, patient: Patient, by: AbstractBaseUser | None, **fields) -> Patient:
    """Change a patient's details; the history keeps what was there before."""
    unknown = set(fields) - set(PATIENT_EDITABLE)
    if unknown:
        raise ValidationError({f: "This field cannot be changed here." for f in sorted(unknown)})
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    changed = [name for name, value in fields.items() if getattr(patient, name) != value]
    for name, value in fields.items():
        setattr(patient, name, value)
    patient.full_clean()
    patient._history_user = by
    patient.save()
    reminder_settings_touched(patient=patient, changed=changed)
    return patient


def reminder_settings_touched(*, patient: Patient, changed: Iterable[str]) -> None:
    """Tell the apps that plan reminders (in this transaction) that the patient's time
    zone or reminder settings changed, so planned times follow."""
    touched = sorted(set(changed) & set(REMINDER_SETTINGS))
    if touched:
        reminder_settings_changed.send(sender=Patient, patient=patient, changed=touched)


REMINDER_SETTINGS_OWN = tuple(f for f in REMINDER_SETTINGS if f != "timezone")


def patient_reminder_settings_set(
    *, patient: Patient, by: AbstractBaseUser | None, **fields
) -> Patient:
    """The patient's own choices (the portal): channels, opting out, quiet hours."""
    unknown = set(fields) - set(REMINDER_SETTINGS_OWN)
    if unknown:
        raise ValidationError({f: "This field cannot be changed here." for f in sorted(unknown)})
    return patient_update(patient=patient, by=by, **fields)


def patient_calendar_token_reset(*, patient: Patient) -> str:
    """Give the patient a new calendar feed secret; the old feed URL stops working."""
    import secrets

    token = secrets.token_urlsafe(32)
    Patient.objects.filter(pk=patient.pk).update(calendar_token=token)
    patient.calendar_token = token
    return token


def record_access_log(*, user, patient_ids, action: str, now: dt.datetime | None = None) -> None:
    """Log a read of one or more patients' records: one insert, whatever the count."""
    from .models import RecordAccess

    if not getattr(user, "is_authenticated", False):
        return
    now = now or timezone.now()
    RecordAccess.objects.bulk_create(
        RecordAccess(user=user, patient_id=pid, accessed_at=now, action=action)
        for pid in dict.fromkeys(patient_ids)
    )


def questionnaire_items_check(*, kind: str, items) -> list[int]:
    """The item scores, validated: exactly 9 (PHQ-9) or 7 (GAD-7), each a whole 0-3.

    Raises ValidationError naming each bad item as `items[i]` (0-based, as stored).
    """
    Q = QuestionnaireResponse
    if kind not in Q.Kind.values:
        raise ValidationError({"kind": f"Unknown questionnaire {kind!r}: PHQ-9 or GAD-7."})
    expected = Q.ITEMS[kind]
    label = Q.Kind(kind).label
    if not isinstance(items, list | tuple):
        raise ValidationError({"items": f"A {label} is a list of {expected} item scores."})
    if len(items) != expected:
        raise ValidationError(
            {"items": f"A {label} has exactly {expected} items; {len(items)} were given."}
        )
    errors = {}
    for i, score in enumerate(items):
        if isinstance(score, bool) or not isinstance(score, int):
            errors[f"items[{i}]"] = f"Item {i + 1} must be a whole number 0-{Q.ITEM_MAX}."
        elif not 0 <= score <= Q.ITEM_MAX:
            errors[f"items[{i}]"] = f"Item {i + 1} is scored 0-{Q.ITEM_MAX}, not {score}."
    if errors:
        raise ValidationError(errors)
    return list(items)


@transaction.atomic
def questionnaire_record(
    *,
    patient: Patient,
    kind: str,
    items,
    by: AbstractBaseUser | None,
    completed_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> QuestionnaireResponse:
    """Store a PHQ-9 or GAD-7 with its total and band.

    Raises no alert by itself: staff and the chart record questionnaires through
    scheduling.chart.services.questionnaire_submit, which adds the PHQ-9 item 9 alert (alerts
    belong to scheduling, which patients may not import).
    """
    now = now or timezone.now()
    completed_at = completed_at or now
    scores = questionnaire_items_check(kind=kind, items=items)
    if completed_at > now + dt.timedelta(minutes=1):
        raise ValidationError(
            {"completed_at": "A questionnaire cannot be completed in the future."}
        )
    total = sum(scores)
    response = QuestionnaireResponse.objects.create(
        patient=patient,
        kind=kind,
        items=scores,
        total=total,
        band=QuestionnaireResponse.band_for(kind, total),
        completed_at=completed_at,
        recorded_by=by,
        recorded_at=now,
    )
    logger.info("%s %s recorded for patient %s", kind, response.id, patient.id)
    return response
