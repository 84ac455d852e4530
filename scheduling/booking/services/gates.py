"""The gates every booking passes: at a course's start, each booking, an undo, and each
stretch of maintenance written out (so the session services and the course services
both ask it, and neither imports the other for it)."""

import datetime as dt

from django.core.exceptions import ValidationError

from patients.models import Patient
from patients.selectors import screening_gate

from ..models import Protocol


def course_gate_check(
    *, patient: Patient, protocol: Protocol, now: dt.datetime
) -> dt.datetime | None:
    """The screening gate: refuse to book unless the patient is old enough for the clinic,
    the latest screening is current and clear for this protocol (or each relative finding
    is signed off by a clinician), and, for esketamine, the REMS enrolment is recorded.
    Returns when the screening stops being current: no session may start after it.

    A protocol linked to no checklist items is screened against all of them: a new
    protocol must not start out with no contraindications at all."""
    applies = set(protocol.contraindications.values_list("id", flat=True))
    result = screening_gate(
        patient=patient,
        contraindication_ids=applies or None,
        requires_rems=protocol.rems_at(patient.clinic),
        now=now,
    )
    if not result.allowed:
        raise ValidationError({"screening": result.problems})
    return result.valid_until
