"""The FHIR R4 API under /fhir/ (docs/fhir.md): every resource it emits validated by the
fhir.resources R4B models, the LOINC codes, search, $everything, and the API's scoping."""

import datetime as dt
import importlib

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from clinic.services import staff_membership_add
from patients.models import RecordAccess
from scheduling.chart.selectors import session_chart
from scheduling.chart.services import (
    questionnaire_submit,
    session_discharge,
    side_effect_record,
    vitals_record,
)

from .conftest import NORMAL_VITALS, api_token, at, chart_through, make_clinic, make_ready_patient

CONTENT_TYPE = "application/fhir+json"
EMITTED = {
    "Patient", "Appointment", "Encounter", "Observation", "MedicationAdministration",
    "AdverseEvent", "CarePlan", "QuestionnaireResponse",
}  # fmt: skip


def model(data: dict):
    """`data` parsed and validated by its fhir.resources R4B model (raises if invalid)."""
    kind = data["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    return getattr(module, kind).model_validate(data)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    return client


def get(client, url, status=200, **params):
    response = client.get(url, params)
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == CONTENT_TYPE
    return response.json()


def outcome(data, *words):
    """An OperationOutcome, validated, whose diagnostics say each of `words`."""
    assert data["resourceType"] == "OperationOutcome"
    model(data)
    text = data["issue"][0]["diagnostics"]
    for word in words:
        assert word in text
    return data["issue"][0]


@pytest.fixture
def charted(iv_session, esketamine_session, staff):
    """The IV patient's session 1 charted to discharge (with a side effect), their PHQ-9
    and GAD-7; the esketamine patient's session 1 charted too (a dose with a lot)."""
    nurse = staff["nurse"]
    chart_through(iv_session, nurse=nurse, start=at(2027, 1, 4, 10), to="monitoring")
    side_effect_record(
        session=iv_session, by=nurse, kind="nausea", severity="mild", now=at(2027, 1, 4, 10, 50)
    )
    ends = session_chart(session=iv_session, now=at(2027, 1, 4, 10)).observation_ends_at
    vitals_record(
        session=iv_session, by=nurse, timepoint="pre_discharge", now=ends, **NORMAL_VITALS
    )
    session_discharge(session=iv_session, by=nurse, now=ends + dt.timedelta(minutes=1))
    iv_session.refresh_from_db()
    patient = iv_session.patient
    for kind, items in (("phq9", [2, 2, 1, 1, 1, 1, 1, 1, 0]), ("gad7", [1, 1, 1, 1, 1, 1, 1])):
        questionnaire_submit(
            patient=patient, kind=kind, items=items, by=nurse, now=at(2027, 1, 4, 9, 50)
        )
    chart_through(esketamine_session, nurse=nurse, start=at(2027, 1, 5, 10))
    user = get_user_model().objects.create_user(username="the-patient", password="pw-x")
    patient.user = user
    patient.save(update_fields=["user"])
    return iv_session


@pytest.fixture
def clinician(staff):
    return client_for(staff["clinician"])


def test_everything_holds_every_resource_type_and_each_validates(charted, clinician):
    patient = charted.patient
    data = get(clinician, f"/fhir/Patient/{patient.pk}/$everything")
    bundle = model(data)
    assert bundle.type == "searchset"
    resources = [e["resource"] for e in data["entry"]]
    assert {r["resourceType"] for r in resources} == EMITTED
    assert resources[0] == {**resources[0], "resourceType": "Patient", "id": str(patient.pk)}
    for entry in data["entry"]:
        r = entry["resource"]
        model(r)
        assert entry["fullUrl"] == f"http://testserver/fhir/{r['resourceType']}/{r['id']}"
        # Only this patient's: the esketamine patient's dose is not here.
        subject = r.get("subject") or (r.get("participant") or [{}])[0].get("actor")
        if r["resourceType"] != "Patient":
            assert subject == {"reference": f"Patient/{patient.pk}"}
        # Each reads by its id, the same resource.
        assert get(clinician, f"/fhir/{r['resourceType']}/{r['id']}") == r


def test_the_resources_say_what_was_charted(charted, clinician, esketamine_session):
    data = get(clinician, f"/fhir/Patient/{charted.patient.pk}/$everything")
    by_type = {}
    for e in data["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    (appointment,) = [a for a in by_type["Appointment"] if a["id"] == str(charted.pk)]
    assert appointment["status"] == "fulfilled"
    (encounter,) = by_type["Encounter"]
    assert encounter["status"] == "finished" and encounter["class"]["code"] == "AMB"
    assert encounter["appointment"] == [{"reference": f"Appointment/{charted.pk}"}]
    (dose,) = by_type["MedicationAdministration"]
    assert dose["dosage"]["dose"] == {
        "value": 40.0,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }  # fmt: skip  (0.5 mg/kg at 80 kg)
    (event,) = by_type["AdverseEvent"]
    assert event["event"]["text"] == "Nausea"
    assert event["suspectEntity"] == [
        {"instance": {"reference": f"MedicationAdministration/{dose['id']}"}}
    ]
    (plan,) = by_type["CarePlan"]
    assert plan["status"] == "active" and plan["subject"]["reference"].endswith(
        str(charted.patient.pk)
    )
    phq9 = [q for q in by_type["QuestionnaireResponse"] if "phq9" in q["questionnaire"]]
    assert [i["answer"][0]["valueInteger"] for i in phq9[0]["item"]] == [2, 2, 1, 1, 1, 1, 1, 1, 0]
    assert [i["linkId"] for i in phq9[0]["item"]] == [str(n) for n in range(1, 10)]
    # The esketamine dose carries its lot on the contained Medication.
    esk = get(clinician, f"/fhir/MedicationAdministration/{esketamine_session.dose.pk}")
    model(esk)
    assert esk["contained"][0]["batch"] == {"lotNumber": "LOT-1"}
    assert esk["medicationReference"] == {"reference": "#medication"}


def _codes(resource) -> set[str]:
    return {c["code"] for c in resource["code"]["coding"]}


def test_observations_carry_the_loinc_codes_and_ucum_units(charted, clinician):
    data = get(clinician, "/fhir/Observation", patient=charted.patient.pk)
    model(data)
    observations = [e["resource"] for e in data["entry"]]
    for o in observations:
        model(o)
    codes = set().union(*(_codes(o) for o in observations))
    assert codes == {
        "85354-9", "8867-4", "2708-6", "59408-5", "9279-1", "8310-5",  # vital signs
        "29463-7",  # weight at check-in
        "44261-6", "70274-6",  # PHQ-9 and GAD-7 totals
    }  # fmt: skip
    (bp, *_) = [o for o in observations if _codes(o) == {"85354-9"}]
    assert bp["category"][0]["coding"][0]["code"] == "vital-signs"
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]) for c in bp["component"]] == [
        ("8480-6", {"value": 122, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]"}),
        ("8462-4", {"value": 78, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]"}),
    ]  # fmt: skip
    units = {
        next(iter(_codes(o))) if len(_codes(o)) == 1 else "spo2": o["valueQuantity"]["code"]
        for o in observations
        if "valueQuantity" in o
    }
    assert units == {"8867-4": "/min", "spo2": "%", "9279-1": "/min", "8310-5": "Cel",
                     "29463-7": "kg"}  # fmt: skip
    (phq9,) = [o for o in observations if _codes(o) == {"44261-6"}]
    assert phq9["valueInteger"] == 10 and phq9["interpretation"][0]["text"] == "Moderate"
    assert phq9["category"][0]["coding"][0]["code"] == "survey"


def test_search_by_date_code_and_category(charted, clinician):
    pid = charted.patient.pk

    def ids(kind, **params):
        data = get(clinician, f"/fhir/{kind}", patient=pid, **params)
        return [e["resource"]["id"] for e in data.get("entry", [])]

    every = ids("Observation")
    assert ids("Observation", date="ge2027-01-04") == every
    assert ids("Observation", date="lt2027-01-04") == []
    assert ids("Observation", date=["ge2027-01-04", "lt2027-01-05"]) == every
    assert ids("Observation", date="2027-01") == every
    assert ids("Observation", date="gt2027-01-04T10:00:00+00:00") != every  # check-in at 10:00
    assert ids("Observation", date="eq2027-01-05") == []
    assert (
        ids("Observation", code="http://loinc.org|44261-6")
        == [o for o in every if o.startswith("score-")][:1]
    )
    assert all(i.startswith("score-") for i in ids("Observation", category="survey"))
    sessions = ids("Appointment")
    assert ids("Appointment", date="2027-01-04") == [str(charted.pk)]
    assert len(sessions) > 1  # the rest of the course
    assert ids("MedicationAdministration", **{"effective-time": "2027-01-04"}) != []
    assert ids("QuestionnaireResponse", authored="le2027-01-03") == []
    assert ids("CarePlan", date="ge2027-01-05") == []
    assert ids("CarePlan", date="2027-01-04") != []


def test_bad_search_parameters_are_400_naming_them(charted, clinician):
    pid = charted.patient.pk
    issue = outcome(get(clinician, "/fhir/Observation", 400, patient=pid, colour="red"), "colour")
    assert issue["code"] == "invalid" and issue["expression"] == ["colour"]
    outcome(get(clinician, "/fhir/Observation", 400, patient=pid, date="ge2027-13-01"), "date")
    outcome(get(clinician, "/fhir/Observation", 400, patient=pid, date="xx2027-01-01"), "date")
    outcome(get(clinician, "/fhir/Observation", 400, patient=pid, date="2027-01-04T10:00"), "date")
    outcome(get(clinician, "/fhir/Observation", 400), "patient", "required")
    outcome(get(clinician, "/fhir/Observation", 400, patient="someone"), "patient")
    outcome(get(clinician, "/fhir/Observation", 400, patient=pid, code="http://snomed.info/sct|1"))
    outcome(get(clinician, "/fhir/Appointment", 400, patient=pid, authored="2027"), "authored")
    outcome(get(clinician, "/fhir/Patient", 400, _count="0"), "_count")
    outcome(get(clinician, "/fhir/metadata", 400, _format="xml"), "_format")


def test_metadata_lists_every_resource_and_is_public(db):
    data = get(APIClient(), "/fhir/metadata")
    statement = model(data)
    assert statement.fhirVersion == "4.0.1"
    served = {r["type"]: r for r in data["rest"][0]["resource"]}
    assert set(served) == EMITTED
    assert {p["name"] for p in served["Observation"]["searchParam"]} == {
        "patient", "date", "code", "category"
    }  # fmt: skip
    assert served["Patient"]["operation"][0]["name"] == "everything"


def test_errors_are_operation_outcomes_with_their_status(charted, clinician):
    unauthenticated = APIClient().get(f"/fhir/Patient/{charted.patient.pk}")
    assert unauthenticated.status_code == 401
    assert unauthenticated["WWW-Authenticate"] == "Token"
    assert outcome(unauthenticated.json())["code"] == "login"
    assert outcome(get(clinician, "/fhir/Patient/999999", 404))["code"] == "not-found"
    outcome(get(clinician, "/fhir/Observation/vitals-999999-bp", 404))
    outcome(get(clinician, "/fhir/Observation/nonsense", 404))
    outcome(get(clinician, "/fhir/Medication/1", 404), "Medication")
    outcome(get(clinician, "/fhir/Patient/1/history/2", 404))
    post = clinician.post("/fhir/Patient", {}, format="json")
    assert post.status_code == 405
    outcome(post.json())


def test_a_patient_reads_only_their_own(charted, esketamine_session):
    me = charted.patient
    other = esketamine_session.patient
    client = client_for(me.user)
    assert get(client, f"/fhir/Patient/{me.pk}")["id"] == str(me.pk)
    assert get(client, f"/fhir/Appointment/{charted.pk}")["status"] == "fulfilled"
    # Another patient's resources are a 404, exactly like missing ones.
    outcome(get(client, f"/fhir/Patient/{other.pk}", 404))
    outcome(get(client, f"/fhir/Appointment/{esketamine_session.pk}", 404))
    outcome(get(client, f"/fhir/CarePlan/{esketamine_session.course_id}", 404))
    outcome(get(client, f"/fhir/Patient/{other.pk}/$everything", 404))
    assert get(client, "/fhir/Appointment", patient=other.pk)["total"] == 0
    # As in the API, the chart is staff's: a patient reads their questionnaires, not vitals.
    outcome(get(client, f"/fhir/Encounter/{charted.pk}", 403), "Encounter")
    outcome(get(client, f"/fhir/Observation/vitals-{charted.vitals.first().pk}-bp", 404))
    mine = get(client, f"/fhir/Patient/{me.pk}/$everything")
    model(mine)
    assert {e["resource"]["resourceType"] for e in mine["entry"]} == {
        "Patient", "Appointment", "CarePlan", "Observation", "QuestionnaireResponse"
    }  # fmt: skip
    assert all(
        e["resource"]["id"].startswith("score-")
        for e in mine["entry"]
        if e["resource"]["resourceType"] == "Observation"
    )


def test_another_clinics_staff_get_404(charted):
    other = make_clinic(slug="elsewhere")
    user = get_user_model().objects.create_user(username="elsewhere-clinician", password="pw-x")
    staff_membership_add(user=user, clinic=other, role="clinician")
    client = client_for(user)
    pid = charted.patient.pk
    outcome(get(client, f"/fhir/Patient/{pid}", 404))
    outcome(get(client, f"/fhir/Patient/{pid}/$everything", 404))
    outcome(get(client, f"/fhir/Encounter/{charted.pk}", 404))
    outcome(get(client, f"/fhir/Observation/vitals-{charted.vitals.first().pk}-bp", 404))
    assert get(client, "/fhir/Observation", patient=pid)["total"] == 0
    assert get(client, "/fhir/Patient")["total"] == 0


def test_front_desk_reads_patients_and_bookings_not_the_chart(charted, staff):
    client = client_for(staff["front_desk"])
    pid = charted.patient.pk
    get(client, f"/fhir/Patient/{pid}")
    get(client, f"/fhir/Appointment/{charted.pk}")
    outcome(get(client, "/fhir/Observation", 403, patient=pid), "Observation")
    outcome(get(client, f"/fhir/MedicationAdministration/{charted.dose.pk}", 403))
    found = get(client, f"/fhir/Patient/{pid}/$everything")
    assert {e["resource"]["resourceType"] for e in found["entry"]} == {
        "Patient", "Appointment", "CarePlan"
    }  # fmt: skip


def test_reads_of_patient_data_are_logged(charted, clinician, staff):
    pid = charted.patient.pk
    get(clinician, f"/fhir/Patient/{pid}")
    get(clinician, "/fhir/Observation", patient=pid)
    get(clinician, f"/fhir/Patient/{pid}/$everything")
    logged = RecordAccess.objects.filter(user=staff["clinician"], patient_id=pid)
    assert sorted(logged.values_list("action", flat=True)) == [
        "fhir:Observation:search", "fhir:Patient:everything", "fhir:Patient:read"
    ]  # fmt: skip


def test_patient_search_pages(charted, clinician, clinic):
    for n in range(3):
        make_ready_patient(clinic, f"PAGE-{n}", last_name=f"Zed{n}")
    first = get(clinician, "/fhir/Patient", _count="2")
    model(first)
    assert first["total"] == 5 and len(first["entry"]) == 2
    (following,) = [link["url"] for link in first["link"] if link["relation"] == "next"]
    assert "_offset=2" in following
    assert (
        get(clinician, "/fhir/Patient", identifier="PAGE-1")["entry"][0]["resource"]["identifier"][
            0
        ]["value"]
        == "PAGE-1"
    )


def _chart_more(session, nurse):
    """Session 2 charted to monitoring (a weight, two sets of vitals) and three PHQ-9s."""
    second = session.course.sessions.get(number=2)
    chart_through(second, nurse=nurse, start=second.starts_at, to="monitoring")
    for n in range(3):
        questionnaire_submit(
            patient=session.patient, kind="phq9", items=[1] * 9, by=nurse,
            now=second.starts_at - dt.timedelta(hours=n + 1),
        )  # fmt: skip


def test_a_search_asks_the_database_a_fixed_number_of_times(
    charted, clinician, staff, django_assert_num_queries
):
    pid = charted.patient.pk
    # The token's first use records it (once a minute at most): out of the count.
    get(clinician, "/fhir/metadata")
    get(clinician, f"/fhir/Patient/{pid}")
    # Token and user, roles, the caller's own patient record; then for a search the
    # vitals, weights and totals and the read log; for $everything the patient, each of
    # the nine sources the caller reads and the read log.
    with django_assert_num_queries(7):
        small = get(clinician, "/fhir/Observation", patient=pid)
    with django_assert_num_queries(14):
        small_all = get(clinician, f"/fhir/Patient/{pid}/$everything")
    _chart_more(charted, staff["nurse"])
    with django_assert_num_queries(7):
        large = get(clinician, "/fhir/Observation", patient=pid)
    with django_assert_num_queries(14):
        large_all = get(clinician, f"/fhir/Patient/{pid}/$everything")
    # Session 2: two sets of vitals (5 each) and a weight; three PHQ-9s (a total each).
    assert large["total"] == small["total"] + 2 * 5 + 1 + 3
    # ... and in $everything their QuestionnaireResponses and the session's Encounter
    # and MedicationAdministration too.
    assert large_all["total"] == small_all["total"] + 2 * 5 + 1 + 3 + 3 + 1 + 1
