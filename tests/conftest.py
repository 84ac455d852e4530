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
