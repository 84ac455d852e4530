"""Two-factor sign-in (clinic/two_factor.py): staff of a clinic that requires it pass an
authenticator app's code (or a single-use recovery code) after the password before any
page, the admin or an API token; a clinic that does not lets its staff in with the
password; a patient is never asked."""

import base64
import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.models import ApiToken
from clinic.services import staff_membership_add
from clinic.two_factor import recovery_codes_issue

from ..conftest import make_clinic

PASSWORD = "two-factor-pass-2026"
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def secure(db):
    """A clinic requiring the second factor, with a nurse and a clinic admin."""
    clinic = make_clinic(slug="secure", two_factor=True)
    users = {}
    for role in ("nurse", "clinic_admin"):
        users[role] = get_user_model().objects.create_user(role, password=PASSWORD)
        staff_membership_add(user=users[role], clinic=clinic, role=role)
    return users


def sign_in(client, username):
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]


def app_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key):06d}"


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)


def test_a_staff_login_without_the_second_factor_reaches_no_page_admin_or_api(client, secure):
    sign_in(client, "nurse")
    page = client.get("/nurse/today/")
    assert page.status_code == 302
    assert page["Location"] == "/accounts/two-factor/?next=%2Fnurse%2Ftoday%2F"
    assert client.get(page["Location"])["Location"].startswith("/accounts/two-factor/enrol/")
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/accounts/two-factor/")
    api = client.get("/api/v1/sessions/")
    assert api.status_code == 403
    assert api.json()["code"] == "second_factor_required"
    fragment = client.post("/chart/1/vitals/", HTTP_HX_REQUEST="true")
    assert fragment["HX-Redirect"] == "/accounts/two-factor/?next=%2Fchart%2F1%2F"
    fhir = client.get("/fhir/Patient")
    assert fhir.status_code == 403 and fhir["Content-Type"] == "application/fhir+json"
    assert fhir.json()["issue"][0]["code"] == "forbidden"


def test_an_api_token_is_not_created_without_the_second_factor(client, db):
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    device = enrolled(root)
    sign_in(client, "root")
    body = {"name": "script"}
    add = client.post("/api/v1/tokens/", body, content_type="application/json")
    assert add.status_code == 403 and add.json()["code"] == "second_factor_required"
    by_password = Client().post(
        "/api/v1/tokens/", {**body, "username": "root", "password": PASSWORD},
        content_type="application/json",
    )  # fmt: skip
    assert by_password.status_code == 403 and by_password.json()["code"] == "second_factor_required"
    assert not ApiToken.objects.exists()
    assert client.post("/accounts/two-factor/", {"code": app_code(device)}).status_code == 302
    added = client.post("/api/v1/tokens/", body, content_type="application/json")
    assert added.status_code == 201, added.json()
    assert ApiToken.objects.filter(user=root).count() == 1


def test_with_the_second_factor_staff_reach_pages_and_the_admin(client, secure):
    device = enrolled(secure["clinic_admin"])
    sign_in(client, "clinic_admin")
    verify = client.post("/accounts/two-factor/", {"code": app_code(device), "next": "/admin/"})
    assert verify.status_code == 302 and verify["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/sessions/").status_code == 200


def test_a_wrong_code_is_refused_and_the_pages_stay_closed(client, secure):
    enrolled(secure["nurse"])
    sign_in(client, "nurse")
    wrong = client.post("/accounts/two-factor/", {"code": "000000"})
    assert wrong.status_code == 400
    assert "did not match" in wrong.content.decode()
    assert client.get("/nurse/today/").status_code == 302


def test_enrolling_shows_the_secret_once_confirmed_and_then_asks_for_it(client, secure):
    with time_machine.travel(NOW, tick=False) as clock:
        sign_in(client, "nurse")
        page = client.get("/accounts/two-factor/enrol/")
        html = page.content.decode()
        assert page.status_code == 200 and '<svg width="' in html
        secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', html).group(1)
        assert f"secret={secret}" in html and "otpauth://totp/" in html
        code = f"{totp(base64.b32decode(secret)):06d}"
        done = client.post("/accounts/two-factor/enrol/", {"code": code, "next": "/nurse/today/"})
        codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
        assert len(codes) == 10 and len(set(codes)) == 10
        assert client.get("/nurse/today/").status_code == 200
        # The next sign-in asks for the app's code, and the password alone adds no device.
        client.post(reverse("logout"))
        sign_in(client, "nurse")
        again = client.get("/accounts/two-factor/enrol/")
        assert again.status_code == 302 and again["Location"].startswith("/accounts/two-factor/")
        clock.shift(dt.timedelta(seconds=30))
        code = f"{totp(base64.b32decode(secret)):06d}"
        assert client.post("/accounts/two-factor/", {"code": code}).status_code == 302
        assert client.get("/nurse/today/").status_code == 200


def test_a_recovery_code_works_once(client, secure):
    nurse = secure["nurse"]
    enrolled(nurse)
    first, second, *_ = recovery_codes_issue(nurse)
    with time_machine.travel(NOW, tick=False) as clock:
        sign_in(client, "nurse")
        assert client.post("/accounts/two-factor/", {"code": first}).status_code == 302
        assert client.get("/nurse/today/").status_code == 200
        client.post(reverse("logout"))
        sign_in(client, "nurse")
        assert client.post("/accounts/two-factor/", {"code": first}).status_code == 400
        assert client.get("/nurse/today/").status_code == 302
        # django-otp makes the next try wait after a wrong one (1 s, then 2, 4...).
        assert client.post("/accounts/two-factor/", {"code": second}).status_code == 400
        clock.shift(dt.timedelta(seconds=5))
        assert client.post("/accounts/two-factor/", {"code": second}).status_code == 302
        assert client.get("/nurse/today/").status_code == 200


def test_new_recovery_codes_replace_the_old_ones(client, secure):
    nurse = secure["nurse"]
    device = enrolled(nurse)
    old = recovery_codes_issue(nurse)
    sign_in(client, "nurse")
    client.post("/accounts/two-factor/", {"code": app_code(device)})
    page = client.post("/accounts/two-factor/recovery-codes/")
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert set(nurse.staticdevice_set.get().token_set.values_list("token", flat=True)) == set(new)


def test_a_clinic_that_does_not_require_it_lets_staff_in_with_the_password(client, db):
    clinic = make_clinic(slug="relaxed", two_factor=False)
    nurse = get_user_model().objects.create_user("nurse", password=PASSWORD)
    staff_membership_add(user=nurse, clinic=clinic, role="nurse")
    sign_in(client, "nurse")
    assert client.get("/nurse/today/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_a_patient_is_never_asked_but_may_enrol(client, patient):
    patient.clinic.staff_two_factor_required = True  # for its staff, never its patients
    patient.clinic.save(update_fields=["staff_two_factor_required"])
    patient.user = get_user_model().objects.create_user("pat", password=PASSWORD)
    patient.save(update_fields=["user"])
    sign_in(client, "pat")
    assert client.get("/portal/").status_code == 200
    assert client.get("/accounts/two-factor/enrol/").status_code == 200
