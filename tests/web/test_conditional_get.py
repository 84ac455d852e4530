"""Cheap polling (issue 16 item 5): the day board and the chart, pages and API, answer a
conditional GET with `304 Not Modified` while nothing they show has changed, for the
same user only, in a fixed few queries; any write they show makes the next poll a 200."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from patients.models import Patient, RecordAccess
from scheduling.booking.services import course_start
from scheduling.chart.models import Alert
from scheduling.chart.services import alert_acknowledge, vitals_record

from ..chart.test_api_chart import api
from ..conftest import NORMAL_VITALS, chart_check_in, chart_dose, make_ready_patient

MIN = dt.timedelta(minutes=1)
DAY = dt.date(2027, 1, 4)  # the iv_session's day, 10:00 London (= UTC in winter)
NOW = dt.datetime(2027, 1, 4, 9, 56, tzinfo=dt.UTC)  # checked in at 09:55


@pytest.fixture
def checked_in(iv_session, staff):
    with time_machine.travel(NOW, tick=False):
        chart_check_in(iv_session, nurse=staff["nurse"], now=NOW - MIN)
        yield iv_session


def page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def loaded(user, url, params=None) -> Client:
    """A browser that has loaded the page (and has the CSRF cookie its forms carry)."""
    client = page(user)
    assert client.get(url, params or {}).status_code == 200
    return client


class Poller:
    """One screen polling one URL: it sends back the ETag of the last 200 it got."""

    def __init__(self, client, url, params=None, **headers):
        self.client, self.url, self.params, self.headers = client, url, params or {}, headers
        self.tag = None
        self.queries = None

    def get(self, tag=None):
        headers = dict(self.headers)
        if tag or self.tag:
            headers["If-None-Match"] = tag or self.tag
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(self.url, self.params, headers=headers)
        self.queries = len(ctx.captured_queries)
        if response.status_code == 200:
            self.tag = response["ETag"]
        return response

    def status(self, tag=None) -> int:
        return self.get(tag).status_code


def board_page(user, clinic):
    params = {"clinic": clinic.pk, "date": DAY.isoformat()}
    # As the board's own refresh sends it: htmx, marked as a poll (not activity).
    return Poller(
        loaded(user, "/desk/board/", params), "/desk/board/", params, HX_Request="true", X_Poll="1"
    )


def board_api(user, clinic):
    return Poller(api(user), "/api/v1/day-board/", {"clinic": clinic.pk, "date": DAY.isoformat()})


def chart_page(user, session):
    url = f"/chart/{session.pk}/"
    return Poller(loaded(user, url), url, HX_Request="true")


def chart_api(user, session):
    return Poller(api(user), f"/api/v1/sessions/{session.pk}/chart/")


def quiet_reading(session, nurse):
    """A reading past no threshold: no alert, only the reading and the session marked."""
    return vitals_record(session=session, by=nurse, timepoint="pre_dose", **NORMAL_VITALS)


def high_reading(session, nurse):
    return vitals_record(
        session=session, by=nurse, timepoint="pre_dose", **{**NORMAL_VITALS, "systolic": 190}
    )


POLLED = {
    "board page": lambda staff, s: board_page(staff["front_desk"], s.clinic),
    "board api": lambda staff, s: board_api(staff["front_desk"], s.clinic),
    "chart page": lambda staff, s: chart_page(staff["nurse"], s),
    "chart api": lambda staff, s: chart_api(staff["nurse"], s),
}


@pytest.mark.parametrize("polled", POLLED)
def test_an_unchanged_poll_is_a_304_and_a_new_reading_makes_it_a_200(checked_in, staff, polled):
    poller = POLLED[polled](staff, checked_in)
    first = poller.get()
    assert first.status_code == 200 and first["ETag"].startswith('"')
    assert "private" in first["Cache-Control"] and "no-cache" in first["Cache-Control"]
    unchanged = poller.get()
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged["ETag"] == first["ETag"]
    quiet_reading(checked_in, staff["nurse"])
    assert poller.status() == 200
    assert poller.status() == 304


@pytest.mark.parametrize("polled", POLLED)
def test_an_alert_raised_and_acknowledged_makes_the_next_poll_a_200(checked_in, staff, polled):
    poller = POLLED[polled](staff, checked_in)
    poller.get()
    high_reading(checked_in, staff["nurse"])
    assert poller.status() == 200
    assert poller.status() == 304
    alert = Alert.objects.get(session=checked_in)
    alert_acknowledge(alert=alert, by=staff["clinician"], note="Rechecked: 150/85.")
    assert poller.status() == 200
    assert poller.status() == 304


@pytest.mark.parametrize("polled", ["board page", "board api"])
def test_a_booking_that_day_makes_the_boards_next_poll_a_200(checked_in, staff, polled):
    poller = POLLED[polled](staff, checked_in)
    poller.get()
    assert poller.status() == 304
    course_start(
        patient=make_ready_patient(checked_in.clinic, "MRN-2"), protocol=checked_in.course.protocol,
        start_date=DAY, preferred_weekdays=[0, 3], preferred_time=dt.time(14),
        by=staff["front_desk"], now=NOW,
    )  # fmt: skip
    assert poller.status() == 200
    assert poller.status() == 304


@pytest.mark.parametrize("polled", POLLED)
def test_a_patient_renamed_makes_the_next_poll_a_200(checked_in, staff, polled):
    poller = POLLED[polled](staff, checked_in)
    poller.get()
    Patient.objects.filter(pk=checked_in.patient_id).update(last_name="Renamed")
    assert poller.status() == 200


@pytest.mark.parametrize(
    "polled, other",
    [
        ("board page", "nurse"),
        ("board api", "nurse"),
        ("chart page", "clinician"),
        ("chart api", "clinician"),
    ],
)
def test_another_user_sending_the_same_etag_gets_a_200(checked_in, staff, polled, other):
    mine = POLLED[polled](staff, checked_in)
    mine.get()
    assert mine.status() == 304
    client = page(staff[other]) if "page" in polled else api(staff[other])
    theirs = Poller(client, mine.url, mine.params, **mine.headers)
    assert theirs.status(mine.tag) == 200
    assert theirs.tag != mine.tag


def test_a_page_with_a_message_waiting_is_never_a_304(checked_in, staff):
    """A flash message shows on the next page (e.g. "your reading was not saved" after
    signing in again): a 304 would leave it unseen."""
    from django.contrib.messages import WARNING
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.http import HttpRequest, HttpResponse

    url = f"/chart/{checked_in.pk}/"
    poller = Poller(loaded(staff["nurse"], url), url)  # the whole page, which shows messages
    poller.get()
    assert poller.status() == 304
    storage, carrier = CookieStorage(HttpRequest()), HttpResponse()
    storage.add(WARNING, "Your reading was not saved.")
    storage.update(carrier)
    poller.client.cookies["messages"] = carrier.cookies["messages"].value
    shown = poller.get()
    assert shown.status_code == 200 and "Your reading was not saved." in shown.content.decode()
    assert poller.status() == 304  # shown once, and gone


def test_the_chart_moves_on_with_the_clock_alone(iv_session, staff):
    """No write, yet the chart changes: the observation's countdown, a check overdue."""
    start = dt.datetime(2027, 1, 4, 9, 55, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        chart_check_in(iv_session, nurse=staff["nurse"], now=start, pre_dose_vitals=None)
        poller = chart_api(staff["nurse"], iv_session)
        assert poller.get().json()["vitals_overdue"] == []
        clock.shift(5 * MIN)
        assert poller.status() == 304  # the pre-dose check is not yet overdue
        clock.shift(MIN)
        overdue = poller.get()
        assert overdue.status_code == 200 and len(overdue.json()["vitals_overdue"]) == 1
        quiet_reading(iv_session, staff["nurse"])
        clock.shift(MIN)
        chart_dose(iv_session, nurse=staff["nurse"], now=start + 7 * MIN)
        counting = poller.get().json()["discharge_problems"]["observation"]
        clock.shift(dt.timedelta(seconds=10))
        assert poller.status() == 304  # the same minute of the countdown
        clock.shift(MIN)
        later = poller.get()
        assert later.status_code == 200
        assert later.json()["discharge_problems"]["observation"] != counting


# What a 304 costs, query by query. The pages: the session and the user, the caller's
# roles (clinic.api.base.Caller), the clinic from the query string (the board's form),
# and for the chart at the end the session saved again, its last activity moved on (the
# idle sign-out, clinic/sessions.py: a savepoint, the UPDATE, its release); the board's
# poll is not activity and saves nothing. The API: the token with its
# user (DRF's TokenAuthentication), the caller's roles, and for the board the clinic.
# Then the validator: the board's two (the day's sessions; the clinic's chairs and open
# notices), the chart's one (the session as the access check reads it, which is the
# validator).
COST_OF_304 = {
    "board page": 4 + 2,
    "board api": 3 + 2,
    "chart page": 3 + 1 + 3,
    "chart api": 2 + 1,
}


@pytest.mark.parametrize("polled", POLLED)
def test_a_304_costs_a_fixed_few_queries(checked_in, staff, polled):
    poller = POLLED[polled](staff, checked_in)
    poller.get()
    assert poller.status() == 304
    assert poller.queries == COST_OF_304[polled]


@pytest.mark.parametrize("polled", ["board page", "chart page"])
def test_a_304_logs_no_read_as_it_sends_no_patient_data(checked_in, staff, polled):
    poller = POLLED[polled](staff, checked_in)
    poller.get()
    logged = RecordAccess.objects.count()
    assert poller.status() == 304
    assert RecordAccess.objects.count() == logged
    quiet_reading(checked_in, staff["nurse"])
    assert poller.status() == 200
    assert RecordAccess.objects.count() > logged
