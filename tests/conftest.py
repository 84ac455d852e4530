"""Shared fixtures: a clinic in London with hours and chairs, a user per role, patients."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from clinic.models import Chair, Clinic, OpeningHours, StaffMembership
from clinic.services import staff_membership_add
from patients.models import Patient
from scheduling.booking.models import Protocol

UTC = dt.UTC


def make_clinic(
    *, slug="harbour", tz="Europe/London", chairs=2, saturday=True, two_factor=False
) -> Clinic:
    """A clinic open weekdays 8-18 (and Saturday mornings). Its staff sign in with a
    password alone unless `two_factor` (tests/web/test_two_factor.py tests the factor)."""
    clinic = Clinic.objects.create(
        name=f"Clinic {slug}", slug=slug, timezone=tz, staff_two_factor_required=two_factor
    )
    for weekday in range(5):
        OpeningHours.objects.create(
            clinic=clinic, weekday=weekday, opens=dt.time(8), closes=dt.time(18)
        )
    if saturday:
        OpeningHours.objects.create(clinic=clinic, weekday=5, opens=dt.time(9), closes=dt.time(13))
    for n in range(1, chairs + 1):
        Chair.objects.create(clinic=clinic, name=f"Chair {n}")
    return clinic


def make_patient(clinic: Clinic, mrn: str = "MRN-1", **extra) -> Patient:
    fields = dict(first_name="Test", last_name="Patient", birth_date=dt.date(1980, 1, 1))
    fields.update(extra)
    return Patient.objects.create(clinic=clinic, mrn=mrn, **fields)


def force_login_verified(client, user):
    """Sign `user` in as if they had also passed the second factor: an authenticator app
    is enrolled and the session remembers it (what django_otp.login leaves)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="Test app", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's, past the second factor that a superuser always owes."""
    force_login_verified(client, admin_user)
    return client


