"""Bad input is refused with an error naming the field, and nothing is written."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from clinic.models import Clinic
from patients.models import Patient
from scheduling.booking.models import Course, Protocol, ProtocolPhase, Session
from scheduling.booking.services import course_start, protocol_create

from .conftest import at, make_ready_patient

PROTOCOL = dict(
    code="custom",
    name="Custom weekly",
    drug=Protocol.Drug.KETAMINE,
    route=Protocol.Route.IV,
    session_minutes=90,
    min_observation_minutes=45,
)


def phase(**extra):
    fields = dict(
        name="Weekly", sessions_per_period=1, period_unit="week", period_length=1, periods=4
    )
    fields.update(extra)
    return fields


def test_a_clinic_defines_its_own_protocol_as_data(clinic, patient):
    protocol = protocol_create(
        clinic=clinic,
        phases=[phase(), phase(name="Monthly", period_unit="month", periods=None)],
        **PROTOCOL,
    )

    course = course_start(
        patient=patient, protocol=protocol, start_date=dt.date(2027, 1, 4),
        preferred_weekdays=[2], preferred_time=dt.time(9), by=None, now=at(2027, 1, 1),
    )  # fmt: skip

    assert [p.order for p in protocol.phases.all()] == [1, 2]
    assert course.sessions.count() == 4 + 2  # four weekly, then 28-35 days apart to 1 April
    assert {s.ends_at - s.starts_at for s in course.sessions.all()} == {dt.timedelta(minutes=90)}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (dict(sessions_per_period=0), "phases[0].sessions_per_period"),
        (dict(periods=-2), "phases[0].periods"),
        (dict(periods=0), "phases[0].periods"),
        (dict(period_length=0), "phases[0].period_length"),
    ],
)
def test_a_protocol_phase_with_no_sessions_or_no_length_is_refused(clinic, bad, field):
    with pytest.raises(ValidationError) as exc:
        protocol_create(clinic=clinic, phases=[phase(), phase(**bad)], **PROTOCOL)

    assert field.replace("[0]", "[1]") in exc.value.message_dict
    assert not Protocol.objects.filter(code="custom").exists()
    assert not ProtocolPhase.objects.filter(protocol__code="custom").exists()


def test_only_the_last_phase_may_be_open_ended(clinic):
    with pytest.raises(ValidationError) as exc:
        protocol_create(clinic=clinic, phases=[phase(periods=None), phase()], **PROTOCOL)

    assert "phases[0].periods" in exc.value.message_dict
    assert not Protocol.objects.filter(code="custom").exists()


def test_a_protocol_needs_a_phase(clinic):
    with pytest.raises(ValidationError) as exc:
        protocol_create(clinic=clinic, phases=[], **PROTOCOL)
    assert "phases" in exc.value.message_dict


def test_a_protocol_with_a_negative_session_length_is_refused(clinic):
    with pytest.raises(ValidationError) as exc:
        protocol_create(clinic=clinic, phases=[phase()], **{**PROTOCOL, "session_minutes": 0})
    assert "session_minutes" in exc.value.message_dict
    assert not Protocol.objects.filter(code="custom").exists()


def _start(patient, protocol, **overrides):
    args = dict(
        patient=patient,
        protocol=protocol,
        start_date=dt.date(2027, 1, 4),
        preferred_weekdays=[0, 3],
        preferred_time=dt.time(10),
        by=None,
        now=at(2027, 1, 1),
    )
    args.update(overrides)
    return course_start(**args)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        (dict(start_date=dt.date(2026, 12, 31)), "start_date", "in the past"),
        (dict(preferred_time=dt.time(17)), "preferred_time", "outside the clinic's opening hours"),
        (dict(preferred_time=dt.time(7)), "preferred_time", "outside the clinic's opening hours"),
        (dict(preferred_weekdays=[6]), "preferred_weekdays", "shut on Sunday"),
        (dict(preferred_weekdays=[]), "preferred_weekdays", "at least one weekday"),
        (dict(preferred_weekdays=[0, 9]), "preferred_weekdays", "0 (Monday) to 6 (Sunday)"),
        (dict(preferred_weekdays=[0, 0]), "preferred_weekdays", "once"),
    ],
)
def test_a_new_course_with_bad_input_is_refused_and_nothing_is_written(
    patient, iv_standard, overrides, field, words
):
    with pytest.raises(ValidationError) as exc:
        _start(patient, iv_standard, **overrides)

    assert words in " ".join(exc.value.message_dict[field])
    assert Course.objects.count() == 0
    assert Session.objects.count() == 0


def test_the_start_date_is_judged_in_the_clinic_local_calendar(other_clinic, iv_standard):
    # 03:00 UTC on 4 January is still 3 January in New York: starting on the 3rd is allowed.
    patient = make_ready_patient(other_clinic)
    course = _start(
        patient, iv_standard, start_date=dt.date(2027, 1, 3), now=at(2027, 1, 4, hour=3)
    )
    assert course.start_date == dt.date(2027, 1, 3)


def test_a_retired_protocol_cannot_start_a_course(patient, iv_standard):
    iv_standard.is_active = False
    iv_standard.save()
    with pytest.raises(ValidationError) as exc:
        _start(patient, iv_standard)
    assert "protocol" in exc.value.message_dict


def test_another_clinics_protocol_cannot_be_used(patient, other_clinic):
    protocol = protocol_create(clinic=other_clinic, phases=[phase()], **PROTOCOL)
    with pytest.raises(ValidationError) as exc:
        _start(patient, protocol)
    assert "protocol" in exc.value.message_dict


@pytest.mark.parametrize("name", ["Mars/Olympus", "BST", "+01:00", ""])
def test_an_unknown_clinic_timezone_is_refused(db, name):
    clinic = Clinic(name="X", slug="x", timezone=name)
    with pytest.raises(ValidationError) as exc:
        clinic.full_clean()
    assert "timezone" in exc.value.message_dict


def test_an_unknown_patient_timezone_is_refused(clinic):
    patient = Patient(
        clinic=clinic, mrn="Z", first_name="A", last_name="B",
        birth_date=dt.date(1990, 1, 1), timezone="Europe/Atlantis",
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        patient.full_clean()
    assert "Unknown time zone Europe/Atlantis" in exc.value.message_dict["timezone"][0]


def test_opening_hours_must_close_after_they_open(clinic):
    from clinic.models import OpeningHours

    hours = OpeningHours(clinic=clinic, weekday=6, opens=dt.time(12), closes=dt.time(9))
    with pytest.raises(ValidationError) as exc:
        hours.full_clean()
    assert "closes" in exc.value.message_dict
