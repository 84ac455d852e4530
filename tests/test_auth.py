"""Signing in: lockout after repeated failures, API tokens (idle sessions: test_sessions.py)."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from .conftest import api_token


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user(username="nina", password="right-pass-123")


def attempt(client, password):
    return client.post(reverse("login"), {"username": "nina", "password": password})


def test_repeated_failed_logins_lock_the_account_out(client, user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "wrong").status_code == 200  # the form again, with an error
    assert attempt(client, "wrong").status_code == 429  # the last allowed failure locks
    locked = attempt(client, "right-pass-123")
    assert locked.status_code == 429  # even the right password is refused while locked
    assert "_auth_user_id" not in client.session


def test_a_good_login_before_the_limit_resets_the_count(client, user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, "right-pass-123").status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, "right-pass-123").status_code == 302


def test_api_clients_authenticate_with_a_token(client, user):
    token = api_token(user)
    assert client.get("/api/v1/sessions/").status_code == 401
    response = client.get("/api/v1/sessions/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 403  # authenticated, but no role anywhere


def test_a_wrong_revoked_or_disabled_token_is_refused(client, user):
    token = api_token(user)
    as_token = {"HTTP_AUTHORIZATION": f"Token {token}"}
    wrong = client.get("/api/v1/sessions/", HTTP_AUTHORIZATION="Token " + "0" * 64)
    assert wrong.status_code == 401 and wrong.json()["detail"] == "Invalid token."

    user.is_active = False
    user.save()
    disabled = client.get("/api/v1/sessions/", **as_token)
    assert disabled.status_code == 401 and disabled.json()["detail"] == "User inactive or deleted."

    user.is_active = True
    user.save()
    assert client.get("/api/v1/sessions/", **as_token).status_code == 403  # known again
    user.auth_token_set.all().delete()
    revoked = client.get("/api/v1/sessions/", **as_token)
    assert revoked.status_code == 401 and revoked.json()["detail"] == "Invalid token."


def test_the_api_authenticates_with_knox_tokens_then_the_session():
    from knox.auth import TokenAuthentication as KnoxTokenAuthentication
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.settings import api_settings

    from clinic.api.auth import TokenAuthentication

    assert issubclass(TokenAuthentication, KnoxTokenAuthentication)
    # Token first: an unauthenticated call gets 401 with "WWW-Authenticate: Token".
    assert [
        TokenAuthentication,
        SessionAuthentication,
    ] == api_settings.DEFAULT_AUTHENTICATION_CLASSES


def test_the_callers_roles_are_read_fresh_on_every_request(client, user, clinic):
    """Never kept from one request to the next: a role granted or taken away acts at
    once."""
    from clinic.api.base import Caller
    from clinic.models import StaffMembership
    from clinic.services import staff_membership_add

    as_token = {"HTTP_AUTHORIZATION": f"Token {api_token(user)}"}
    assert client.get("/api/v1/sessions/", **as_token).status_code == 403  # no role yet
    staff_membership_add(user=user, clinic=clinic, role=StaffMembership.Role.NURSE)
    staff_membership_add(user=user, clinic=clinic, role=StaffMembership.Role.FRONT_DESK)
    assert client.get("/api/v1/sessions/", **as_token).status_code == 200
    assert Caller(user).roles == {clinic.id: {"nurse", "front_desk"}}

    StaffMembership.objects.filter(user=user).delete()
    assert client.get("/api/v1/sessions/", **as_token).status_code == 403