def api_token(user) -> str:
    """A new API token for `user`, as `POST /api/v1/tokens/` issues one: for
    `Authorization: Token <it>`."""
    from clinic.services import api_token_create

    return api_token_create(user=user, name="test")[1]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test starts with no requests counted: the rate limits count per address in the
    cache, and every test client (and the browser tests' live server) is 127.0.0.1."""
    cache.clear()


@pytest.fixture
def clinic(db) -> Clinic:
    return make_clinic()


@pytest.fixture
def other_clinic(db) -> Clinic:
    return make_clinic(slug="other", tz="America/New_York")


def make_ready_patient(clinic: Clinic, mrn: str = "MRN-1", **extra) -> Patient:
    """A patient who may be booked: screened clear (1 December 2026) and REMS-enrolled."""
    extra.setdefault("rems_patient_id", f"REMS-{mrn}")
    extra.setdefault("rems_enrolled_on", dt.date(2026, 11, 1))
    patient = make_patient(clinic, mrn, **extra)
    make_clear_screening(patient, now=dt.datetime(2026, 12, 1, 9, tzinfo=UTC))
    return patient


@pytest.fixture
def patient(clinic) -> Patient:
    """Screened and enrolled: ready to book. Screening tests override this."""
    return make_ready_patient(clinic)


@pytest.fixture
def staff(clinic):
    """One user per staff role at `clinic`, keyed by role."""
    User = get_user_model()
    users = {}
    for role in StaffMembership.Role.values:
        user = User.objects.create_user(username=role, password="pw-for-tests-only")
        staff_membership_add(user=user, clinic=clinic, role=role)
        users[role] = user
    return users


@pytest.fixture
def iv_standard(db) -> Protocol:
    return Protocol.objects.get(clinic=None, code="iv-standard")


@pytest.fixture
def esketamine_trd(db) -> Protocol:
    return Protocol.objects.get(clinic=None, code="esketamine-trd")


def at(year, month, day, hour=12, minute=0) -> dt.datetime:
    """A UTC instant, for pinning `now` in services."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def make_screening(patient, *, present=(), by=None, now=None):
    """Record a screening answering every active checklist item: the codes in `present`
    yes, every other item no."""
    from patients.models import Contraindication
    from patients.services import screening_record

    items = Contraindication.objects.filter(is_active=True).values_list("id", "code")
    unknown = set(present) - {code for _, code in items}
    assert not unknown, f"not on the active checklist: {unknown}"
    answers = {item_id: code in present for item_id, code in items}
    return screening_record(patient=patient, answers=answers, by=by, now=now)


def make_clear_screening(patient, by=None, now=None):
    """A screening with every active item answered no: the gate lets this patient through."""
    return make_screening(patient, by=by, now=now)


# --- the session chart -------------------------------------------------------------------

NORMAL_VITALS = dict(
    systolic=122, diastolic=78, heart_rate=72, spo2=98, respiratory_rate=14, temperature_c="36.8"
)


def chart_check_in(session, *, nurse, now, **extra):
    """Check a patient in with every checklist item done and normal pre-dose vitals."""
    from scheduling.chart.services import session_check_in

    fields = dict(
        fasting_confirmed=True,
        escort_confirmed=True,
        escort_name="A. Friend",
        weight_kg="80.0",
        pre_dose_vitals=NORMAL_VITALS,
    )
    fields.update(extra)
    return session_check_in(session=session, by=nurse, now=now, **fields)


def chart_dose(session, *, nurse, now, **extra):
    """The protocol's usual dose: IV 0.5 mg/kg; esketamine 56 mg (2 devices), lot LOT-1."""
    from scheduling.booking.models import Protocol
    from scheduling.chart.services import dose_record

    protocol = session.course.protocol
    if protocol.route == Protocol.Route.INTRANASAL:
        extra.setdefault("dose_mg", 56)
        extra.setdefault("lot_number", "LOT-1")
    else:
        extra.setdefault("mg_per_kg", protocol.dose_mg_per_kg)
    return dose_record(session=session, by=nurse, started_at=now, now=now, **extra)


def chart_through(session, *, nurse, start, to="discharged"):
    """Chart a session the normal way up to status `to`: check in at `start`, dose five
    minutes later, normal vitals at 40 minutes and before discharge, discharge as soon as
    the protocol's observation has passed."""
    from scheduling.booking.models import Session
    from scheduling.booking.services import session_transition
    from scheduling.chart.models import VitalSigns
    from scheduling.chart.selectors import session_chart
    from scheduling.chart.services import session_discharge, vitals_record

    S = Session.Status
    minute = dt.timedelta(minutes=1)
    chart_check_in(session, nurse=nurse, now=start)
    if to == S.CHECKED_IN:
        return Session.objects.get(pk=session.pk)
    dose = chart_dose(session, nurse=nurse, now=start + 5 * minute)
    if to == S.IN_PROGRESS:
        return Session.objects.get(pk=session.pk)
    session_transition(session=session, to=S.MONITORING, by=nurse, now=dose.ended_at)
    vitals_record(
        session=session,
        by=nurse,
        timepoint=VitalSigns.Timepoint.POST_DOSE_40,
        now=dose.started_at + 40 * minute,
        **NORMAL_VITALS,
    )
    if to == S.MONITORING:
        return Session.objects.get(pk=session.pk)
    ends = session_chart(session=session, now=start).observation_ends_at
    vitals_record(
        session=session,
        by=nurse,
        timepoint=VitalSigns.Timepoint.PRE_DISCHARGE,
        now=ends,
        **NORMAL_VITALS,
    )
    if session.course.protocol.route == "intranasal":  # REMS: a clinician judges it
        from clinic.models import StaffMembership
        from scheduling.chart.services import ready_to_leave_record

        clinician = StaffMembership.objects.filter(
            clinic=session.clinic, role=StaffMembership.Role.CLINICIAN
        ).first()
        ready_to_leave_record(session=session, by=clinician.user, now=ends)
    session_discharge(session=session, by=nurse, now=ends + minute)
    return Session.objects.get(pk=session.pk)


@pytest.fixture
def iv_session(patient, iv_standard, staff):
    """Session 1 of an IV course: Monday 4 January 2027, 10:00 London (= UTC in winter)."""
    from scheduling.booking.services import course_start

    course = course_start(
        patient=patient, protocol=iv_standard, start_date=dt.date(2027, 1, 4),
        preferred_weekdays=[0, 3], preferred_time=dt.time(10), by=staff["front_desk"],
        now=at(2027, 1, 1),
    )  # fmt: skip
    return course.sessions.get(number=1)


@pytest.fixture
def esketamine_session(clinic, esketamine_trd, staff):
    """Session 1 of an esketamine course: Tuesday 5 January 2027, 10:00 London."""
    from scheduling.booking.services import course_start

    course = course_start(
        patient=make_ready_patient(clinic, "ESK-1"), protocol=esketamine_trd,
        start_date=dt.date(2027, 1, 4), preferred_weekdays=[1, 4], preferred_time=dt.time(10),
        by=staff["front_desk"], now=at(2027, 1, 1),
    )  # fmt: skip
    return course.sessions.get(number=1)
