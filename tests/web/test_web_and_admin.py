"""The product answers: login page, admin, the home page, and course start in the admin."""

import base64
import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django_otp.oath import totp

from scheduling.booking.models import Course, Session
from scheduling.management.commands.demo_seed import DEMO_TOTP_SECRET

from ..conftest import make_clear_screening


def test_the_login_page_answers(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'<label for="id_username">Username</label>' in response.content


def test_the_admin_login_page_answers(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200


def test_the_home_page_needs_a_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_health_check_touches_the_database(client, db, django_assert_num_queries):
    from django.db import connection

    connection.ensure_connection()  # already open, as a persistent connection is
    with django_assert_num_queries(1):  # asked even so
        assert client.get("/healthz").json() == {"status": "ok"}


@pytest.fixture
def demo(db, settings):
    settings.DEBUG = True  # demo_seed refuses to run in production
    call_command("demo_seed", verbosity=0)


def login(client, username):
    """Through the real login form, as a person would (and as django-axes watches), then
    the second factor: a staff login's code from the demo's printed TOTP secret."""
    response = client.post(reverse("login"), {"username": username, "password": "demo-pass-2026"})
    assert response.status_code == 302, response.content[:500]
    if username != "patient":
        code = totp(base64.b32decode(DEMO_TOTP_SECRET))
        response = client.post(reverse("two_factor_verify"), {"code": f"{code:06d}"})
        assert response.status_code == 302, response.content[:500]


def test_demo_data_has_a_login_per_role_and_courses(demo):
    User = get_user_model()
    for username in ("frontdesk", "nurse", "clinician", "admin", "patient"):
        assert User.objects.filter(username=username).exists()
    assert Course.objects.count() == 3
    assert Session.objects.filter(status=Session.Status.BOOKED).count() > 20


def test_demo_seed_prints_the_staff_logins_totp_secret(db, settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo_seed", stdout=out)
    assert f"secret={DEMO_TOTP_SECRET}&issuer=Infusion%20tracker" in out.getvalue()
    key = base64.b32decode(DEMO_TOTP_SECRET).hex()
    nurse = get_user_model().objects.get(username="nurse")
    assert nurse.totpdevice_set.get(confirmed=True).key == key


def test_demo_data_can_be_loaded_twice(demo):
    call_command("demo_seed", verbosity=0)
    assert Course.objects.count() == 3


def test_front_desk_lands_on_the_day_board_and_sees_the_demo_courses(client, demo):
    login(client, "frontdesk")
    response = client.get(reverse("home"), follow=True)
    assert response.status_code == 200
    assert b"<h1>Day board</h1>" in response.content
    for code, name in [
        ("iv-standard", b"IV ketamine, standard course"),
        ("esketamine-trd", b"Esketamine, treatment-resistant depression"),
    ]:
        first = Session.objects.filter(course__protocol__code=code).order_by("starts_at")[0]
        day = first.starts_at.astimezone(first.clinic.tz).date()
        board = client.get(reverse("pages:board"), {"date": day.isoformat()})
        assert name in board.content


def test_a_patient_sees_only_their_own_sessions(client, demo):
    login(client, "patient")
    response = client.get(reverse("home"), follow=True)
    assert response.status_code == 200
    assert b"Your upcoming sessions" in response.content
    assert b"Rivera" not in response.content
    assert (
        response.content.count(b'<article class="card"')
        == Session.objects.filter(patient__user__username="patient")
        .exclude(status="cancelled")
        .count()
    )


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/clinic/clinic/",
        "/admin/clinic/clinic/{clinic}/change/",
        "/admin/patients/patient/",
        "/admin/scheduling/protocol/",
        "/admin/scheduling/course/",
        "/admin/scheduling/course/add/",
        "/admin/scheduling/session/",
    ],
)
def test_admin_pages_answer_for_the_clinic_admin(client, demo, url):
    from clinic.models import Clinic

    login(client, "admin")
    url = url.format(clinic=Clinic.objects.get(slug="harbour").pk)
    assert client.get(url).status_code == 200


def test_the_demo_course_is_visible_in_the_admin(client, demo):
    login(client, "admin")
    course = Course.objects.get(protocol__code="iv-standard")
    response = client.get(f"/admin/scheduling/course/{course.pk}/change/")
    assert response.status_code == 200
    assert response.content.count(b"Maintenance") >= 1


def _course_form(patient, protocol, start, **extra):
    data = {
        "patient": patient.pk,
        "protocol": protocol.pk,
        "start_date": start.isoformat(),
        "preferred_weekdays": ["0", "3"],
        "preferred_time": "10:00",
        "sessions-TOTAL_FORMS": "0",
        "sessions-INITIAL_FORMS": "0",
    }
    data.update(extra)
    return data


def test_starting_a_course_in_the_admin_books_its_sessions(client, demo):
    from patients.models import Patient
    from scheduling.booking.models import Protocol

    login(client, "admin")
    from clinic.models import Clinic

    clinic = Clinic.objects.get(slug="harbour")
    clinic.rems_applies = True  # as a US clinic: the demo's UK one files no REMS forms
    clinic.save(update_fields=["rems_applies"])
    patient = Patient.objects.create(
        clinic=clinic,
        mrn="NEW-1",
        first_name="New",
        last_name="Person",
        birth_date=dt.date(1990, 2, 2),
    )
    protocol = Protocol.objects.get(code="esketamine-mdsi")
    start = dt.date.today() + dt.timedelta(days=30)

    refused = client.post("/admin/scheduling/course/add/", _course_form(patient, protocol, start))
    assert refused.status_code == 200
    assert b"The patient has not been screened for contraindications" in refused.content
    assert b"needs REMS enrolment" in refused.content
    assert not Course.objects.filter(patient=patient).exists()

    make_clear_screening(patient)
    patient.rems_patient_id, patient.rems_enrolled_on = "REMS-NEW-1", dt.date.today()
    patient.save()
    response = client.post("/admin/scheduling/course/add/", _course_form(patient, protocol, start))

    assert response.status_code == 302, response.content.decode()[:2000]
    course = Course.objects.get(patient=patient)
    assert course.sessions.count() == 8


def test_the_admin_shows_the_field_error_and_writes_nothing(client, demo):
    from patients.models import Patient
    from scheduling.booking.models import Protocol

    login(client, "admin")
    patient = Patient.objects.get(mrn="MRN-1003")
    protocol = Protocol.objects.get(code="esketamine-mdsi")
    past = dt.date.today() - dt.timedelta(days=3)
    before = Session.objects.count()

    response = client.post("/admin/scheduling/course/add/", _course_form(patient, protocol, past))

    assert response.status_code == 200
    assert b"is in the past for a new course" in response.content
    assert Session.objects.count() == before
