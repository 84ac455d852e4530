"""Reads for patients: the latest screening, and whether it lets a course be booked."""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from .models import Contraindication, Patient, Screening, ScreeningAnswer, ScreeningSignOff


@dataclass(frozen=True)
class GateResult:
    """The screening gate's answer: allowed, or the reasons why not, for staff to read."""

    allowed: bool
    problems: list[str] = field(default_factory=list)
    valid_until: dt.datetime | None = None  # when the latest screening stops being current


def age_on(*, birth_date: dt.date, day: dt.date) -> int:
    """Whole years from the birth date to `day` (born on 29 February: 1 March in other
    years)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def screening_latest(*, patient: Patient) -> Screening | None:
    """The patient's screening with the greatest screened_at (ties: the last recorded)."""
    return (
        Screening.objects.filter(patient=patient)
        .select_related("patient__clinic")
        .order_by("-screened_at", "-id")
        .first()
    )


def screenings_with_answers() -> QuerySet[Screening]:
    """Screenings, latest first, each with its answers in checklist order, their items and
    sign-offs (two queries however many)."""
    answers = ScreeningAnswer.objects.select_related("contraindication", "sign_off__clinician")
    return (
        Screening.objects.select_related("screened_by")
        .prefetch_related(Prefetch("answers", queryset=answers))
        .order_by("-screened_at", "-id")
    )


def _items_that_apply(contraindication_ids: set[int] | None) -> QuerySet[Contraindication]:
    items = Contraindication.objects.filter(is_active=True)
    if contraindication_ids is not None:
        items = items.filter(id__in=contraindication_ids)
    return items


def screening_gate(
    *,
    patient: Patient,
    contraindication_ids: set[int] | None,
    requires_rems: bool,
    now: dt.datetime,
) -> GateResult:
    """May a course be booked for this patient today, as far as screening goes?

    `contraindication_ids` are the checklist items that apply to the protocol (None: all).
    Only active items count: a retired item no longer blocks. Every problem is listed,
    not just the first, so staff can fix them in one go. At most three queries.
    """
    problems: list[str] = []
    latest = screening_latest(patient=patient)
    clinic = latest.patient.clinic if latest else patient.clinic  # the screening's join
    age = age_on(birth_date=patient.birth_date, day=clinic.local_today(now))
    if age < clinic.minimum_age_years:
        problems.append(
            f"The patient is {age}; this clinic treats patients from "
            f"{clinic.minimum_age_years} (a contraindication under that age)."
        )
    valid_until = None
    if latest is None:
        problems.append(
            "The patient has not been screened for contraindications; record a screening first."
        )
    else:
        expires_at = valid_until = latest.screened_at + dt.timedelta(
            days=clinic.screening_valid_days
        )
        if now >= expires_at:
            screened_on = latest.screened_at.astimezone(clinic.tz).date()
            expired_on = expires_at.astimezone(clinic.tz).date()
            problems.append(
                f"The latest screening ({screened_on.isoformat()}) expired on "
                f"{expired_on.isoformat()}; screen the patient again."
            )
        if contraindication_ids is None or contraindication_ids:
            problems += _finding_problems(screening=latest, ids=contraindication_ids)
    if requires_rems and not patient.is_rems_enrolled:
        problems.append(
            "This protocol needs REMS enrolment and the patient is not enrolled; record the "
            "REMS patient ID and enrolment date."
        )
    return GateResult(allowed=not problems, problems=problems, valid_until=valid_until)


def _finding_problems(*, screening: Screening, ids: set[int] | None) -> list[str]:
    """Present findings that block, and items the screening never asked (two queries)."""
    items = _items_that_apply(ids)
    findings = (
        ScreeningAnswer.objects.filter(
            screening=screening, present=True, contraindication__in=items
        )
        .select_related("contraindication")
        .annotate(signed_off=Exists(ScreeningSignOff.objects.filter(answer=OuterRef("pk"))))
        .order_by("contraindication__order", "contraindication__name")
    )
    problems = []
    for answer in findings:
        item = answer.contraindication
        if item.is_absolute:
            problems.append(f"{item.name}: an absolute contraindication; this course is refused.")
        elif not answer.signed_off:
            problems.append(
                f"{item.name}: a relative contraindication that needs a clinician's sign-off."
            )
    # An item added to the checklist after this screening was never asked.
    unasked = items.exclude(answers__screening=screening).values_list("name", flat=True)
    problems += [
        f"{name}: not asked in the latest screening (added since); screen the patient again."
        for name in unasked
    ]
    return problems
