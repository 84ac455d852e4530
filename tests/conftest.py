"""Shared fixtures: a clinic in London with hours and chairs, a user per role, patients."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from clinic.models import Chair, Clinic, OpeningHours, StaffMembership
from clinic.services import staff_membership_add
from patients.models import Patient
from scheduling.models import Protocol

UTC = dt.UTC


def make_clinic(*, slug="harbour", tz="Europe/London", chairs=2, saturday=True) -> Clinic:
    clinic = Clinic.objects.create(name=f"Clinic {slug}", slug=slug, timezone=tz)
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


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clinic(db) -> Clinic:
    return make_clinic()


@pytest.fixture
def other_clinic(db) -> Clinic:
    return make_clinic(slug="other", tz="America/New_York")


@pytest.fixture
def patient(clinic) -> Patient:
    return make_patient(clinic)


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
