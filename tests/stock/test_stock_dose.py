"""The chart's dose draws from the controlled-substance record (issue 19, item 3): a
clinic with a storage location names the lot; IV draws mL (drawn >= given, the remainder
wasted before a witness in the same step), esketamine its devices by lot."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from scheduling.chart.models import DoseAdministration
from scheduling.stock.models import StockBalance, StockEntry, StockLocation

from ..conftest import chart_check_in, chart_dose, make_clinic
from .conftest import PASSWORD, receive

K = StockEntry.Kind


@pytest.fixture
def checked_in(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=iv_session.starts_at)
    return iv_session


def _dose(session, staff, **extra):
    return chart_dose(session, nurse=staff["nurse"], now=session.starts_at, **extra)


def test_at_a_clinic_keeping_stock_a_dose_names_its_lot(checked_in, safe, staff):
    with pytest.raises(ValidationError) as err:
        _dose(checked_in, staff)
    assert "stock_lot" in err.value.message_dict
    assert not DoseAdministration.objects.exists()


def test_a_clinic_without_stock_records_doses_as_before(checked_in, staff):
    assert _dose(checked_in, staff).total_mg == 40
    assert not StockEntry.objects.exists()


def test_an_iv_dose_draws_from_the_lot_and_wastes_the_rest_before_a_witness(
    checked_in, ketamine_lot, safe, staff
):
    # 0.5 mg/kg x 80 kg = 40 mg = 0.8 mL of 50 mg/mL; 1 mL drawn: 0.8 given, 0.2 wasted.
    dose = _dose(
        checked_in,
        staff,
        stock_lot=ketamine_lot,
        stock_drawn="1",
        witness="clinician",
        witness_password=PASSWORD,
    )

    draw, waste = StockEntry.objects.filter(dose=dose).order_by("pk")
    assert (draw.kind, draw.quantity, draw.session) == (K.DRAW, Decimal("-0.8"), checked_in)
    assert (waste.kind, waste.quantity, waste.witness) == (
        K.WASTE,
        Decimal("-0.2"),
        staff["clinician"],
    )
    assert StockBalance.objects.get(lot=ketamine_lot).balance == 19


def test_a_dose_drawn_exactly_wastes_nothing_and_needs_no_witness(checked_in, ketamine_lot, staff):
    dose = _dose(checked_in, staff, stock_lot=ketamine_lot)
    assert [e.quantity for e in StockEntry.objects.filter(dose=dose)] == [Decimal("-0.8")]


def test_a_remainder_without_a_witness_refuses_the_dose_and_draws_nothing(
    checked_in, ketamine_lot, staff
):
    with pytest.raises(ValidationError) as err:
        _dose(checked_in, staff, stock_lot=ketamine_lot, stock_drawn="1")
    assert "witness" in err.value.message_dict
    assert not DoseAdministration.objects.exists()
    assert StockBalance.objects.get(lot=ketamine_lot).balance == 20


def test_less_drawn_than_given_is_refused(checked_in, ketamine_lot, staff):
    with pytest.raises(ValidationError) as err:
        _dose(checked_in, staff, stock_lot=ketamine_lot, stock_drawn="0.5")
    assert "at least what was given" in err.value.message_dict["stock_drawn"][0]


def test_a_dose_that_would_empty_the_lot_below_zero_is_refused(
    checked_in, safe, ketamine_50, staff
):
    lot = receive(safe, ketamine_50, staff["clinic_admin"], lot="LOW", quantity="0.5").lot
    with pytest.raises(ValidationError) as err:
        _dose(checked_in, staff, stock_lot=lot)
    assert "below zero" in err.value.message_dict["stock_drawn"][0]
    assert not DoseAdministration.objects.exists()


def test_a_dose_from_another_clinics_lot_is_refused(checked_in, safe, ketamine_50, staff):
    north = StockLocation.objects.create(clinic=make_clinic(slug="north"), name="Safe")
    from clinic.services import staff_membership_add

    staff_membership_add(user=staff["clinic_admin"], clinic=north.clinic, role="clinic_admin")
    lot = receive(north, ketamine_50, staff["clinic_admin"], lot="N-1").lot
    with pytest.raises(ValidationError) as err:
        _dose(checked_in, staff, stock_lot=lot)
    assert "another clinic" in err.value.message_dict["stock_lot"][0]


def test_an_esketamine_dose_draws_its_devices_and_the_lot_number_from_stock(
    esketamine_session, device_lot, staff
):
    chart_check_in(esketamine_session, nurse=staff["nurse"], now=esketamine_session.starts_at)
    dose = _dose(esketamine_session, staff, stock_lot=device_lot, lot_number="typed")

    assert (dose.devices, dose.lot_number) == (2, "E-7")
    (draw,) = StockEntry.objects.filter(dose=dose)
    assert (draw.kind, draw.quantity, draw.balance_after) == (K.DRAW, -2, 4)


def test_the_api_records_a_dose_drawn_from_stock(checked_in, ketamine_lot, staff):
    import time_machine
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(staff["nurse"])
    body = {
        "started_at": checked_in.starts_at.isoformat(),
        "mg_per_kg": "0.50",
        "stock_lot": ketamine_lot.pk,
        "stock_drawn": "1.000",
        "witness": "clinician",
        "witness_password": PASSWORD,
    }
    with time_machine.travel(checked_in.starts_at, tick=False):
        refused = api.post(
            f"/api/v1/sessions/{checked_in.pk}/dose/", {**body, "witness": ""}, format="json"
        )
        assert refused.status_code == 400 and "witness" in refused.json()["errors"]

        response = api.post(f"/api/v1/sessions/{checked_in.pk}/dose/", body, format="json")

    assert response.status_code == 200, response.json()
    assert StockBalance.objects.get(lot=ketamine_lot).balance == 19
