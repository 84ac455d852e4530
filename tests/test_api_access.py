"""The access matrix: every role x every endpoint x an object of their own, of another
patient and of another clinic. Allowed where it should be; 403 or 404 otherwise; never
another's data in a list."""

import pytest
from django.utils import timezone

from .api_world import ROLES, build_world

STAFF = ROLES  # front_desk, nurse, clinician, clinic_admin
CALLERS = [*ROLES, "patient", "other_clinic_clinician", "anonymous"]
CARE = ["nurse", "clinician"]
# Who may read each kind at all ("patient": a patient's own login, own records only).
READERS = {
    "clinics": [*STAFF, "patient"],
    "chairs": STAFF,
    "patients": [*STAFF, "patient"],
    "contraindications": STAFF,
    "screenings": STAFF,
    "protocols": STAFF,
    "courses": [*STAFF, "patient"],
    "sessions": [*STAFF, "patient"],
    "vitals": CARE,
    "side-effects": CARE,
    "doses": CARE,
    "questionnaires": [*CARE, "patient"],
    "alerts": CARE,
    "reminders": STAFF,
}
KINDS = list(READERS)
GLOBAL = {"contraindications"}  # the same checklist for every clinic


@pytest.fixture
def world(db):
    return build_world(timezone.now())


def may_list(who: str, kind: str) -> bool:
    if who == "other_clinic_clinician":
        who = "clinician"
    return who in READERS[kind]


def expected_detail(who: str, kind: str, which: str) -> int:
    if who == "anonymous":
        return 401
    role = "clinician" if who == "other_clinic_clinician" else who
    if role not in READERS[kind]:
        return 403
    if who == "patient":
        return 200 if which == "own" else 404
    if kind in GLOBAL:
        return 200
    home = "foreign" if who == "other_clinic_clinician" else None
    if home:
        return 200 if which == home else 404
    return 404 if which == "foreign" else 200


def url(kind, obj=None):
    return f"/api/v1/{kind}/" + (f"{obj.pk}/" if obj is not None else "")


def ids(response):
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("kind", KINDS)
def test_every_caller_sees_exactly_what_is_theirs(world, kind):
    objects = world.objects(kind)
    assert all(objects.values()), objects  # the world has one of each to try
    for who in CALLERS:
        client = world.client(who)
        for which, obj in objects.items():
            response = client.get(url(kind, obj))
            expected = expected_detail(who, kind, which)
            assert response.status_code == expected, (who, which, response.json())
            if response.status_code != 200:  # the error shape, and nothing of the object
                assert set(response.json()) == {"status", "code", "detail", "errors"}

        listing = client.get(url(kind), {"page_size": 200})
        if who == "anonymous":
            assert listing.status_code == 401
            continue
        if not may_list(who, kind):
            assert listing.status_code == 403, who
            continue
        assert listing.status_code == 200, who
        seen = ids(listing)
        for which, obj in objects.items():
            visible = expected_detail(who, kind, which) == 200
            assert (obj.pk in seen) == visible, (who, which, seen)


@pytest.mark.parametrize(
    ("who", "action", "expected"),
    [
        ("front_desk", "move", 200),
        ("nurse", "move", 200),
        ("clinician", "move", 200),
        ("clinic_admin", "move", 403),
        ("patient", "move", 403),
        ("front_desk", "check-in", 403),
        ("clinic_admin", "check-in", 403),
        ("patient", "no-show", 403),
        ("front_desk", "restore", 403),
        ("nurse", "restore", 403),
        ("other_clinic_clinician", "move", 404),
        ("other_clinic_clinician", "cancel", 404),
        ("patient", "cancel", 200),
    ],
)
def test_session_actions_follow_the_roles(world, who, action, expected):
    session = world.objects("sessions")["own"].course.sessions.order_by("number")[3]
    body = {}
    if action == "move":
        body = {"starts_at": (session.starts_at + timezone.timedelta(hours=1)).isoformat()}
    if action == "restore":
        body = {"reason": "test"}
    response = world.client(who).post(
        f"/api/v1/sessions/{session.pk}/{action}/", body, format="json"
    )
    assert response.status_code == expected, response.json()


def test_a_patient_cannot_act_on_another_patients_session(world):
    other = world.courses["other_patient"].sessions.order_by("number")[3]
    response = world.client("patient").post(
        f"/api/v1/sessions/{other.pk}/cancel/", {}, format="json"
    )
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == "booked"


def test_a_patient_cancels_only_one_session_at_a_time(world):
    own = world.objects("sessions")["own"]
    response = world.client("patient").post(
        f"/api/v1/sessions/{own.pk}/cancel/", {"scope": "all"}, format="json"
    )
    assert response.status_code == 400
    assert "scope" in response.json()["errors"]


@pytest.mark.parametrize("who", ["front_desk", "clinician", "clinic_admin"])
def test_staff_register_patients_only_at_their_own_clinic(world, who):
    body = {
        "clinic": world.other_clinic.pk, "mrn": "X-9", "first_name": "New",
        "last_name": "Person", "birth_date": "1990-01-01",
    }  # fmt: skip
    response = world.client(who).post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400
    assert "clinic" in response.json()["errors"]


def test_a_nurse_cannot_register_a_patient(world):
    body = {"clinic": world.clinic.pk, "mrn": "X-9", "first_name": "N", "last_name": "P",
            "birth_date": "1990-01-01"}  # fmt: skip
    assert world.client("nurse").post("/api/v1/patients/", body, format="json").status_code == 403


def test_only_a_clinic_admin_edits_the_clinic(world):
    for who, expected in (("front_desk", 403), ("clinician", 403), ("clinic_admin", 200)):
        response = world.client(who).patch(
            f"/api/v1/clinics/{world.clinic.pk}/", {"phone": "+441179460001"}, format="json"
        )
        assert response.status_code == expected, who
