"""Our records as FHIR R4 resources: one function per resource (codes: CLINICAL.md 10).

Each returns a model of the fhir.resources R4B package (FHIR 4.3.0, the technical
correction of R4 with the same elements for every resource here), so a resource that
is not valid FHIR fails where it is built, never reaching a client. References are
relative (`Patient/12`); the views add the server's base to a bundle's fullUrl.
"""

import importlib

from patients.models import Patient, QuestionnaireResponse

from ..booking.models import Course, Protocol, Session
from ..chart.models import CheckIn, DoseAdministration, SideEffect, VitalSigns

FHIR_VERSION = "4.0.1"  # what the CapabilityStatement declares: R4
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
MRN_TYPE = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}],
    "text": "Medical record number",
}
# Our own code systems and the questionnaires' canonical URLs (not served).
OUR = "urn:infusion-tracker"


def resource(data: dict):
    """`data` as its fhir.resources R4B model: validated, or a ValueError saying why."""
    kind = data["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    return getattr(module, kind).model_validate(data)


def _ref(kind: str, pk) -> dict:
    return {"reference": f"{kind}/{pk}"}


def _instant(value) -> str | None:
    return value.isoformat() if value is not None else None


def _loinc(code: str, display: str) -> dict:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _quantity(value, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


# --- Patient ---------------------------------------------------------------------------


def patient_resource(patient: Patient):
    """Identifiers (MRN; REMS patient ID once enrolled), name, birth date, gender,
    contact; the clinic by name. Needs `patient.clinic`."""
    identifiers = [
        {
            "type": MRN_TYPE,
            "system": f"{OUR}:clinic:{patient.clinic.slug}:mrn",
            "value": patient.mrn,
        }
    ]
    if patient.rems_patient_id:
        identifiers.append(
            {
                "type": {"text": "Esketamine REMS patient ID"},
                "system": f"{OUR}:rems-patient-id",
                "value": patient.rems_patient_id,
            }
        )
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": str(patient.phone)})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    return resource(
        {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "identifier": identifiers,
            "name": [{"family": patient.last_name, "given": [patient.first_name]}],
            "gender": patient.sex,  # our choices are FHIR's administrative genders
            "birthDate": patient.birth_date.isoformat(),
            "telecom": telecom or None,
            "managingOrganization": {"display": patient.clinic.name},
        }
    )


# --- Appointment and Encounter: a session, booked and as it happened ---------------------

S = Session.Status
APPOINTMENT_STATUS = {
    S.BOOKED: "booked",
    S.CHECKED_IN: "arrived",
    S.IN_PROGRESS: "arrived",
    S.MONITORING: "arrived",
    S.DISCHARGED: "fulfilled",
    S.CANCELLED: "cancelled",
    S.NO_SHOW: "noshow",
}
ENCOUNTER_STATUS = {
    S.CHECKED_IN: "arrived",
    S.IN_PROGRESS: "in-progress",
    S.MONITORING: "in-progress",
    S.DISCHARGED: "finished",
    S.CANCELLED: "cancelled",
}


def appointment_resource(session: Session):
    """The session as booked: status, start and end, the patient, the course."""
    return resource(
        {
            "resourceType": "Appointment",
            "id": str(session.pk),
            "status": APPOINTMENT_STATUS[session.status],
            "description": f"Session {session.number} of the course",
            "start": _instant(session.starts_at),
            "end": _instant(session.ends_at),
            "participant": [{"actor": _ref("Patient", session.patient_id), "status": "accepted"}],
            "supportingInformation": [_ref("CarePlan", session.course_id)],
        }
    )


def encounter_resource(session: Session):
    """The session as it happened: from check-in to discharge (ambulatory). Needs the
    session's `check_in` and `discharge` (None when not discharged yet)."""
    discharge = getattr(session, "discharge", None)
    period = {"start": _instant(session.check_in.checked_in_at)}
    if discharge is not None:
        period["end"] = _instant(discharge.discharged_at)
    return resource(
        {
            "resourceType": "Encounter",
            "id": str(session.pk),
            "status": ENCOUNTER_STATUS.get(session.status, "unknown"),
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
                "display": "ambulatory",
            },
            "subject": _ref("Patient", session.patient_id),
            "appointment": [_ref("Appointment", session.pk)],
            "period": period,
        }
    )


# --- Observation: vital signs, body weight, questionnaire totals --------------------------

L = VitalSigns.LOINC
U = VitalSigns.UCUM


def _vital(reading: VitalSigns, part: str, profile: str, code: dict, **value) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"vitals-{reading.pk}-{part}",
        "meta": {"profile": [PROFILE + profile]},
        # A correction is a new reading naming the one it amends (the amended one is not
        # served: its correction replaces it).
        "status": "amended" if reading.amends_id else "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
        "code": code,
        "subject": _ref("Patient", reading.session.patient_id),
        "encounter": _ref("Encounter", reading.session_id),
        "effectiveDateTime": _instant(reading.measured_at),
        **value,
    }


