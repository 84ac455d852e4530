"""Sessions end after the clinic's idle time (a page's poll is not activity), after the
absolute lifetime, and when the user's staff roles change."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session as WebSession
from django.urls import reverse

from clinic.models import StaffMembership
from clinic.services import staff_membership_add
from tests.conftest import at

START = at(2027, 1, 4, 9)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def desk(clinic, staff, client, clock):
    clinic.idle_logoff_minutes = 15
    clinic.save()
    client.force_login(staff["front_desk"])
    return client


def board(client):
    return client.get(reverse("pages:board"))


def board_poll(client):
    """The board's own refresh: htmx, marked as a poll."""
    return client.get(reverse("pages:board"), headers={"HX-Request": "true", "X-Poll": "1"})


def signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_staff_session_ends_after_the_clinics_idle_time(desk, clock):
    assert board(desk).status_code == 200
    clock.shift(15 * MINUTE)
    assert board(desk).status_code == 200  # exactly the limit: still signed in
    clock.shift(15 * MINUTE + dt.timedelta(seconds=1))
    response = board(desk)
    assert signed_out(response)
    assert SESSION_KEY not in desk.session
    page = desk.get(response["Location"])
    assert "signed out after 15 minutes without activity" in page.content.decode()


def test_the_boards_poll_does_not_keep_the_session_alive(desk, clock):
    assert board(desk).status_code == 200
    for _ in range(15):
        clock.shift(MINUTE)
        assert board_poll(desk).status_code == 200  # the board goes on refreshing...
    clock.shift(dt.timedelta(seconds=1))
    assert board_poll(desk)["HX-Redirect"].startswith(reverse("login"))  # ...until the end
    assert SESSION_KEY not in desk.session


def test_activity_keeps_the_session_alive(desk, clock):
    for _ in range(6):
        clock.shift(10 * MINUTE)
        assert board(desk).status_code == 200
    clock.shift(10 * MINUTE)
    assert desk.post(reverse("keep_alive")).status_code == 204  # "stay signed in"
    clock.shift(14 * MINUTE)
    assert board(desk).status_code == 200


def test_stay_signed_in_after_the_end_is_a_401(desk, clock):
    clock.shift(16 * MINUTE)
    assert desk.post(reverse("keep_alive")).status_code == 401


def test_the_absolute_lifetime_ends_an_active_session(desk, clock, settings):
    settings.SESSION_ABSOLUTE_HOURS = 2
    for _ in range(12):
        clock.shift(10 * MINUTE)
        assert board(desk).status_code == 200
    clock.shift(dt.timedelta(seconds=1))
    response = board(desk)
    assert signed_out(response)
    assert "a session lasts 2 hours at most" in desk.get(response["Location"]).content.decode()


def test_a_patient_gets_the_site_default(client, patient, clock, settings):
    settings.SESSION_IDLE_MINUTES = 30
    user = get_user_model().objects.create_user(username="pat", password="x")
    patient.user = user
    patient.save()
    client.force_login(user)
    clock.shift(29 * MINUTE)
    assert client.get(reverse("pages:portal")).status_code == 200
    clock.shift(31 * MINUTE)
    assert signed_out(client.get(reverse("pages:portal")))


def test_the_shortest_idle_time_of_the_users_clinics_applies(desk, staff, clinic, clock):
    from tests.conftest import make_clinic

    strict = make_clinic(slug="strict")
    strict.idle_logoff_minutes = 5
    strict.save()
    user = staff["nurse"]
    staff_membership_add(user=user, clinic=strict, role=StaffMembership.Role.NURSE)
    desk.force_login(user)
    clock.shift(6 * MINUTE)
    assert signed_out(desk.get(reverse("pages:today")))


def test_the_pages_carry_the_idle_time_for_the_warning(desk):
    html = board(desk).content.decode()
    assert 'data-idle-seconds="900"' in html
    assert 'id="idle-warning"' in html and "clinic/idle.js" in html


def test_a_role_added_or_taken_away_ends_that_users_sessions(staff, clinic, client, clock):
    from django.test import Client

    nurse, other = staff["nurse"], staff["clinician"]
    client.force_login(nurse)
    bystander = Client()
    bystander.force_login(other)
    assert client.get(reverse("pages:today")).status_code == 200

    staff_membership_add(user=nurse, clinic=clinic, role=StaffMembership.Role.FRONT_DESK)
    assert signed_out(client.get(reverse("pages:today")))
    assert bystander.get(reverse("pages:today")).status_code == 200  # others keep theirs

    client.force_login(nurse)
    StaffMembership.objects.filter(user=nurse, role=StaffMembership.Role.FRONT_DESK).delete()
    assert not WebSession.objects.filter(session_key=client.session.session_key).exists()
    assert signed_out(client.get(reverse("pages:today")))


def test_signing_in_gives_a_new_session_key(client, db):
    get_user_model().objects.create_user(username="nina", password="right-pass-123")
    client.get(reverse("login"))
    client.cookies["sessionid"] = "x" * 32
    before = client.session.session_key
    client.post(reverse("login"), {"username": "nina", "password": "right-pass-123"})
    assert client.session.session_key != before
