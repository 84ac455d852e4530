"""Input a clinic would refuse is refused: a 400 naming the field and the rule, and
nothing written (issue 24, item 6)."""

import datetime as dt

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import BaseConstraint
from django.urls import reverse
from django.utils import timezone

from patients.models import Patient
from scheduling.booking.models import Course, Protocol, Session

from .api_world import build_world
from .conftest import force_login_verified, make_ready_patient


@pytest.fixture
def world(db):
    return build_world(timezone.now())


def new_patient(world, **extra):
    body = {
        "clinic": world.clinic.pk,
        "mrn": "NEW-1",
        "first_name": "New",
        "last_name": "Person",
        "birth_date": "1990-01-01",
    }
    body.update(extra)
    return body


def refused(response, field: str, words: str) -> str:
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors, errors
    message = " ".join(errors[field])
    assert words in message, message
    return message


def tomorrow_everywhere() -> dt.date:
    # A date that is in the future in every time zone on earth (the latest is UTC+14).
    return (timezone.now() + dt.timedelta(hours=14)).date() + dt.timedelta(days=1)


# --- birth date --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth_date", "words"),
    [
        (lambda: tomorrow_everywhere(), "in the future"),
        (lambda: dt.date(2100, 1, 1), "in the future"),
        (lambda: dt.date(1899, 12, 31), "before 1900"),
    ],
)
def test_a_new_patient_born_in_the_future_or_before_1900_is_refused(world, birth_date, words):
    before = Patient.objects.count()

    response = world.client("front_desk").post(
        "/api/v1/patients/", new_patient(world, birth_date=birth_date().isoformat()), format="json"
    )

    refused(response, "birth_date", words)
    assert Patient.objects.count() == before


def test_a_patients_birth_date_cannot_be_changed_to_the_future(world):
    patient = world.other_patient
    old = patient.birth_date
    history = patient.history.count()

    response = world.client("front_desk").patch(
        f"/api/v1/patients/{patient.pk}/",
        {"birth_date": tomorrow_everywhere().isoformat()},
        format="json",
    )

    refused(response, "birth_date", "in the future")
    patient.refresh_from_db()
    assert patient.birth_date == old
    assert patient.history.count() == history


def test_a_birth_date_of_today_or_1900_is_accepted(world):
    client = world.client("front_desk")
    today = timezone.now().date().isoformat()
    assert (
        client.post(
            "/api/v1/patients/", new_patient(world, birth_date=today), format="json"
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/patients/",
            new_patient(world, mrn="NEW-2", birth_date="1900-01-01"),
            format="json",
        ).status_code
        == 201
    )