def vital_signs_observations(reading: VitalSigns) -> list:
    """One set of vitals as the vital-signs profile's Observations: a blood pressure
    panel with its systolic and diastolic components, heart rate, oxygen saturation by
    pulse oximetry, and respiratory rate and temperature when taken. Needs
    `reading.session`."""
    bp = {
        "component": [
            {
                "code": _loinc(L["systolic"], "Systolic blood pressure"),
                "valueQuantity": _quantity(reading.systolic, U["systolic"]),
            },
            {
                "code": _loinc(L["diastolic"], "Diastolic blood pressure"),
                "valueQuantity": _quantity(reading.diastolic, U["diastolic"]),
            },
        ]
    }
    spo2_code = {
        "coding": [
            {"system": LOINC, "code": "2708-6", "display": "Oxygen saturation in Arterial blood"},
            {
                "system": LOINC,
                "code": L["spo2"],
                "display": "Oxygen saturation in Arterial blood by Pulse oximetry",
            },
        ],
        "text": "Oxygen saturation (pulse oximetry)",
    }
    found = [
        _vital(reading, "bp", "bp", _loinc(L["panel"], "Blood pressure panel"), **bp),
        _vital(
            reading,
            "heart-rate",
            "heartrate",
            _loinc(L["heart_rate"], "Heart rate"),
            valueQuantity=_quantity(reading.heart_rate, U["heart_rate"]),
        ),  # fmt: skip
        _vital(
            reading,
            "spo2",
            "oxygensat",
            spo2_code,
            valueQuantity=_quantity(reading.spo2, U["spo2"]),
        ),  # fmt: skip
    ]
    if reading.respiratory_rate is not None:
        found.append(
            _vital(
                reading,
                "respiratory-rate",
                "resprate",
                _loinc(L["respiratory_rate"], "Respiratory rate"),
                valueQuantity=_quantity(reading.respiratory_rate, U["respiratory_rate"]),
            )  # fmt: skip
        )
    if reading.temperature_c is not None:
        found.append(
            _vital(
                reading,
                "temperature",
                "bodytemp",
                _loinc(L["temperature_c"], "Body temperature"),
                valueQuantity=_quantity(reading.temperature_c, U["temperature_c"]),
            )  # fmt: skip
        )
    return [resource(data) for data in found]


WEIGHT_LOINC = "29463-7"


def body_weight_observation(check_in: CheckIn):
    """The weight taken at check-in (kg). Needs `check_in.session`."""
    return resource(
        {
            "resourceType": "Observation",
            "id": f"weight-{check_in.pk}",
            "meta": {"profile": [PROFILE + "bodyweight"]},
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
            "code": _loinc(WEIGHT_LOINC, "Body weight"),
            "subject": _ref("Patient", check_in.session.patient_id),
            "encounter": _ref("Encounter", check_in.session_id),
            "effectiveDateTime": _instant(check_in.checked_in_at),
            "valueQuantity": _quantity(check_in.weight_kg, "kg"),
        }
    )


Q = QuestionnaireResponse
SCORE_NAME = {Q.Kind.PHQ9: "PHQ-9 total score", Q.Kind.GAD7: "GAD-7 total score"}


def score_observation(response: QuestionnaireResponse):
    """A PHQ-9 or GAD-7 total (LOINC 44261-6 / 70274-6), its band as the
    interpretation, derived from the QuestionnaireResponse of its items."""
    return resource(
        {
            "resourceType": "Observation",
            "id": f"score-{response.pk}",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "survey"}]}],
            "code": _loinc(Q.LOINC_TOTAL[response.kind], SCORE_NAME[response.kind]),
            "subject": _ref("Patient", response.patient_id),
            "effectiveDateTime": _instant(response.completed_at),
            "valueInteger": response.total,
            "interpretation": [{"text": Q.Band(response.band).label}],
            "derivedFrom": [_ref("QuestionnaireResponse", response.pk)],
        }
    )


def questionnaire_response_resource(response: QuestionnaireResponse):
    """A PHQ-9 or GAD-7 as answered: one item per question, linkId its number (1-9 or
    1-7, the instrument's order), each answered 0-3."""
    kind = Q.Kind(response.kind)
    return resource(
        {
            "resourceType": "QuestionnaireResponse",
            "id": str(response.pk),
            "questionnaire": f"{OUR}:questionnaire:{kind.value}",
            "status": "completed",
            "subject": _ref("Patient", response.patient_id),
            "authored": _instant(response.completed_at),
            "item": [
                {
                    "linkId": str(n),
                    "text": f"{kind.label} item {n}",
                    "answer": [{"valueInteger": s}],
                }
                for n, s in enumerate(response.items, start=1)
            ],
        }
    )


# --- MedicationAdministration, AdverseEvent, CarePlan ----------------------------------


