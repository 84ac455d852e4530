"""API tokens (django-rest-knox, `clinic.ApiToken`): issued by password or from a web
session, shown once and stored as a digest only, named, expiring, listed and revoked by
their owner and by a clinic admin for the clinic's staff (another's: a 404)."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.crypto import hash_token
from rest_framework.test import APIClient

from clinic.models import ApiToken, StaffMembership
from clinic.services import staff_membership_add

from .conftest import api_token, make_patient

TOKENS = "/api/v1/tokens/"
PASSWORD = "pw-for-tests-only"  # the `staff` fixture's


def as_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def issue(client, **body):
    return client.post(TOKENS, body, format="json")


@pytest.fixture
def nurse(staff):
    return staff["nurse"]


@pytest.fixture
def foreign_nurse(other_clinic):
    user = get_user_model().objects.create_user(username="elsewhere", password=PASSWORD)
    staff_membership_add(user=user, clinic=other_clinic, role=StaffMembership.Role.NURSE)
    return user


def test_a_token_issued_by_password_is_shown_once_and_works(staff, nurse):
    before = timezone.now()
    response = issue(APIClient(), name="ward tablet", username="nurse", password=PASSWORD)
    assert response.status_code == 201, response.json()
    issued = response.json()
    assert issued["name"] == "ward tablet" and issued["username"] == "nurse"
    ttl = settings.REST_KNOX["TOKEN_TTL"]
    assert ttl == dt.timedelta(days=30)
    expiry = dt.datetime.fromisoformat(issued["expiry"])
    assert before + ttl <= expiry <= timezone.now() + ttl

    works = as_token(issued["token"]).get("/api/v1/sessions/")
    assert works.status_code == 200
    listed = as_token(issued["token"]).get(TOKENS).json()["results"]
    assert [t["name"] for t in listed] == ["ward tablet"]
    assert "token" not in listed[0] and issued["token"] not in str(listed)
    assert listed[0]["last_used"] is not None and listed[0]["created"]


def test_a_signed_in_web_session_issues_a_token_without_the_password(client, nurse):
    client.force_login(nurse)
    response = client.post(TOKENS, {"name": "script"}, content_type="application/json")
    assert response.status_code == 201, response.json()
    assert as_token(response.json()["token"]).get("/api/v1/sessions/").status_code == 200


def test_a_token_cannot_issue_another(nurse):
    """Else a token could be renewed for ever and its expiry would mean nothing."""
    response = issue(as_token(api_token(nurse)), name="longer")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "password"}
    assert ApiToken.objects.filter(user=nurse).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "nurse", "password": PASSWORD}, "name"),
        ({"name": "", "username": "nurse", "password": PASSWORD}, "name"),
        ({"name": "x" * 101, "username": "nurse", "password": PASSWORD}, "name"),
        ({"name": "t", "username": "nurse"}, "password"),
        ({"name": "t", "password": PASSWORD}, "username"),
        ({"name": "t", "username": "nurse", "password": "wrong"}, "password"),
        ({"name": 5, "username": "nurse", "password": PASSWORD}, "name"),
        ({"name": "t"}, "username"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(nurse, body, field):
    response = issue(APIClient(), **body)
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not ApiToken.objects.exists()


def test_issuing_by_password_counts_towards_the_lockout(nurse):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert issue(APIClient(), name="t", username="nurse", password="no").status_code == 400
    locked = issue(APIClient(), name="t", username="nurse", password="no")
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out" and set(locked.json()) == {
        "status", "code", "detail", "errors"
    }  # fmt: skip
    right = issue(APIClient(), name="t", username="nurse", password=PASSWORD)
    assert right.status_code == 429 and not ApiToken.objects.exists()


def test_by_password_alone_a_user_who_owes_a_second_factor_gets_no_token(clinic, nurse):
    clinic.staff_two_factor_required = True
    clinic.save()
    response = issue(APIClient(), name="t", username="nurse", password=PASSWORD)
    assert response.status_code == 403
    assert response.json()["code"] == "second_factor_required"
    assert not ApiToken.objects.exists()


def test_an_expired_token_is_a_401_and_is_deleted(nurse):
    token = api_token(nurse)
    expiry = ApiToken.objects.get().expiry
    with time_machine.travel(expiry - dt.timedelta(seconds=1), tick=False):
        assert as_token(token).get("/api/v1/sessions/").status_code == 200
    with time_machine.travel(expiry + dt.timedelta(seconds=1), tick=False):
        response = as_token(token).get("/api/v1/sessions/")
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("header", ["Token caf\u00e9", "Token " + "0" * 64, "Token a-b"])
def test_a_malformed_or_unknown_token_is_a_401(nurse, header):
    api_token(nurse)
    response = APIClient().get("/api/v1/sessions/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."


def test_a_revoked_token_is_a_401(nurse):
    token = api_token(nurse)
    client = as_token(token)
    [row] = client.get(TOKENS).json()["results"]
    assert client.delete(f"{TOKENS}{row['id']}/").status_code == 204
    response = client.get("/api/v1/sessions/")
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."


def test_the_database_holds_a_digest_never_the_token(nurse):
    token = api_token(nurse)
    row = ApiToken.objects.values().get()
    assert not any(token in str(value) for value in row.values())
    assert row["digest"] == hash_token(token) and len(row["digest"]) == 128
    # knox keeps the token's first 15 characters to find the row by: never the rest.
    assert row["token_key"] == token[:15] and len(token) == 64


def test_another_users_token_cannot_be_revoked(staff, nurse):
    nurses = api_token(nurse)
    front_desk = as_token(api_token(staff["front_desk"]))
    theirs = ApiToken.objects.get(user=nurse)
    assert [t["username"] for t in front_desk.get(TOKENS).json()["results"]] == ["front_desk"]
    assert front_desk.delete(f"{TOKENS}{theirs.pk}/").status_code == 404
    assert front_desk.delete(f"{TOKENS}999999/").status_code == 404  # the same as missing
    assert as_token(nurses).get("/api/v1/sessions/").status_code == 200


def test_a_clinic_admin_lists_and_revokes_their_staffs_tokens_only(
    clinic, staff, nurse, foreign_nurse
):
    nurses, foreign = api_token(nurse), api_token(foreign_nurse)
    patient = make_patient(clinic, user=get_user_model().objects.create_user("pat"))
    api_token(patient.user)
    admin = as_token(api_token(staff["clinic_admin"]))
    listed = admin.get(TOKENS).json()["results"]
    assert sorted(t["username"] for t in listed) == ["clinic_admin", "nurse"]
    assert admin.get(TOKENS, {"user": nurse.pk}).json()["count"] == 1

    for user in (foreign_nurse, patient.user):  # not the clinic's staff: as if missing
        token = ApiToken.objects.get(user=user)
        assert admin.delete(f"{TOKENS}{token.pk}/").status_code == 404
    assert as_token(foreign).get("/api/v1/sessions/").status_code == 200

    mine = ApiToken.objects.get(user=nurse)
    assert admin.delete(f"{TOKENS}{mine.pk}/").status_code == 204
    assert as_token(nurses).get("/api/v1/sessions/").status_code == 401


def test_a_request_by_token_costs_two_queries_to_authenticate(nurse, django_assert_num_queries):
    """The token with its user (knox's look-up by the token's first characters), then the
    caller's roles; the chairs' page count and rows follow. Noting the token's last use
    adds one UPDATE, at most once a minute."""
    client = as_token(api_token(nurse))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        with django_assert_num_queries(5) as first:
            assert client.get("/api/v1/chairs/").status_code == 200
        assert first.captured_queries[1]["sql"].startswith('UPDATE "clinic_apitoken"')
        traveller.shift(dt.timedelta(seconds=59))
        with django_assert_num_queries(4) as later:
            assert client.get("/api/v1/chairs/").status_code == 200
        assert '"clinic_apitoken"' in later.captured_queries[0]["sql"]
        assert '"clinic_staffmembership"' in later.captured_queries[1]["sql"]
        traveller.shift(dt.timedelta(seconds=2))
        with django_assert_num_queries(5):
            assert client.get("/api/v1/chairs/").status_code == 200


def test_the_token_endpoints_and_scheme_are_in_the_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    assert {"tokenAuth": []} in schema["paths"]["/api/v1/chairs/"]["get"]["security"]
    paths = schema["paths"]
    assert set(paths[TOKENS]) == {"get", "post"}
    assert set(paths[TOKENS + "{id}/"]) == {"delete"}
    assert "429" in paths[TOKENS]["post"]["responses"]


def test_issuing_tokens_is_rate_limited_with_the_apis_429(nurse, monkeypatch):
    from django.core.cache import cache

    from clinic.api.base import TokenCreationThrottle

    cache.clear()
    monkeypatch.setattr(TokenCreationThrottle, "THROTTLE_RATES", {"token": "2/m"})
    client = APIClient()
    body = {"name": "script", "username": nurse.username, "password": PASSWORD}
    answers = [issue(client, **body) for _ in range(3)]
    cache.clear()
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["code"] == "throttled"
