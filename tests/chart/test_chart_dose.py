"""Dose: IV by weight, esketamine by devices, and the sign-off for a dose out of range."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from scheduling.booking.models import Session
from scheduling.chart.models import DeviceAdministration, DoseAdministration

from ..conftest import at, chart_check_in, chart_dose, chart_through

S = Session.Status
MIN = dt.timedelta(minutes=1)
IV_CHECK_IN, IV_DOSE = at(2027, 1, 4, 9, 30), at(2027, 1, 4, 9, 40)
ESK_CHECK_IN, ESK_DOSE = at(2027, 1, 5, 9, 30), at(2027, 1, 5, 9, 40)


@pytest.fixture
def iv_checked_in(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=IV_CHECK_IN, weight_kg="72.4")
    return iv_session


@pytest.fixture
def esk_checked_in(esketamine_session, staff):
    chart_check_in(esketamine_session, nurse=staff["nurse"], now=ESK_CHECK_IN)
    return esketamine_session


@pytest.fixture
def esk_second_session(esketamine_session, staff):
    """Session 2 (Friday 8 January), after session 1 was charted with 56 mg."""
    chart_through(esketamine_session, nurse=staff["nurse"], start=ESK_CHECK_IN)
    second = esketamine_session.course.sessions.get(number=2)
    chart_check_in(second, nurse=staff["nurse"], now=at(2027, 1, 8, 9, 30))
    return second


def test_iv_dose_is_mg_per_kg_times_the_weight_recorded_at_check_in(iv_checked_in, staff):
    dose = chart_dose(iv_checked_in, nurse=staff["nurse"], now=IV_DOSE)

    assert (dose.mg_per_kg, dose.weight_kg, dose.total_mg) == (
        Decimal("0.50"), Decimal("72.4"), Decimal("36.2")
    )  # fmt: skip
    assert (dose.started_at, dose.ended_at, dose.infusion_minutes) == (
        IV_DOSE, IV_DOSE + 40 * MIN, 40
    )  # fmt: skip
    assert dose.administered_by == staff["nurse"]
    iv_checked_in.refresh_from_db()
    assert iv_checked_in.status == S.IN_PROGRESS


def test_iv_total_is_rounded_to_a_tenth_of_a_mg(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=IV_CHECK_IN, weight_kg="83.3")
    dose = chart_dose(
        iv_session, nurse=staff["nurse"], now=IV_DOSE, mg_per_kg="0.75", infusion_minutes=60
    )
    assert dose.total_mg == Decimal("62.5")  # 62.475
    assert dose.ended_at == IV_DOSE + 60 * MIN


def test_an_iv_dose_needs_the_weight_from_check_in(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=IV_CHECK_IN, weight_kg=None)
    from scheduling.chart.services import checklist_waive

    checklist_waive(
        session=iv_session, item="weight", by=staff["clinician"], reason="Scale broken",
        now=IV_CHECK_IN,
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        chart_dose(iv_session, nurse=staff["nurse"], now=IV_DOSE)
    assert "weight" in exc.value.message_dict["weight_kg"][0]
    assert not DoseAdministration.objects.exists()


def test_esketamine_56_mg_is_two_devices_five_minutes_apart_with_the_lot(esk_checked_in, staff):
    dose = chart_dose(esk_checked_in, nurse=staff["nurse"], now=ESK_DOSE, lot_number="AB123")

    assert (dose.total_mg, dose.devices, dose.device_mg, dose.lot_number) == (
        Decimal("56"), 2, 28, "AB123"
    )  # fmt: skip
    times = list(DeviceAdministration.objects.filter(dose=dose).values_list("given_at", flat=True))
    assert times == [ESK_DOSE, ESK_DOSE + 5 * MIN]
    assert (dose.started_at, dose.ended_at) == (ESK_DOSE, ESK_DOSE + 5 * MIN)


def test_esketamine_84_mg_is_three_devices(esk_second_session, staff):
    start = at(2027, 1, 8, 9, 40)
    dose = chart_dose(esk_second_session, nurse=staff["nurse"], now=start, dose_mg=84)

    assert (dose.devices, dose.total_mg, dose.signed_off_by) == (3, Decimal("84"), None)
    times = list(dose.devices_given.values_list("given_at", flat=True))
    assert times == [start, start + 5 * MIN, start + 10 * MIN]


def test_the_first_esketamine_dose_of_a_course_is_56_mg_unless_a_clinician_signs_off(
    esk_checked_in, staff
):
    with pytest.raises(ValidationError) as exc:
        chart_dose(esk_checked_in, nurse=staff["nurse"], now=ESK_DOSE, dose_mg=84)
    assert "first esketamine dose is 56 mg" in " ".join(exc.value.message_dict["dose_mg"])
    assert not DoseAdministration.objects.exists()

    dose = chart_dose(
        esk_checked_in, nurse=staff["clinician"], now=ESK_DOSE, dose_mg=84,
        sign_off_reason="Continuing from another clinic's course at 84 mg.",
    )  # fmt: skip
    assert dose.signed_off_by == staff["clinician"]


def test_an_esketamine_dose_not_in_whole_devices_is_refused(esk_checked_in, staff):
    with pytest.raises(ValidationError) as exc:
        chart_dose(esk_checked_in, nurse=staff["nurse"], now=ESK_DOSE, dose_mg=70)
    assert "not a whole number of 28 mg devices" in exc.value.message_dict["dose_mg"][0]


def test_an_esketamine_dose_needs_a_lot_number(esk_checked_in, staff):
    with pytest.raises(ValidationError) as exc:
        chart_dose(esk_checked_in, nurse=staff["nurse"], now=ESK_DOSE, lot_number=" ")
    assert "lot_number" in exc.value.message_dict


def test_an_out_of_range_iv_dose_needs_a_clinicians_sign_off(iv_checked_in, staff):
    with pytest.raises(ValidationError) as exc:
        chart_dose(iv_checked_in, nurse=staff["nurse"], now=IV_DOSE, mg_per_kg="1.50")
    assert (
        "outside the protocol's range of 0.10-1.00 mg/kg" in exc.value.message_dict["mg_per_kg"][0]
    )
    assert not DoseAdministration.objects.exists()

    with pytest.raises(ValidationError) as exc:
        chart_dose(iv_checked_in, nurse=staff["clinician"], now=IV_DOSE, mg_per_kg="1.50")
    assert "sign_off_reason" in exc.value.message_dict

    dose = chart_dose(
        iv_checked_in, nurse=staff["clinician"], now=IV_DOSE, mg_per_kg="1.50",
        sign_off_reason="Partial response at 1.0 mg/kg; agreed escalation.",
        administered_by=staff["nurse"],
    )  # fmt: skip
    assert (dose.total_mg, dose.signed_off_by, dose.administered_by) == (
        Decimal("108.6"), staff["clinician"], staff["nurse"]
    )  # fmt: skip


def test_an_iv_dose_in_range_needs_no_sign_off(iv_checked_in, staff):
    dose = chart_dose(iv_checked_in, nurse=staff["nurse"], now=IV_DOSE, mg_per_kg="1.00")
    assert dose.signed_off_by is None


def test_an_out_of_range_esketamine_dose_needs_a_clinicians_sign_off(esk_second_session, staff):
    with pytest.raises(ValidationError) as exc:
        chart_dose(esk_second_session, nurse=staff["nurse"], now=at(2027, 1, 8, 9, 40), dose_mg=28)
    assert "outside the protocol's range of 56-84 mg" in exc.value.message_dict["dose_mg"][0]
    assert DoseAdministration.objects.count() == 1  # session 1's only


def test_an_esketamine_dose_above_the_ceiling_is_refused_despite_a_sign_off(
    esk_second_session, staff
):
    with pytest.raises(ValidationError) as exc:
        chart_dose(
            esk_second_session, nurse=staff["clinician"], now=at(2027, 1, 8, 9, 40),
            dose_mg=112, sign_off_reason="Clinician insists",
        )  # fmt: skip
    assert "above the ceiling of 84 mg" in exc.value.message_dict["dose_mg"][0]
    assert DoseAdministration.objects.count() == 1


def test_an_iv_dose_above_the_ceiling_is_refused_despite_a_sign_off(iv_checked_in, staff):
    with pytest.raises(ValidationError) as exc:
        chart_dose(
            iv_checked_in, nurse=staff["clinician"], now=IV_DOSE, mg_per_kg="99.99",
            sign_off_reason="Clinician insists",
        )  # fmt: skip
    assert "above the ceiling of 2.00 mg/kg" in exc.value.message_dict["mg_per_kg"][0]
    assert not DoseAdministration.objects.exists()

    # 1.90 mg/kg x 72.4 kg = 137.6 mg: outside the range but below both ceilings
    dose = chart_dose(
        iv_checked_in, nurse=staff["clinician"], now=IV_DOSE, mg_per_kg="1.90",
        sign_off_reason="Clinician insists",
    )  # fmt: skip
    assert dose.signed_off_by == staff["clinician"]


def test_a_protocols_own_ceiling_in_mg_refuses_a_heavy_patients_dose(iv_checked_in, staff):
    protocol = iv_checked_in.course.protocol
    protocol.dose_ceiling_mg = 50
    protocol.save()
    with pytest.raises(ValidationError) as exc:  # 1.0 mg/kg x 72.4 kg = 72.4 mg
        chart_dose(
            iv_checked_in, nurse=staff["clinician"], now=IV_DOSE, mg_per_kg="1.00",
            sign_off_reason="Clinician insists",
        )  # fmt: skip
    assert (
        "72.4 mg is above the ceiling of 50 mg a session" in exc.value.message_dict["mg_per_kg"][0]
    )


def test_an_iv_dose_without_mg_per_kg_is_refused_not_guessed(iv_checked_in, staff):
    from scheduling.chart.services import dose_record

    with pytest.raises(ValidationError) as exc:
        dose_record(session=iv_checked_in, by=staff["nurse"], dose_mg=40, now=IV_DOSE)
    assert "Give the IV dose in mg/kg" in exc.value.message_dict["mg_per_kg"][0]
    assert not DoseAdministration.objects.exists()


def _high_pre_dose(session, staff, now):
    from scheduling.chart.services import vitals_record

    from ..conftest import NORMAL_VITALS

    vitals_record(
        session=session, by=staff["nurse"], timepoint="pre_dose", now=now,
        **{**NORMAL_VITALS, "systolic": 165, "diastolic": 100},
    )  # fmt: skip
    return session.alerts.get()


def test_a_dose_waits_for_an_open_pre_dose_caution_until_a_clinician_acknowledges_it(
    iv_checked_in, staff
):
    from scheduling.chart.services import alert_acknowledge

    alert = _high_pre_dose(iv_checked_in, staff, IV_DOSE - 5 * MIN)
    assert alert.kind == "pre_dose_caution"
    with pytest.raises(ValidationError) as exc:
        chart_dose(iv_checked_in, nurse=staff["nurse"], now=IV_DOSE)
    assert "A clinician acknowledges the alert" in exc.value.message_dict["alerts"][-1]
    assert not DoseAdministration.objects.exists()

    alert_acknowledge(alert=alert, by=staff["clinician"], note="Rechecked: 138/86 at rest")
    dose = chart_dose(iv_checked_in, nurse=staff["nurse"], now=IV_DOSE)
    assert dose.signed_off_by is None


def test_a_clinician_signs_off_a_dose_over_an_open_alert_with_a_reason(iv_checked_in, staff):
    _high_pre_dose(iv_checked_in, staff, IV_DOSE - 5 * MIN)
    with pytest.raises(ValidationError) as exc:
        chart_dose(iv_checked_in, nurse=staff["clinician"], now=IV_DOSE)
    assert "Write why" in exc.value.message_dict["sign_off_reason"][-1]

    dose = chart_dose(
        iv_checked_in, nurse=staff["clinician"], now=IV_DOSE,
        sign_off_reason="Anxious on arrival; baseline 150/95 on two visits",
    )  # fmt: skip
    assert dose.signed_off_by == staff["clinician"]
    assert dose.sign_off_reason.startswith("Anxious")


def test_a_dose_cannot_be_dated_in_the_future(iv_checked_in, staff):
    from scheduling.chart.services import dose_record

    with pytest.raises(ValidationError) as exc:
        dose_record(
            session=iv_checked_in, by=staff["nurse"], started_at=IV_DOSE + 30 * MIN, now=IV_DOSE
        )
    assert "started_at" in exc.value.message_dict


def _esketamine_course(clinic, code, patient, day, time=dt.time(9, 30)):
    from scheduling.booking.models import Protocol
    from scheduling.booking.services import course_start

    return course_start(
        patient=patient, protocol=Protocol.objects.get(clinic=None, code=code),
        start_date=day, preferred_weekdays=[1, 4], preferred_time=time, by=None,
        now=at(2027, 1, 1),
    )  # fmt: skip


def test_mdsi_doses_84_mg_from_the_first_without_a_sign_off(clinic, staff):
    from ..conftest import make_ready_patient

    for mrn, mg in (("MDSI-84", 84), ("MDSI-56", 56)):  # 56 mg allowed for tolerability
        patient = make_ready_patient(clinic, mrn)
        course = _esketamine_course(clinic, "esketamine-mdsi", patient, dt.date(2027, 1, 5))
        session = course.sessions.get(number=1)
        chart_check_in(session, nurse=staff["nurse"], now=session.starts_at)
        dose = chart_dose(session, nurse=staff["nurse"], now=session.starts_at, dose_mg=mg)
        assert (dose.total_mg, dose.signed_off_by) == (mg, None)


def test_the_first_dose_rule_looks_at_the_patients_esketamine_history_not_the_course(
    esketamine_session, clinic, staff
):
    chart_through(esketamine_session, nurse=staff["nurse"], start=ESK_CHECK_IN)  # 56 mg
    later = _esketamine_course(  # another course, in the afternoons
        clinic, "esketamine-trd", esketamine_session.patient, dt.date(2027, 3, 2), dt.time(13)
    )
    session = later.sessions.get(number=1)
    chart_check_in(session, nurse=staff["nurse"], now=session.starts_at)
    dose = chart_dose(session, nurse=staff["nurse"], now=session.starts_at, dose_mg=84)
    assert dose.signed_off_by is None  # not the patient's first esketamine dose


def test_a_protocol_may_start_patients_aged_65_and_over_at_28_mg(clinic, staff):
    from scheduling.booking.models import Protocol

    from ..conftest import make_ready_patient

    protocol = Protocol.objects.get(clinic=None, code="esketamine-trd")
    protocol.first_dose_mg_65_and_over = 28  # EU SmPC; off by default
    protocol.save()
    older = make_ready_patient(clinic, "OLD-1", birth_date=dt.date(1955, 3, 1))
    session = _esketamine_course(clinic, "esketamine-trd", older, dt.date(2027, 1, 5)).sessions.get(
        number=1
    )
    chart_check_in(session, nurse=staff["nurse"], now=session.starts_at)
    with pytest.raises(ValidationError) as exc:
        chart_dose(session, nurse=staff["nurse"], now=session.starts_at, dose_mg=56)
    assert "first esketamine dose is 28 mg, not 56 mg" in exc.value.message_dict["dose_mg"][0]
    dose = chart_dose(session, nurse=staff["nurse"], now=session.starts_at, dose_mg=28)
    assert (dose.total_mg, dose.signed_off_by) == (28, None)