def medication_administration_resource(dose: DoseAdministration):
    """The dose: drug, route, total mg, when; the lot on a contained Medication's batch
    (intranasal devices carry one). Needs `dose.session`."""
    drug = {"text": Protocol.Drug(dose.drug).label}
    data = {
        "resourceType": "MedicationAdministration",
        "id": str(dose.pk),
        "status": "completed",
        "subject": _ref("Patient", dose.session.patient_id),
        "context": _ref("Encounter", dose.session_id),
        "effectivePeriod": {"start": _instant(dose.started_at), "end": _instant(dose.ended_at)},
        "dosage": {
            "text": _dose_text(dose),
            "route": {"text": Protocol.Route(dose.route).label},
            "dose": _quantity(dose.total_mg, "mg"),
        },
    }
    if dose.lot_number:
        data["contained"] = [
            {
                "resourceType": "Medication",
                "id": "medication",
                "code": drug,
                "batch": {"lotNumber": dose.lot_number},
            }
        ]
        data["medicationReference"] = {"reference": "#medication"}
    else:
        data["medicationCodeableConcept"] = drug
    return resource(data)


def _dose_text(dose: DoseAdministration) -> str:
    if dose.devices:
        return f"{dose.devices} devices of {dose.device_mg} mg"
    minutes = f" over {dose.infusion_minutes} min" if dose.infusion_minutes else ""
    return f"{dose.mg_per_kg} mg/kg at {dose.weight_kg} kg{minutes}"


def adverse_event_resource(effect: SideEffect):
    """A side effect: what (our words), when, seriousness, severity, resolved or not, in
    which session, and the dose suspected. Needs `effect.session` and its `dose` (or none
    recorded)."""
    system = "http://terminology.hl7.org/CodeSystem/adverse-event-"
    serious = "serious" if effect.serious else "non-serious"
    data = {
        "resourceType": "AdverseEvent",
        "id": str(effect.pk),
        "actuality": "actual",
        "event": {"text": SideEffect.Kind(effect.kind).label},
        "subject": _ref("Patient", effect.session.patient_id),
        "encounter": _ref("Encounter", effect.session_id),
        "date": _instant(effect.onset_at),
        "recordedDate": _instant(effect.recorded_at),
        "seriousness": {"coding": [{"system": system + "seriousness", "code": serious}]},
        "severity": {"coding": [{"system": system + "severity", "code": effect.severity}]},
        "outcome": {
            "coding": [
                {
                    "system": system + "outcome",
                    "code": "resolved" if effect.resolved_at else "ongoing",
                }
            ]
        },
    }
    dose = getattr(effect.session, "dose", None)
    if dose is not None:
        data["suspectEntity"] = [{"instance": _ref("MedicationAdministration", dose.pk)}]
    return resource(data)


CARE_PLAN_STATUS = {
    Course.Status.ACTIVE: "active",
    Course.Status.COMPLETED: "completed",
    Course.Status.STOPPED: "revoked",
}


def care_plan_resource(course: Course):
    """A course: its protocol, status and period (from its start; to its planned end
    once no longer open-ended). Needs `course.protocol`."""
    period = {"start": course.start_date.isoformat()}
    if course.status != Course.Status.ACTIVE and course.planned_until:
        period["end"] = course.planned_until.isoformat()
    return resource(
        {
            "resourceType": "CarePlan",
            "id": str(course.pk),
            "status": CARE_PLAN_STATUS[course.status],
            "intent": "plan",
            "title": course.protocol.name,
            "description": Protocol.Drug(course.protocol.drug).label
            + ", "
            + Protocol.Route(course.protocol.route).label.lower(),
            "subject": _ref("Patient", course.patient_id),
            "period": period,
            "created": _instant(course.created_at),
        }
    )


# --- What the server says about itself and its errors -----------------------------------


def operation_outcome(*, code: str, diagnostics: str, expression: str | None = None):
    """An error: `code` from FHIR's issue types (not-found, invalid, login, forbidden...)."""
    issue = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return resource({"resourceType": "OperationOutcome", "issue": [issue]})


def bundle(*, base: str, resources: list, total: int | None = None, links=()):
    """A searchset Bundle of `resources` (models), each with its full URL."""
    return resource(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(resources) if total is None else total,
            "link": [{"relation": rel, "url": url} for rel, url in links] or None,
            "entry": [
                {
                    "fullUrl": f"{base}{r.get_resource_type()}/{r.id}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in resources
            ]
            or None,
        }
    )


def capability_statement(*, base: str, types: dict[str, list[tuple[str, str]]], date: str):
    """The server's CapabilityStatement: read and search of each type in `types` (name ->
    [(search parameter, type)]), and Patient/$everything."""
    rest_resources = []
    for kind, params in types.items():
        entry = {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": t} for name, t in params],
        }
        if kind == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        rest_resources.append(entry)
    return resource(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": date,
            "kind": "instance",
            "software": {"name": "Infusion tracker"},
            "implementation": {"description": "Infusion tracker FHIR API (read-only)", "url": base},
            "fhirVersion": FHIR_VERSION,
            "format": ["application/fhir+json", "json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": "Authorization: Token <key>, or the web session. "
                        "Staff read their clinics' records by role; a patient their own."
                    },
                    "resource": rest_resources,
                }
            ],
        }
    )
