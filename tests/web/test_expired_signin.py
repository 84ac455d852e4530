"""Nothing typed is lost to an expired sign-in: a form sent while signed out is kept in the
session, the login sends the user back to the page the form was on (never to a URL that
only takes POST), and that page offers the values back with a message that they were not
saved."""

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.sessions.models import Session as WebSession
from django.urls import reverse
from django.utils import timezone

from clinic.signin import KEPT
from patients.models import RecordAccess
from scheduling.booking.models import Session
from scheduling.chart.models import Alert, VitalSigns

from ..conftest import at, chart_check_in, chart_dose

NOW = at(2027, 1, 4, 9)
PASSWORD = "pw-for-tests-only"  # the staff fixture's
TYPED = {
    "timepoint": "during",
    "systolic": "191",  # past the alert threshold: a write would raise an alert too
    "diastolic": "83",
    "heart_rate": "67",
    "spo2": "97",
    "respiratory_rate": "15",
    "temperature_c": "36.6",
}
READING_NOT_SAVED = (
    "Your reading was not saved because you were signed out; check the values and save again."
)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def dosing(iv_session, staff, frozen):
    """The nurse's chair: checked in and dosed, so the vitals form is on the chart."""
    chart_check_in(iv_session, nurse=staff["nurse"], now=NOW)
    chart_dose(iv_session, nurse=staff["nurse"], now=NOW)
    return iv_session


def post_signed_out(client, url, data, **headers):
    """A form sent from a page left open after the sign-in expired."""
    return client.post(url, {**data, "csrfmiddlewaretoken": "x" * 32}, headers=headers)


def next_of(login_url: str) -> str:
    assert urlsplit(login_url).path == reverse("login")
    return parse_qs(urlsplit(login_url).query)["next"][0]


def sign_in(client, user, next_url):
    """Sign in the way a browser does: the login page, then its form with `next`."""
    page = client.get(reverse("login"), {"next": next_url})
    hidden = re.search(r'name="next" value="([^"]*)"', page.content.decode()).group(1)
    return client.post(
        reverse("login"), {"username": user.username, "password": PASSWORD, "next": hidden}
    )


def field_value(html: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    value = tag and re.search(r'value="([^"]*)"', tag.group(0))
    return value and value.group(1)


def test_a_signed_out_vitals_post_goes_to_the_login_with_the_chart_as_next(client, dosing):
    response = post_signed_out(client, reverse("pages:chart_vitals", args=[dosing.id]), TYPED)
    assert response.status_code == 302
    assert next_of(response["Location"]) == reverse("pages:chart", args=[dosing.id])


def test_signing_in_again_lands_on_the_chart_with_the_typed_values_and_the_message(
    client, dosing, staff
):
    client.force_login(staff["nurse"])
    client.get(reverse("pages:chart", args=[dosing.id]))  # the chart open on the nurse's screen
    WebSession.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))  # idle

    sent = post_signed_out(client, reverse("pages:chart_vitals", args=[dosing.id]), TYPED)
    signed_in = sign_in(client, staff["nurse"], next_of(sent["Location"]))
    chart_url = reverse("pages:chart", args=[dosing.id])
    assert signed_in.status_code == 302 and signed_in["Location"] == chart_url

    page = client.get(chart_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert READING_NOT_SAVED in html
    for name in ("systolic", "diastolic", "heart_rate", "spo2", "respiratory_rate"):
        assert field_value(html, name) == TYPED[name], name
    assert field_value(html, "temperature_c") == "36.6"
    assert re.search(r'<option value="during" selected>', html)
    assert not VitalSigns.objects.filter(session=dosing, systolic=191).exists()

    # Offered once: the next visit is the plain chart.
    again = client.get(chart_url).content.decode()
    assert READING_NOT_SAVED not in again and field_value(again, "systolic") is None


def test_a_signed_out_post_writes_nothing_and_keeps_the_values_in_the_session_only(
    client, dosing, staff
):
    def written():
        return (
            VitalSigns.objects.count(),
            Alert.objects.count(),
            RecordAccess.objects.count(),
            Session.objects.get(pk=dosing.pk).status,
        )

    before = written()
    sent = post_signed_out(
        client,
        reverse("pages:chart_vitals", args=[dosing.id]),
        {**TYPED, "password": "never-kept"},
    )
    assert written() == before
    assert "191" not in sent["Location"]  # nothing typed goes into a URL
    kept = client.session[KEPT]
    assert kept["fields"] == TYPED  # neither the CSRF token nor a password is kept
    assert kept["page"] == reverse("pages:chart", args=[dosing.id])


def test_the_login_does_not_follow_a_next_that_only_takes_post(client, dosing, staff):
    vitals_url = reverse("pages:chart_vitals", args=[dosing.id])
    signed_in = sign_in(client, staff["nurse"], vitals_url)
    assert signed_in["Location"] == reverse("pages:chart", args=[dosing.id])
    assert client.get(signed_in["Location"]).status_code == 200

    client.post(reverse("logout"))
    signed_in = sign_in(client, staff["nurse"], reverse("logout"))  # Django's is POST-only
    assert signed_in["Location"] != reverse("logout")
    assert client.get(signed_in["Location"], follow=True).status_code == 200


def test_a_signed_out_get_of_a_post_only_url_goes_to_the_login_for_its_page(client, dosing):
    response = client.get(reverse("pages:chart_vitals", args=[dosing.id]))
    assert next_of(response["Location"]) == reverse("pages:chart", args=[dosing.id])


def test_a_signed_out_htmx_post_sends_the_whole_page_to_the_login(client, dosing):
    response = post_signed_out(
        client, reverse("pages:chart_vitals", args=[dosing.id]), TYPED, HX_Request="true"
    )
    assert response.status_code == 200  # htmx follows HX-Redirect, not a 302 in an XHR
    assert next_of(response["HX-Redirect"]) == reverse("pages:chart", args=[dosing.id])


def test_another_form_comes_back_to_its_page_with_a_general_message(client, iv_session, staff):
    """The desk's move form: the session's page, with a message that the move was not made."""
    move = {"date": "2027-01-05", "time": "11:00", "scope": "one", "chair": ""}
    sent = post_signed_out(client, reverse("pages:session_move", args=[iv_session.id]), move)
    page_url = reverse("pages:session", args=[iv_session.id])
    assert next_of(sent["Location"]) == page_url
    signed_in = sign_in(client, staff["front_desk"], page_url)
    assert signed_in["Location"] == page_url
    html = client.get(page_url).content.decode()
    assert "not saved because you were signed out" in html
    iv_session.refresh_from_db()
    assert iv_session.starts_at == at(2027, 1, 4, 10)  # not moved


def test_a_form_nested_deeper_comes_back_to_the_nearest_page(client, iv_session):
    """An alert's acknowledge form lives on the course page, two levels up its URL."""
    url = reverse("pages:acknowledge", args=[iv_session.course_id, 1])
    sent = post_signed_out(client, url, {"note": "Seen"})
    assert next_of(sent["Location"]) == reverse("pages:course", args=[iv_session.course_id])
