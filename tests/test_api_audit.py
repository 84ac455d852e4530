"""Audit: the history of every change to clinical data, and a log of every record read."""

import datetime as dt

import pytest
from django.utils import timezone

from patients.models import RecordAccess

from .api_world import build_world
from .conftest import force_login_verified


@pytest.fixture
def world(db):
    return build_world(timezone.now())


def test_an_edit_through_the_api_keeps_its_history(world):
    patient = world.patient
    response = world.client("front_desk").patch(
        f"/api/v1/patients/{patient.pk}/", {"phone": "+441179460555"}, format="json"
    )
    assert response.status_code == 200, response.json()

    latest, previous = patient.history.all()[:2]
    assert latest.history_type == "~" and latest.history_user == world.users["front_desk"]
    diff = latest.diff_against(previous)
    assert [c.field for c in diff.changes] == ["phone"]
    assert str(diff.changes[0].new) == "+441179460555"
    assert str(previous.phone) != "+441179460555"  # the old value is kept


def test_a_move_through_the_api_is_in_the_session_history(world):
    session = world.courses["own"].sessions.order_by("number")[3]
    new_start = session.starts_at + dt.timedelta(hours=1)
    response = world.client("nurse").post(
        f"/api/v1/sessions/{session.pk}/move/", {"starts_at": new_start.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.json()
    records = list(session.history.order_by("history_date"))
    assert records[0].history_type == "+"  # booked by course start, with history
    assert records[-1].starts_at == new_start
    assert records[-1].history_user == world.users["nurse"]
    assert records[-2].starts_at == session.starts_at


def test_reading_a_patient_is_logged(world):
    patient = world.patient
    assert world.client("nurse").get(f"/api/v1/patients/{patient.pk}/").status_code == 200

    (entry,) = RecordAccess.objects.filter(patient=patient)
    assert (entry.user, entry.action) == (world.users["nurse"], "api:patient:retrieve")
    assert timezone.now() - entry.accessed_at < dt.timedelta(minutes=1)


def test_reading_a_patients_session_or_screening_is_logged(world):
    session = world.courses["own"].sessions.first()
    screening = world.patient.screenings.first()
    client = world.client("clinician")
    client.get(f"/api/v1/sessions/{session.pk}/")
    client.get(f"/api/v1/screenings/{screening.pk}/")
    actions = set(
        RecordAccess.objects.filter(patient=world.patient).values_list("action", flat=True)
    )
    assert actions == {"api:session:retrieve", "api:screening:retrieve"}


def test_listing_patients_logs_each_one_listed(world):
    response = world.client("front_desk").get("/api/v1/patients/")
    listed = {row["id"] for row in response.json()["results"]}
    logged = set(
        RecordAccess.objects.filter(action="api:patient:list").values_list("patient", flat=True)
    )
    assert logged == listed and world.foreign_patient.pk not in logged


def test_a_refused_read_is_not_logged_as_a_read(world):
    world.client("front_desk").get(f"/api/v1/patients/{world.foreign_patient.pk}/")
    assert not RecordAccess.objects.filter(patient=world.foreign_patient).exists()


def test_opening_a_patient_in_the_admin_is_logged(client, world):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", password="x-test-only-9")
    force_login_verified(client, admin)  # a superuser owes the second factor
    assert client.get(f"/admin/patients/patient/{world.patient.pk}/change/").status_code == 200
    assert RecordAccess.objects.filter(
        patient=world.patient, user=admin, action="admin:patient:change"
    ).exists()


def test_patients_cannot_be_deleted_through_the_api(world):
    response = world.client("clinic_admin").delete(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 405
