"""Booking is usable from the Django admin, through the same services."""

import datetime as dt

import pytest
from django.utils import timezone

from scheduling.booking.models import Session, SessionStatusChange

from ..conftest import make_ready_patient


@pytest.fixture
def course(clinic, staff):
    from scheduling.booking.models import Protocol
    from scheduling.booking.services import course_start

    today = timezone.now().astimezone(clinic.tz).date()
    monday = today + dt.timedelta(days=7 - today.weekday())
    patient = make_ready_patient(clinic, "ADM-1")
    return course_start(
        patient=patient,
        protocol=Protocol.objects.get(code="iv-standard"),
        start_date=monday,
        preferred_weekdays=[0, 3],
        preferred_time=dt.time(10),
        by=staff["front_desk"],
    )


@pytest.fixture
def desk(client, staff):
    client.force_login(staff["front_desk"])
    return client


def change(client, session, **data):
    # The read-only history inline still posts its management form, as a browser would.
    n = session.status_changes.count()
    data.update({"status_changes-TOTAL_FORMS": n, "status_changes-INITIAL_FORMS": n})
    return client.post(f"/admin/scheduling/session/{session.pk}/change/", data)


def test_the_front_desk_moves_one_session_in_the_admin(desk, course):
    s4 = course.sessions.get(number=4)
    new_day = s4.starts_at.astimezone(course.clinic.tz).date() + dt.timedelta(days=1)

    response = change(
        desk, s4, operation="move", scope="one", new_date=new_day.isoformat(), new_time="14:00"
    )

    assert response.status_code == 302
    s4.refresh_from_db()
    local = s4.starts_at.astimezone(course.clinic.tz)
    assert (local.date(), local.time()) == (new_day, dt.time(14))


def test_a_refused_move_shows_the_rule_on_the_form_and_changes_nothing(desk, course):
    s4 = course.sessions.get(number=4)
    before = s4.starts_at
    sunday = s4.starts_at.astimezone(course.clinic.tz).date() + dt.timedelta(days=6)

    response = change(
        desk, s4, operation="move", scope="one", new_date=sunday.isoformat(), new_time="10:00"
    )

    assert response.status_code == 200
    assert b"outside the clinic&#x27;s opening hours" in response.content
    s4.refresh_from_db()
    assert s4.starts_at == before


def test_the_front_desk_cancels_this_and_following_in_the_admin(desk, course):
    s5 = course.sessions.get(number=5)
    response = change(desk, s5, operation="cancel", scope="following", reason="Moving away")
    assert response.status_code == 302
    statuses = list(course.sessions.order_by("number").values_list("status", flat=True))
    assert statuses[:4] == ["booked"] * 4
    assert set(statuses[4:]) == {"cancelled"}
    assert SessionStatusChange.objects.filter(note="Moving away").count() == len(statuses) - 4


def test_undo_from_the_admin_is_refused_for_the_front_desk(desk, course):
    s5 = course.sessions.get(number=5)
    change(desk, s5, operation="cancel", scope="one")
    response = change(desk, s5, operation="restore", scope="one", reason="Oops")
    assert response.status_code == 200
    assert b"Only a clinician can undo" in response.content
    s5.refresh_from_db()
    assert s5.status == Session.Status.CANCELLED


def test_a_session_is_booked_from_the_admin(desk, course):
    last = course.sessions.order_by("-number").first()
    day = last.starts_at.astimezone(course.clinic.tz).date() + dt.timedelta(days=7)
    while day.weekday() > 4:
        day += dt.timedelta(days=1)

    response = desk.post(
        "/admin/scheduling/session/add/",
        {"course": course.pk, "date": day.isoformat(), "time": "11:00"},
    )

    assert response.status_code == 302, response.content.decode()[:1500]
    new = course.sessions.order_by("-number").first()
    assert new.number == last.number + 1
    assert new.starts_at.astimezone(course.clinic.tz).date() == day


def test_the_session_change_page_shows_local_time_and_history(desk, course):
    s1 = course.sessions.get(number=1)
    response = desk.get(f"/admin/scheduling/session/{s1.pk}/change/")
    assert response.status_code == 200
    local = s1.starts_at.astimezone(course.clinic.tz)
    assert f"{local:%a %d %b %Y %H:%M}".encode() in response.content
    assert b"Planned from the protocol" in response.content
