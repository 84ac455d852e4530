"""The day board: one clinic's day, with latest vitals and open alerts, in a fixed number
of queries."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling.booking.models import Session
from scheduling.chart.models import Alert, VitalSigns
from scheduling.chart.selectors import day_board

from ..api_world import build_world


@pytest.fixture
def world(db):
    return build_world(timezone.now())


def board_day(world):
    first = world.courses["own"].sessions.order_by("number").first()
    return first, first.starts_at.astimezone(world.clinic.tz).date()


def test_the_board_shows_the_days_sessions_with_latest_vitals_and_open_alerts(world):
    first, day = board_day(world)
    response = world.client("front_desk").get(
        "/api/v1/day-board/", {"clinic": world.clinic.pk, "date": day.isoformat()}
    )
    assert response.status_code == 200, response.json()
    board = response.json()
    assert [c["name"] for c in board["chairs"]] == ["Chair 1", "Chair 2", "Chair 3"]
    rows = {row["id"]: row for row in board["sessions"]}
    assert first.pk in rows
    assert all(row["local_start"][:10] == day.isoformat() for row in rows.values())
    row = rows[first.pk]
    latest = VitalSigns.objects.filter(session=first).order_by("-measured_at").first()
    assert row["latest_vitals"]["id"] == latest.pk and row["latest_vitals"]["systolic"] == 190
    assert [a["kind"] for a in row["open_alerts"]] == [Alert.Kind.VITALS_THRESHOLD]
    assert row["patient"]["last_name"] == world.patient.last_name
    assert world.foreign_patient.pk not in {r["patient"]["id"] for r in rows.values()}


def test_a_corrected_reading_is_not_the_latest(world):
    from scheduling.chart.services import vitals_record

    from ..conftest import NORMAL_VITALS

    first, _ = board_day(world)
    wrong = VitalSigns.objects.filter(session=first).order_by("-measured_at").first()
    fixed = vitals_record(session=first, by=world.users["nurse"], timepoint=wrong.timepoint,
                          amends=wrong, amendment_reason="typo", now=wrong.measured_at,
                          **NORMAL_VITALS)  # fmt: skip
    board = day_board(clinic=world.clinic, day=first.starts_at.astimezone(world.clinic.tz).date())
    (mine,) = [s for s in board.sessions if s.pk == first.pk]
    assert mine.latest_vitals.pk == fixed.pk


def test_a_session_at_local_midnight_is_on_its_own_days_board(world):
    """The day's edges: a session starting at the clinic's midnight belongs to that day,
    on SQLite (which compares stored times as text) as on PostgreSQL."""
    from clinic.models import Chair

    from ..conftest import make_patient

    _, day = board_day(world)
    day += dt.timedelta(days=30)
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=world.clinic.tz)
    late = midnight - dt.timedelta(minutes=1)
    ids = {}
    for name, start in (("midnight", midnight), ("late", late)):
        s = Session.objects.create(
            clinic=world.clinic, course=world.courses["other_patient"], number=8000 + len(ids),
            patient=make_patient(world.clinic, f"EDGE-{name}"), starts_at=start,
            ends_at=start + dt.timedelta(minutes=1),
            chair=Chair.objects.create(clinic=world.clinic, name=f"Edge {name}"),
        )  # fmt: skip
        ids[name] = s.pk

    on_the_day = {s.pk for s in day_board(clinic=world.clinic, day=day).sessions}
    the_day_before = {
        s.pk for s in day_board(clinic=world.clinic, day=day - dt.timedelta(days=1)).sessions
    }
    assert ids["midnight"] in on_the_day and ids["midnight"] not in the_day_before
    assert ids["late"] in the_day_before and ids["late"] not in on_the_day


def test_another_clinics_board_is_refused(world):
    _, day = board_day(world)
    response = world.client("front_desk").get(
        "/api/v1/day-board/", {"clinic": world.other_clinic.pk, "date": day.isoformat()}
    )
    assert response.status_code == 400 and "clinic" in response.json()["errors"]
    assert (
        world.client("patient").get("/api/v1/day-board/", {"clinic": world.clinic.pk}).status_code
        == 403
    )


def _fill(world, day, n):
    """n more sessions that day, each with three vitals readings and an open alert."""
    from clinic.models import Chair

    from ..conftest import make_patient

    nurse = world.users["nurse"]
    course = world.courses["other_patient"]
    base = dt.datetime.combine(day, dt.time(5), tzinfo=world.clinic.tz)
    count = Session.objects.count()
    for i in range(n):
        chair = Chair.objects.create(clinic=world.clinic, name=f"Load {count}-{i}")
        start = base + dt.timedelta(minutes=i)
        # One patient per session: the database refuses a patient in two places at once.
        patient = make_patient(world.clinic, f"LOAD-{count}-{i}")
        s = Session.objects.create(clinic=world.clinic, course=course, patient=patient,
                                   chair=chair, number=9000 + count + i, starts_at=start,
                                   ends_at=start + dt.timedelta(minutes=1))  # fmt: skip
        for k in range(3):
            v = VitalSigns.objects.create(session=s, timepoint="during", measured_at=start +
                                          dt.timedelta(minutes=10 * k), systolic=120 + k,
                                          diastolic=80, heart_rate=70, spo2=98,
                                          recorded_by=nurse, recorded_at=start)  # fmt: skip
        Alert.objects.create(
            clinic=world.clinic, patient=patient, session=s,
            kind="vitals_threshold", vitals=v, message="x", raised_at=start,
        )  # fmt: skip


def _queries(world, day) -> int:
    with CaptureQueriesContext(connection) as ctx:
        board = day_board(clinic=world.clinic, day=day)
        for s in board.sessions:  # everything the board shows, touched
            _ = (
                s.patient.last_name, s.chair_name, s.protocol_name, s.patient_response,
                s.latest_vitals and s.latest_vitals.systolic, [a.kind for a in s.open_alerts],
            )  # fmt: skip
    return len(ctx.captured_queries)


def test_the_board_asks_the_database_the_same_number_of_times_at_two_sizes(world):
    _, day = board_day(world)
    _fill(world, day, 5)
    small = _queries(world, day)
    _fill(world, day, 45)
    large = _queries(world, day)
    assert large == small <= 4
    assert len(day_board(clinic=world.clinic, day=day).sessions) >= 50


def _api_queries(world, day) -> int:
    client = world.client("front_desk")
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(
            "/api/v1/day-board/", {"clinic": world.clinic.pk, "date": day.isoformat()}
        )
    assert response.status_code == 200, response.json()
    return len(ctx.captured_queries)


def test_the_board_api_asks_the_same_number_of_times_at_two_sizes(world):
    # The selector alone can stay flat while the serializer reads a relation per row
    # (a reading's amended_by did): count the whole request.
    _, day = board_day(world)
    _fill(world, day, 5)
    # Frozen, and the token used once before: its last use is noted at most once a minute.
    with time_machine.travel(timezone.now(), tick=False):
        _api_queries(world, day)
        small = _api_queries(world, day)
        _fill(world, day, 45)
        large = _api_queries(world, day)
    assert large == small


def test_the_board_api_renders_the_answer_the_newest_reading_and_the_names(world):
    from rest_framework import serializers

    first, day = board_day(world)
    _fill(world, day, 3)
    answered_at = first.starts_at - dt.timedelta(days=1)
    first.patient_response, first.responded_at = "cancelled", answered_at
    first.save(update_fields=["patient_response", "responded_at"])
    newest = VitalSigns.objects.filter(session=first).order_by("-measured_at").first()
    reading = VitalSigns.objects.create(session=first, timepoint="after",
                                        measured_at=newest.measured_at + dt.timedelta(minutes=5),
                                        systolic=121, diastolic=79, heart_rate=66, spo2=97,
                                        respiratory_rate=14, temperature_c="36.6",
                                        recorded_by=world.users["nurse"],
                                        recorded_at=newest.measured_at)  # fmt: skip
    response = world.client("front_desk").get(
        "/api/v1/day-board/", {"clinic": world.clinic.pk, "date": day.isoformat()}
    )
    rows = {row["id"]: row for row in response.json()["sessions"]}
    row, when = rows[first.pk], serializers.DateTimeField().to_representation
    assert (row["patient_response"], row["responded_at"]) == ("cancelled", when(answered_at))
    assert row["local_start"] == first.starts_at.astimezone(world.clinic.tz).isoformat()
    assert row["chair_name"] == first.chair.name and row["protocol"] == first.course.protocol.name
    assert row["latest_vitals"]["id"] == reading.pk
    assert row["latest_vitals"]["temperature_c"] == "36.6"
    assert row["latest_vitals"]["amended_by"] is None
    assert [r["id"] for r in rows.values() if r["patient_response"]] == [first.pk]


def _page_queries(world, who, url, **params) -> int:
    from django.test import Client

    client = Client()
    client.force_login(world.users[who])
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_board_page_asks_the_same_number_of_times_at_two_sizes(world):
    """The page shows more of a session than the API (the patient's answer to the
    reminder): a field the selector leaves out is a query per row, which this catches."""
    import time_machine

    first, day = board_day(world)
    first.patient_response, first.responded_at = "confirmed", first.starts_at
    first.save(update_fields=["patient_response", "responded_at"])
    board = {"clinic": world.clinic.pk, "date": day.isoformat()}
    with time_machine.travel(first.starts_at, tick=False):
        _fill(world, day, 5)
        small = _page_queries(world, "front_desk", "/desk/board/", **board)
        small_today = _page_queries(world, "nurse", "/nurse/today/")
        _fill(world, day, 45)
        large = _page_queries(world, "front_desk", "/desk/board/", **board)
        large_today = _page_queries(world, "nurse", "/nurse/today/")
        page = _page(world, "/desk/board/", **board)
    assert large == small and large_today == small_today
    assert "Confirmed" in page


def _page(world, url, **params) -> str:
    from django.test import Client

    client = Client()
    client.force_login(world.users["front_desk"])
    return client.get(url, params).content.decode()


def test_every_documented_session_may_be_not_yet_answered(client, db):
    """A session's `patient_response` is blank until the patient answers: the schema
    says so wherever a session is documented (the day board's had refused the blank,
    which Schemathesis caught on a day with an unanswered session on the board)."""
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    components = schema["components"]["schemas"]

    def values(spec) -> set:
        if "$ref" in spec:
            return values(components[spec["$ref"].rsplit("/", 1)[1]])
        return set(spec.get("enum", [])).union(*(values(s) for s in spec.get("oneOf", [])))

    documented = {name: values(c["properties"]["patient_response"])
                  for name, c in components.items()
                  if "patient_response" in c.get("properties", {})}  # fmt: skip
    assert {"Session", "BoardSession"} <= set(documented)
    assert all(v == {"", "confirmed", "cancelled"} for v in documented.values()), documented
