"""The API does what its OpenAPI schema says, and the schema says what it does (issue 24,
item 8)."""

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from clinic.api.base import MAX_ID
from patients.models import Contraindication, ScreeningSignOff
from patients.services import screening_record

from .api_world import build_world


@pytest.fixture
def world(db):
    return build_world(timezone.now())


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator(api_version="v1").get_schema(request=None, public=True)


def test_a_sign_off_answers_201_and_the_schema_says_201(world, schema):
    operation = schema["paths"]["/api/v1/screenings/{id}/sign-off/"]["post"]
    assert "201" in operation["responses"]
    assert "200" not in operation["responses"]

    relative = Contraindication.objects.filter(kind="relative", is_active=True).first()
    answers = [
        (c.id, c.id == relative.id, "") for c in Contraindication.objects.filter(is_active=True)
    ]
    screening = screening_record(patient=world.other_patient, answers=answers, by=None)
    answer = screening.answers.get(contraindication=relative)
    before = ScreeningSignOff.objects.count()

    response = world.client("clinician").post(
        f"/api/v1/screenings/{screening.pk}/sign-off/",
        {"answer": answer.pk, "reason": "Discussed with the patient; monitored."},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert ScreeningSignOff.objects.count() == before + 1


def documented(schema, path, method="post"):
    """{status: the schema's $ref or type} of an operation's successful answers."""
    responses = schema["paths"][path][method]["responses"]
    return {
        code: response["content"]["application/json"]["schema"]
        for code, response in responses.items()
        if code.startswith("2")
    }


def test_a_sign_off_is_documented_as_the_screening_it_answers(schema):
    assert documented(schema, "/api/v1/screenings/{id}/sign-off/") == {
        "201": {"$ref": "#/components/schemas/Screening"}
    }


def test_a_new_screening_is_documented_as_the_screening_it_answers(schema):
    # Not as the request body (ScreeningInput), which is what it was.
    assert documented(schema, "/api/v1/screenings/") == {
        "201": {"$ref": "#/components/schemas/Screening"}
    }


def test_a_course_preview_is_documented_as_the_plain_list_it_answers(world, schema):
    assert documented(schema, "/api/v1/courses/preview/") == {
        "200": {"type": "array", "items": {"$ref": "#/components/schemas/PlannedSession"}}
    }


def id_filters(schema):
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "query" and param["name"] in {
                    "clinic", "patient", "course", "session", "chair", "protocol", "vitals",
                }:  # fmt: skip
                    yield path, param


def test_id_filters_declare_the_ids_they_accept(schema):
    found = list(id_filters(schema))
    assert len(found) > 5
    undeclared = [
        (path, p["name"])
        for path, p in found
        if p["schema"].get("minimum") != 1 or p["schema"].get("maximum") != MAX_ID
    ]
    assert undeclared == []


@pytest.mark.parametrize("value", ["0", "-3"])
def test_an_id_filter_refuses_zero_and_negatives_as_documented(world, value):
    response = world.client("front_desk").get("/api/v1/sessions/", {"course": value})
    assert response.status_code == 400
    assert "greater than or equal to 1" in " ".join(response.json()["errors"]["course"])


def test_a_patient_lists_exactly_their_own_record(world):
    response = world.client("patient").get("/api/v1/patients/")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 1
    assert [row["id"] for row in body["results"]] == [world.patient.pk]


def test_a_patient_filtering_for_someone_else_gets_an_empty_list(world):
    response = world.client("patient").get("/api/v1/patients/", {"mrn": world.other_patient.mrn})
    assert response.status_code == 200
    assert response.json()["results"] == []