def test_the_birth_date_rule_is_the_models_so_the_admin_and_forms_share_it(world):
    # The admin's and the pages' forms validate through the model's field.
    patient = Patient(
        clinic=world.clinic, mrn="NEW-3", first_name="A", last_name="B",
        birth_date=dt.date(1850, 6, 1),
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        patient.full_clean()
    assert "before 1900" in " ".join(exc.value.message_dict["birth_date"])


def page_form(**extra):
    fields = {"mrn": "PAGE-1", "first_name": "A", "last_name": "B", "birth_date": "1990-01-01",
              "sex": "unknown"}  # fmt: skip
    fields.update(extra)
    return fields


def test_the_registration_page_refuses_a_future_birth_date_on_its_field(client, world):
    client.force_login(world.users["front_desk"])
    before = Patient.objects.count()

    response = client.post(
        reverse("pages:patient_new"), page_form(birth_date=tomorrow_everywhere().isoformat())
    )

    assert response.status_code == 200  # the form again, with the error on the field
    assert "in the future" in " ".join(response.context["form"].errors["birth_date"])
    assert Patient.objects.count() == before


def test_the_registration_page_shows_a_taken_mrn_on_the_mrn(client, world):
    client.force_login(world.users["front_desk"])
    before = Patient.objects.count()

    response = client.post(reverse("pages:patient_new"), page_form(mrn=world.other_patient.mrn))

    assert response.status_code == 200
    assert "already" in " ".join(response.context["form"].errors["mrn"])
    assert Patient.objects.count() == before


def test_the_admin_refuses_a_birth_date_before_1900_on_its_field(client, world):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", password="x-test-only-9")
    force_login_verified(client, admin)  # a superuser owes the second factor
    patient = world.other_patient
    url = f"/admin/patients/patient/{patient.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(birth_date="1850-06-01", clinic=patient.clinic_id, sex="unknown")

    response = client.post(url, data)

    assert response.status_code == 200
    assert "before 1900" in " ".join(response.context["adminform"].form.errors["birth_date"])
    patient.refresh_from_db()
    assert patient.birth_date == dt.date(1980, 1, 1)


# --- REMS enrolment ----------------------------------------------------------------------


def test_a_rems_enrolment_in_the_future_is_refused(world):
    before = Patient.objects.count()

    response = world.client("front_desk").post(
        "/api/v1/patients/",
        new_patient(
            world, rems_patient_id="REMS-9", rems_enrolled_on=tomorrow_everywhere().isoformat()
        ),
        format="json",
    )

    refused(response, "rems_enrolled_on", "in the future")
    assert Patient.objects.count() == before


def test_a_rems_enrolment_cannot_be_moved_to_the_future(world):
    patient = world.other_patient
    response = world.client("front_desk").patch(
        f"/api/v1/patients/{patient.pk}/",
        {"rems_enrolled_on": tomorrow_everywhere().isoformat()},
        format="json",
    )
    refused(response, "rems_enrolled_on", "in the future")
    patient.refresh_from_db()
    assert patient.rems_enrolled_on == dt.date(2026, 11, 1)


# --- weight and the database's own rules -------------------------------------------------


@pytest.mark.parametrize("weight", ["0.0", "400.0", "999.9"])
def test_an_impossible_weight_is_refused_under_weight_kg(world, weight):
    before = Patient.objects.count()

    response = world.client("front_desk").post(
        "/api/v1/patients/", new_patient(world, weight_kg=weight), format="json"
    )

    refused(response, "weight_kg", "kg")
    assert "__all__" not in response.json()["errors"]
    assert b"patient_weight_plausible" not in response.content
    assert Patient.objects.count() == before


def test_an_impossible_weight_is_refused_on_update(world):
    patient = world.other_patient
    response = world.client("front_desk").patch(
        f"/api/v1/patients/{patient.pk}/", {"weight_kg": "450.0"}, format="json"
    )
    refused(response, "weight_kg", "kg")
    patient.refresh_from_db()
    assert patient.weight_kg is None


def test_an_mrn_already_used_at_the_clinic_is_refused_under_mrn(world):
    before = Patient.objects.count()

    response = world.client("front_desk").post(
        "/api/v1/patients/", new_patient(world, mrn=world.other_patient.mrn), format="json"
    )

    refused(response, "mrn", "already")
    assert "__all__" not in response.json()["errors"]
    assert Patient.objects.count() == before


def all_constraints():
    for model in apps.get_models():
        if model._meta.app_label in {"clinic", "patients", "scheduling"}:
            for constraint in model._meta.constraints:
                yield model, constraint


def test_every_database_rule_has_a_message_in_words(db):
    # Without one, Django answers 'Constraint "<internal name>" is violated.'
    nameless = [
        f"{model.__name__}.{c.name}"
        for model, c in all_constraints()
        if c.violation_error_message == BaseConstraint.default_violation_error_message
        or c.name in str(c.violation_error_message)
    ]
    assert nameless == []


# --- how far ahead a course may start ----------------------------------------------------


def course_body(world, patient, start: dt.date):
    return {
        "patient": patient.pk,
        "protocol": Protocol.objects.get(clinic=None, code="iv-standard").pk,
        "start_date": start.isoformat(),
        "preferred_weekdays": [0, 3],
        "preferred_time": "14:00",
    }


@pytest.mark.parametrize("action", ["", "preview/"])
def test_a_course_starting_beyond_the_clinics_horizon_is_refused(world, action):
    patient = make_ready_patient(world.clinic, "FAR-1")
    far = world.clinic.local_today() + dt.timedelta(days=366)
    courses, sessions = Course.objects.count(), Session.objects.count()

    response = world.client("front_desk").post(
        f"/api/v1/courses/{action}", course_body(world, patient, far), format="json"
    )

    message = refused(response, "start_date", "365 days")
    assert far.isoformat() in message
    assert (Course.objects.count(), Session.objects.count()) == (courses, sessions)


def test_a_course_starting_in_2036_is_refused(world):
    patient = make_ready_patient(world.clinic, "FAR-2")
    response = world.client("front_desk").post(
        "/api/v1/courses/", course_body(world, patient, dt.date(2036, 1, 7)), format="json"
    )
    refused(response, "start_date", "more than 365 days ahead")
    assert not Course.objects.filter(patient=patient).exists()


def test_the_clinic_sets_the_horizon(world):
    world.clinic.course_start_horizon_days = 30
    world.clinic.save()
    patient = make_ready_patient(world.clinic, "FAR-3")
    today = world.clinic.local_today()
    client = world.client("front_desk")

    far = client.post(
        "/api/v1/courses/", course_body(world, patient, today + dt.timedelta(days=40)),
        format="json",
    )  # fmt: skip
    refused(far, "start_date", "30 days")

    near = today + dt.timedelta(days=7)
    near += dt.timedelta(days=-near.weekday())  # a Monday within the horizon
    ok = client.post("/api/v1/courses/", course_body(world, patient, near), format="json")
    assert ok.status_code == 201, ok.json()


def test_a_course_starting_after_the_maintenance_horizon_is_planned_until_its_start(world):
    # 200 days ahead is within a year, but beyond the 90 days maintenance is written out.
    world.clinic.screening_valid_days = 365  # the screening must cover the course
    world.clinic.save()
    patient = make_ready_patient(world.clinic, "FAR-4")
    start = world.clinic.local_today() + dt.timedelta(days=200)
    start += dt.timedelta(days=-start.weekday())

    response = world.client("front_desk").post(
        "/api/v1/courses/", course_body(world, patient, start), format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["planned_until"] >= start.isoformat()


def test_a_clinic_horizon_of_zero_days_is_refused(world):
    response = world.client("clinic_admin").patch(
        f"/api/v1/clinics/{world.clinic.pk}/", {"course_start_horizon_days": 0}, format="json"
    )
    refused(response, "course_start_horizon_days", "greater than or equal to 1")
    world.clinic.refresh_from_db()
    assert world.clinic.course_start_horizon_days == 365


# --- malformed JSON ----------------------------------------------------------------------


def test_a_malformed_json_body_is_refused_with_its_message_under_body(world):
    before = Patient.objects.count()

    response = world.client("front_desk").post(
        "/api/v1/patients/", data='{"mrn": "X", ', content_type="application/json"
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"status", "code", "detail", "errors"}
    assert "JSON parse error" in " ".join(body["errors"]["body"])
    assert body["detail"].startswith("body: ")
    assert Patient.objects.count() == before
