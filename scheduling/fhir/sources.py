"""Where each FHIR resource comes from, and who may read it (the API's role table).

A resource type has one source, or several (an Observation is a set of vitals, a weight
at check-in, or a questionnaire total). A source's resources have ids `<pk>`, or
`<prefix>-<pk>` and `<prefix>-<pk>-<part>` when a type has several sources.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet

from clinic.api.base import CLINICAL, PATIENT, STAFF
from patients.models import Patient, QuestionnaireResponse

from ..booking.models import Course, Session
from ..chart.models import CheckIn, DoseAdministration, SideEffect, VitalSigns
from . import mappers


@dataclass(frozen=True)
class Source:
    type: str  # the FHIR resource type
    roles: tuple[str, ...]  # as the API's endpoint for these records
    queryset: Callable[[], QuerySet]  # with what the mapper needs joined
    to_fhir: Callable[[object], list]  # record -> its resources
    patient_field: str  # path to the patient id (scoping and `patient=`)
    clinic_field: str  # path to the clinic id
    date_field: str | None = None  # what the type's date parameter searches
    prefix: str = ""  # of the ids, when a type has several sources

    def patient_id(self, record) -> int:
        value = record
        for part in self.patient_field.split("__"):
            value = getattr(value, part)
        return value


def _one(mapper):
    return lambda record: [mapper(record)]


CHART = CLINICAL  # reads the chart: vitals, doses, side effects
OWN = (PATIENT,)  # a patient's own login, where the API lets them read these records

SOURCES = [
    Source(
        "Patient", (*STAFF, *OWN), lambda: Patient.objects.select_related("clinic"),
        _one(mappers.patient_resource), "id", "clinic_id",
    ),
    Source(
        "Appointment", (*STAFF, *OWN), lambda: Session.objects.all(),
        _one(mappers.appointment_resource), "patient_id", "clinic_id", "starts_at",
    ),
    Source(
        "Encounter", CHART,
        lambda: Session.objects.filter(check_in__isnull=False).select_related(
            "check_in", "discharge"
        ),
        _one(mappers.encounter_resource), "patient_id", "clinic_id", "check_in__checked_in_at",
    ),
    Source(
        "Observation", CHART,
        # A corrected reading is replaced by its correction.
        lambda: VitalSigns.objects.filter(amended_by__isnull=True).select_related("session"),
        mappers.vital_signs_observations, "session__patient_id", "session__clinic_id",
        "measured_at", "vitals",
    ),
    Source(
        "Observation", CHART,
        lambda: CheckIn.objects.filter(weight_kg__isnull=False).select_related("session"),
        _one(mappers.body_weight_observation), "session__patient_id", "session__clinic_id",
        "checked_in_at", "weight",
    ),
    Source(
        "Observation", (*CLINICAL, *OWN), lambda: QuestionnaireResponse.objects.all(),
        _one(mappers.score_observation), "patient_id", "patient__clinic_id", "completed_at",
        "score",
    ),
    Source(
        "MedicationAdministration", CHART,
        lambda: DoseAdministration.objects.select_related("session"),
        _one(mappers.medication_administration_resource), "session__patient_id",
        "session__clinic_id", "started_at",
    ),
    Source(
        "AdverseEvent", CHART,
        lambda: SideEffect.objects.filter(amended_by__isnull=True).select_related(
            "session__dose"
        ),
        _one(mappers.adverse_event_resource), "session__patient_id", "session__clinic_id",
        "onset_at",
    ),
    Source(
        "CarePlan", (*STAFF, *OWN), lambda: Course.objects.select_related("protocol"),
        _one(mappers.care_plan_resource), "patient_id", "clinic_id", "start_date",
    ),
    Source(
        "QuestionnaireResponse", (*CLINICAL, *OWN), lambda: QuestionnaireResponse.objects.all(),
        _one(mappers.questionnaire_response_resource), "patient_id", "patient__clinic_id",
        "completed_at",
    ),
]  # fmt: skip

BY_TYPE: dict[str, list[Source]] = {}
for _source in SOURCES:
    BY_TYPE.setdefault(_source.type, []).append(_source)

# Each type's date search parameter, by its FHIR name.
DATE_PARAM = {
    "Appointment": "date",
    "Encounter": "date",
    "Observation": "date",
    "MedicationAdministration": "effective-time",
    "AdverseEvent": "date",
    "CarePlan": "date",
    "QuestionnaireResponse": "authored",
}
