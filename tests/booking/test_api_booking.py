"""Booking through the API: the same services, their refusals as 400s naming the field."""

import datetime as dt

import pytest
from django.utils import timezone

from scheduling.booking.models import Course, Protocol, Session

from ..api_world import build_world
from ..conftest import make_ready_patient


@pytest.fixture
def world(db):
    return build_world(timezone.now())


def next_monday(clinic) -> dt.date:
    today = clinic.local_today()
    return today + dt.timedelta(days=7 - today.weekday() + 7)


def start_body(world, patient, **extra):
    body = {
        "patient": patient.pk,
        "protocol": Protocol.objects.get(code="iv-standard").pk,
        "start_date": next_monday(world.clinic).isoformat(),
        "preferred_weekdays": [1, 4],
        "preferred_time": "14:00",
    }
    body.update(extra)
    return body


def test_the_front_desk_starts_a_course_and_sees_its_sessions(world):
    patient = make_ready_patient(world.clinic, "NEW-1")
    client = world.client("front_desk")

    preview = client.post("/api/v1/courses/preview/", start_body(world, patient), format="json")
    assert preview.status_code == 200
    assert Course.objects.filter(patient=patient).count() == 0  # a preview writes nothing

    response = client.post("/api/v1/courses/", start_body(world, patient), format="json")

    assert response.status_code == 201, response.json()
    course = response.json()
    assert course["session_count"] == len(preview.json())
    sessions = client.get("/api/v1/sessions/", {"course": course["id"]}).json()["results"]
    assert [s["local_start"][11:16] for s in sessions] == ["14:00"] * len(sessions)
    assert [s["number"] for s in sessions] == [p["number"] for p in preview.json()]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"start_date": "2020-01-06"}, "start_date"),
        ({"preferred_time": "17:30"}, "preferred_time"),
        ({"preferred_weekdays": [6]}, "preferred_weekdays"),
        ({"preferred_weekdays": [9]}, "preferred_weekdays.0"),
        ({"preferred_time": "not a time"}, "preferred_time"),
        ({"protocol": 999999}, "protocol"),
    ],
)
def test_bad_course_input_is_a_400_naming_the_field_and_nothing_is_written(world, extra, field):
    patient = make_ready_patient(world.clinic, "NEW-2")
    response = world.client("front_desk").post(
        "/api/v1/courses/", start_body(world, patient, **extra), format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid"
    assert field in body["errors"], body
    assert body["detail"].startswith(field)
    assert not Course.objects.filter(patient=patient).exists()


def test_an_unscreened_patient_is_refused_by_the_gate(world):
    from ..conftest import make_patient

    patient = make_patient(world.clinic, "NEW-3")
    response = world.client("front_desk").post(
        "/api/v1/courses/", start_body(world, patient), format="json"
    )
    assert response.status_code == 400
    assert "not been screened" in response.json()["errors"]["screening"][0]


def test_a_move_that_breaks_a_rule_is_a_400_and_changes_nothing(world):
    session = world.courses["own"].sessions.order_by("number")[3]
    sunday = session.starts_at + dt.timedelta(days=6 - session.starts_at.weekday())
    response = world.client("front_desk").post(
        f"/api/v1/sessions/{session.pk}/move/", {"starts_at": sunday.isoformat()}, format="json"
    )
    assert response.status_code == 400
    assert "opening hours" in response.json()["errors"]["starts_at"][0]
    before = session.starts_at
    session.refresh_from_db()
    assert session.starts_at == before


def test_slots_then_book_through_the_api(world):
    course = world.courses["own"]
    client = world.client("front_desk")
    slots = client.get(f"/api/v1/courses/{course.pk}/slots/", {"days": 21, "limit": 5}).json()
    assert len(slots) == 5

    booked = client.post(
        f"/api/v1/courses/{course.pk}/book/",
        {"starts_at": slots[0]["starts_at"], "chair": slots[0]["chair"]},
        format="json",
    )

    assert booked.status_code == 201, booked.json()
    assert booked.json()["chair"] == slots[0]["chair"]
    again = client.post(
        f"/api/v1/courses/{course.pk}/book/",
        {"starts_at": slots[0]["starts_at"], "chair": slots[0]["chair"]},
        format="json",
    )
    assert again.status_code == 400


def test_another_clinics_chair_is_refused(world):
    course = world.courses["own"]
    foreign_chair = world.objects("chairs")["foreign"]
    slot = world.client("front_desk").get(f"/api/v1/courses/{course.pk}/slots/").json()[0]
    response = world.client("front_desk").post(
        f"/api/v1/courses/{course.pk}/book/",
        {"starts_at": slot["starts_at"], "chair": foreign_chair.pk},
        format="json",
    )
    assert response.status_code == 400
    assert "chair" in response.json()["errors"]


def test_cancel_this_and_following_through_the_api(world):
    course = world.courses["own"]
    third = course.sessions.order_by("number")[2]
    response = world.client("front_desk").post(
        f"/api/v1/sessions/{third.pk}/cancel/",
        {"scope": "following", "reason": "moving"},
        format="json",
    )
    assert response.status_code == 200
    statuses = list(course.sessions.order_by("number").values_list("status", flat=True))
    assert statuses[:2] == ["monitoring", "booked"]  # the first is being charted
    assert set(statuses[2:]) == {"cancelled"}
    detail = world.client("front_desk").get(f"/api/v1/sessions/{third.pk}/").json()
    assert detail["status_changes"][-1]["note"] == "moving"


def test_the_session_history_is_in_the_detail(world):
    session = world.courses["own"].sessions.order_by("number")[3]
    detail = world.client("nurse").get(f"/api/v1/sessions/{session.pk}/").json()
    assert [c["to_status"] for c in detail["status_changes"]] == [Session.Status.BOOKED]


def test_the_schema_and_its_docs_are_served_from_the_app(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    for page in ("/api/docs/", "/api/redoc/"):
        html = client.get(page).content.decode()
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn" not in html.lower() and "//unpkg" not in html and "jsdelivr" not in html


def test_a_time_filter_with_an_offset_iso_allows_is_asked_in_utc(world):
    """-20:06 is a valid ISO offset that PostgreSQL refuses: asked in UTC, not a 500."""
    response = world.client("front_desk").get(
        "/api/v1/sessions/", {"starts_before": "4908-03-01T13:33:49.191-20:06"}
    )
    assert response.status_code == 200
