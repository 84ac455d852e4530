"""Security headers on every page (CSP, HSTS, frames, referrer), no inline script in the
templates, no-store on the pages with a patient's record, and the rate limits' 429."""

import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from clinic.api.base import exception_handler
from tests.conftest import at

ROOT = Path(__file__).resolve().parents[2]
NOW = at(2027, 1, 4, 9)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient_user(iv_session, django_user_model):
    patient = iv_session.patient
    patient.user = django_user_model.objects.create_user("pat", password="x")
    patient.save()
    return patient.user


def main_pages(iv_session):
    course, patient = iv_session.course, iv_session.patient
    return {
        "front_desk": [
            reverse("pages:board"),
            reverse("pages:patients") + "?q=a",
            reverse("pages:patient", args=[patient.id]),
            reverse("pages:patient_new"),
            reverse("pages:course_new"),
            reverse("pages:session", args=[iv_session.id]),
        ],
        "nurse": [reverse("pages:today"), reverse("pages:chart", args=[iv_session.id])],
        "clinician": [reverse("pages:courses"), reverse("pages:course", args=[course.id])],
        "clinic_admin": [reverse("pages:board")],
        "patient": [
            reverse("pages:portal"),
            reverse("pages:phq9"),
            reverse("pages:reminder_settings"),
        ],
    }


def csp(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def assert_strict_headers(response):
    policy = csp(response)
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_every_main_page_of_every_role_sends_the_strict_headers(
    client, staff, iv_session, patient_user, frozen
):
    pages = main_pages(iv_session)
    seen = 0
    for role, urls in pages.items():
        client.force_login(patient_user if role == "patient" else staff[role])
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (role, url)
            assert_strict_headers(response)
            seen += 1
    client.logout()
    assert_strict_headers(client.get(reverse("login")))
    assert seen == sum(len(u) for u in pages.values())


@override_settings(SECURE_HSTS_SECONDS=31_536_000, SECURE_SSL_REDIRECT=False)
def test_hsts_over_https(client, db):
    response = client.get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_production_defaults_send_hsts_and_secure_cookies():
    # DEBUG is on under the tests; the settings module decides from DEBUG alone.
    source = (ROOT / "clinic" / "settings.py").read_text()
    assert 'SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS"' in source
    assert "SESSION_COOKIE_SECURE = not DEBUG" in source
    assert "CSRF_COOKIE_SECURE = not DEBUG" in source


# --- no inline script in the templates -----------------------------------------------------

TEMPLATE_DIRS = [ROOT / app / "templates" for app in ("clinic", "scheduling", "patients")]
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"""\s(on[a-z]+|hx-on[:\-][\w:\-]*)\s*=""", re.IGNORECASE)
STYLE_ATTR = re.compile(r"""\sstyle\s*=""", re.IGNORECASE)
JS_URL = re.compile(r"""=\s*["']\s*javascript:""", re.IGNORECASE)


def page_templates():
    for base in TEMPLATE_DIRS:
        for path in base.rglob("*.html"):
            if "email" in path.name:  # e-mails are not pages; mail clients need inline style
                continue
            yield path


def test_the_templates_have_no_inline_script_handler_or_style():
    found = []
    templates = list(page_templates())
    assert len(templates) > 20  # the scan sees the pages
    for path in templates:
        text = path.read_text()
        for m in SCRIPT_TAG.finditer(text):
            attrs = m.group(1)
            if "src=" not in attrs and "application/json" not in attrs:
                found.append(f"{path.name}: inline <script>")
        for rule, pattern in (
            ("event handler", EVENT_HANDLER),
            ("style attribute", STYLE_ATTR),
            ("javascript: URL", JS_URL),
        ):
            if pattern.search(text):
                found.append(f"{path.name}: {rule}")
        if "<style" in text:
            found.append(f"{path.name}: <style> element")
    assert found == []


def test_the_scan_finds_what_it_looks_for():
    assert EVENT_HANDLER.search('<button onclick="x()">')
    assert EVENT_HANDLER.search("<div hx-on:click='x()'>")
    assert STYLE_ATTR.search('<p style="color:red">')
    assert not EVENT_HANDLER.search('<div data-session="1" hx-post="/x">')


# --- no-store --------------------------------------------------------------------------------


def test_chart_patient_and_portal_pages_are_not_stored(
    client, staff, iv_session, patient_user, frozen
):
    urls = {
        "nurse": [reverse("pages:chart", args=[iv_session.id]), reverse("pages:today")],
        "front_desk": [reverse("pages:patient", args=[iv_session.patient.id])],
        "clinician": [reverse("pages:course", args=[iv_session.course.id])],
    }
    for role, pages in urls.items():
        client.force_login(staff[role])
        for url in pages:
            assert "no-store" in client.get(url)["Cache-Control"], url
    client.force_login(patient_user)
    for url in (reverse("pages:portal"), reverse("pages:phq9")):
        assert "no-store" in client.get(url)["Cache-Control"], url
    # The day board is polled: it stays revalidated (private, no-cache), for its 304s.
    client.force_login(staff["front_desk"])
    assert "no-store" not in client.get(reverse("pages:board"))["Cache-Control"]


# --- rate limits -----------------------------------------------------------------------------


@override_settings(RATELIMIT_LOGIN="3/m")
def test_sign_in_attempts_are_limited_with_a_readable_429(client, db):
    for _ in range(3):
        assert client.post(reverse("login"), {"username": "u", "password": "p"}).status_code == 200
    response = client.post(reverse("login"), {"username": "u", "password": "p"})
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert "Too many requests" in response.content.decode()
    assert client.get(reverse("login")).status_code == 200  # the page itself still shows


@override_settings(RATELIMIT_PUBLIC_LINK="2/m")
def test_the_patients_link_pages_are_limited(client, db):
    for url in (reverse("reminders:respond", args=["bad"]), reverse("pages:calendar", args=["x"])):
        for _ in range(2):
            assert client.get(url).status_code in (400, 404, 410)
        assert client.get(url).status_code == 429


def test_an_api_request_over_its_limit_gets_the_apis_error_shape(rf):
    from clinic.ratelimits import limited

    response = limited(rf.get("/api/v1/sessions/"))
    assert response.status_code == 429
    import json

    assert json.loads(response.content) == {
        "status": 429,
        "code": "throttled",
        "detail": "Too many requests. Wait a minute and try again.",
        "errors": {},
    }


def test_drf_throttling_answers_in_the_same_shape(rf):
    from rest_framework.exceptions import Throttled

    response = exception_handler(Throttled(wait=30), {})
    assert response.status_code == 429
    assert response.data["status"] == 429 and response.data["code"] == "throttled"
    assert response.data["errors"] == {} and "30 seconds" in response.data["detail"]
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token"] == settings.RATELIMIT_TOKEN
