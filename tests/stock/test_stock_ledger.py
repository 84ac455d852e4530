"""The controlled-substance ledger (issue 19): receipt to balance, draws refused below
zero, from an expired lot or another clinic's lot, witnessed waste and loss, correction
by reversal, counts and reconciliation, and the balance as of a past date."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from clinic.services import staff_membership_add
from scheduling.booking.models import StaffNotice
from scheduling.stock.models import StockBalance, StockEntry, StockLocation
from scheduling.stock.selectors import stock_balance_as_of, stock_balances_as_of
from scheduling.stock.services import (
    stock_count,
    stock_draw,
    stock_entry_reverse,
    stock_loss,
    stock_reconcile,
    stock_return,
    stock_transfer,
    stock_waste,
)

from ..conftest import at, make_clinic
from .conftest import PASSWORD, receive

K = StockEntry.Kind


def balance(lot, location) -> Decimal:
    return StockBalance.objects.get(lot=lot, location=location).balance


def test_a_receipt_puts_the_lot_on_hand_with_its_invoice(safe, ketamine_50, staff):
    entry = receive(safe, ketamine_50, staff["clinic_admin"], quantity="30")

    assert (entry.kind, entry.quantity, entry.balance_after) == (K.RECEIPT, 30, 30)
    assert (entry.supplier, entry.invoice_number) == ("Medline", "INV-1")
    assert balance(entry.lot, safe) == 30
    again = receive(safe, ketamine_50, staff["clinic_admin"], quantity="10")
    assert again.lot == entry.lot and again.balance_after == 40


def test_only_a_clinic_admin_receives_stock(safe, ketamine_50, staff):
    for role in ("nurse", "clinician", "front_desk"):
        with pytest.raises(PermissionDenied):
            receive(safe, ketamine_50, staff[role])
    assert not StockEntry.objects.exists()


def test_a_receipt_names_the_lot_invoice_and_a_quantity(safe, ketamine_50, staff):
    with pytest.raises(ValidationError) as err:
        receive(safe, ketamine_50, staff["clinic_admin"], quantity="0")
    assert "quantity" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        receive(safe, ketamine_50, staff["clinic_admin"], lot=" ")
    assert "lot_number" in err.value.message_dict


def test_a_draw_takes_from_the_balance(ketamine_lot, safe, staff):
    entry = stock_draw(
        lot=ketamine_lot, location=safe, quantity="1.5", by=staff["nurse"], now=at(2027, 1, 4, 10)
    )
    assert (entry.quantity, entry.balance_after) == (Decimal("-1.5"), Decimal("18.5"))
    assert balance(ketamine_lot, safe) == Decimal("18.5")


def test_an_over_draw_is_refused_naming_quantity(ketamine_lot, safe, staff):
    with pytest.raises(ValidationError) as err:
        stock_draw(
            lot=ketamine_lot,
            location=safe,
            quantity="20.001",
            by=staff["nurse"],
            now=at(2027, 1, 4, 10),
        )
    assert "below zero" in err.value.message_dict["quantity"][0]
    assert balance(ketamine_lot, safe) == 20
    assert StockEntry.objects.count() == 1


def test_a_draw_from_an_expired_lot_is_refused_naming_lot(safe, ketamine_50, staff):
    lot = receive(
        safe, ketamine_50, staff["clinic_admin"], lot="OLD", expires=dt.date(2027, 1, 3)
    ).lot
    with pytest.raises(ValidationError) as err:
        stock_draw(lot=lot, location=safe, quantity="1", by=staff["nurse"], now=at(2027, 1, 4))
    assert "expired" in err.value.message_dict["lot"][0]


def test_a_draw_from_another_clinics_lot_is_refused_naming_lot(ketamine_lot, staff):
    elsewhere = StockLocation.objects.create(clinic=make_clinic(slug="north"), name="Safe")
    staff_membership_add(user=staff["nurse"], clinic=elsewhere.clinic, role="nurse")
    with pytest.raises(ValidationError) as err:
        stock_draw(
            lot=ketamine_lot,
            location=elsewhere,
            quantity="1",
            by=staff["nurse"],
            now=at(2027, 1, 4),
        )
    assert "another clinic" in err.value.message_dict["lot"][0]


def test_the_front_desk_cannot_draw(ketamine_lot, safe, staff):
    with pytest.raises(PermissionDenied):
        stock_draw(lot=ketamine_lot, location=safe, quantity="1", by=staff["front_desk"])


def _waste(lot, safe, by, witness, password=PASSWORD):
    return stock_waste(
        lot=lot,
        location=safe,
        quantity="0.5",
        by=by,
        witness=witness,
        witness_password=password,
        reason="Opened vial past use-by",
        now=at(2027, 1, 4, 10),
    )


@pytest.mark.parametrize(
    "witness, password, field",
    [
        ("", PASSWORD, "witness"),  # nobody
        ("nurse", PASSWORD, "witness"),  # the same user
        ("clinician", "wrong", "witness_password"),  # a name typed in, not proven
        ("front_desk", PASSWORD, "witness"),  # not a clinical or admin role
        ("outsider", PASSWORD, "witness"),  # another clinic's nurse
    ],
)
def test_waste_needs_a_real_second_user(
    ketamine_lot, safe, staff, other_clinic, witness, password, field
):
    outsider = get_user_model().objects.create_user(username="outsider", password=PASSWORD)
    staff_membership_add(user=outsider, clinic=other_clinic, role="nurse")
    with pytest.raises(ValidationError) as err:
        _waste(ketamine_lot, safe, staff["nurse"], witness, password)
    assert field in err.value.message_dict
    assert balance(ketamine_lot, safe) == 20


@pytest.mark.parametrize("witness", ["clinician", "clinic_admin"])
def test_waste_witnessed_by_a_colleague_is_recorded_with_them(ketamine_lot, safe, staff, witness):
    entry = _waste(ketamine_lot, safe, staff["nurse"], witness)
    assert (entry.kind, entry.quantity, entry.witness) == (K.WASTE, Decimal("-0.5"), staff[witness])
    assert entry.witnessed_at == at(2027, 1, 4, 10)
    assert balance(ketamine_lot, safe) == Decimal("19.5")


def test_a_loss_records_the_dea_106_fields_before_a_witness(ketamine_lot, safe, staff):
    entry = stock_loss(
        lot=ketamine_lot,
        location=safe,
        quantity="10",
        by=staff["clinician"],
        discovered_on=dt.date(2027, 1, 4),
        circumstances="Vial missing from safe",
        witness="clinic_admin",
        witness_password=PASSWORD,
        now=at(2027, 1, 4, 17),
    )
    assert (entry.kind, entry.dea_discovered_on) == (K.LOSS, dt.date(2027, 1, 4))
    assert (
        entry.dea_circumstances == "Vial missing from safe"
        and entry.witness == staff["clinic_admin"]
    )
    with pytest.raises(ValidationError) as err:
        stock_loss(
            lot=ketamine_lot,
            location=safe,
            quantity="1",
            by=staff["clinician"],
            discovered_on=dt.date(2027, 1, 4),
            circumstances=" ",
            witness="clinic_admin",
            witness_password=PASSWORD,
            now=at(2027, 1, 4, 17),
        )
    assert "circumstances" in err.value.message_dict


def test_a_transfer_moves_stock_between_the_clinics_locations(ketamine_lot, safe, staff):
    cabinet = StockLocation.objects.create(clinic=safe.clinic, name="Cabinet B")
    out, into = stock_transfer(
        lot=ketamine_lot,
        from_location=safe,
        to_location=cabinet,
        quantity="5",
        by=staff["clinic_admin"],
    )
    assert (out.quantity, into.quantity) == (-5, 5)
    assert (balance(ketamine_lot, safe), balance(ketamine_lot, cabinet)) == (15, 5)
    with pytest.raises(PermissionDenied):
        stock_transfer(
            lot=ketamine_lot,
            from_location=safe,
            to_location=cabinet,
            quantity="1",
            by=staff["nurse"],
        )


def test_a_return_to_a_reverse_distributor_is_an_admins(ketamine_lot, safe, staff):
    entry = stock_return(
        lot=ketamine_lot,
        location=safe,
        quantity="20",
        distributor="RxReturns",
        by=staff["clinic_admin"],
    )
    assert (entry.kind, entry.supplier, entry.balance_after) == (K.RETURN, "RxReturns", 0)
    with pytest.raises(PermissionDenied):
        stock_return(
            lot=ketamine_lot, location=safe, quantity="1", distributor="X", by=staff["nurse"]
        )


def test_a_wrong_entry_is_corrected_by_reversal_and_stays(ketamine_lot, safe, staff):
    draw = stock_draw(
        lot=ketamine_lot, location=safe, quantity="3", by=staff["nurse"], now=at(2027, 1, 4, 10)
    )
    with pytest.raises(PermissionDenied):
        stock_entry_reverse(entry=draw, by=staff["nurse"], reason="Wrong lot")
    with pytest.raises(ValidationError) as err:
        stock_entry_reverse(entry=draw, by=staff["clinician"], reason="")
    assert "reason" in err.value.message_dict

    fix = stock_entry_reverse(entry=draw, by=staff["clinician"], reason="Wrong lot")

    assert (fix.kind, fix.quantity, fix.reverses, fix.balance_after) == (K.REVERSAL, 3, draw, 20)
    assert StockEntry.objects.filter(pk=draw.pk, quantity=-3).exists()
    with pytest.raises(ValidationError) as err:
        stock_entry_reverse(entry=draw, by=staff["clinician"], reason="Again")
    assert "already reversed" in err.value.message_dict["entry"][0]


def test_the_ledger_is_never_edited_or_deleted(ketamine_lot):
    entry = StockEntry.objects.get(lot=ketamine_lot)
    entry.quantity = 99
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    assert StockEntry.objects.get(pk=entry.pk).quantity == 20


def test_the_database_keeps_a_balance_at_or_above_zero(ketamine_lot, safe):
    with pytest.raises(IntegrityError), transaction.atomic():
        StockBalance.objects.filter(lot=ketamine_lot, location=safe).update(balance=-1)


def test_a_matching_count_needs_no_witness_and_raises_nothing(ketamine_lot, safe, staff):
    count = stock_count(location=safe, counted={ketamine_lot.pk: "20"}, by=staff["nurse"])
    assert not count.has_discrepancy and count.witness is None
    assert [(line.expected, line.counted) for line in count.lines.all()] == [(20, 20)]
    assert not StaffNotice.objects.exists()


def test_a_count_lists_every_lot_on_hand(ketamine_lot, device_lot, safe, staff):
    with pytest.raises(ValidationError) as err:
        stock_count(location=safe, counted={ketamine_lot.pk: "20"}, by=staff["nurse"])
    assert "missing" in err.value.message_dict["counted"][0]


def test_a_count_discrepancy_needs_a_reason_and_witness_and_raises_a_notice(
    ketamine_lot, safe, staff
):
    with pytest.raises(ValidationError) as err:
        stock_count(location=safe, counted={ketamine_lot.pk: "19.5"}, by=staff["nurse"])
    assert "reason" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        stock_count(
            location=safe,
            counted={ketamine_lot.pk: "19.5"},
            by=staff["nurse"],
            reason="Spill when drawing",
        )
    assert "witness" in err.value.message_dict

    count = stock_count(
        location=safe,
        counted={ketamine_lot.pk: "19.5"},
        by=staff["nurse"],
        reason="Spill when drawing",
        witness="clinician",
        witness_password=PASSWORD,
        now=at(2027, 1, 4, 18),
    )

    notice = StaffNotice.objects.get()
    assert (notice.kind, notice.clinic) == (StaffNotice.Kind.STOCK_DISCREPANCY, safe.clinic)
    assert balance(ketamine_lot, safe) == 20  # only a reconciliation moves it
    with pytest.raises(PermissionDenied):
        stock_reconcile(count=count, by=staff["nurse"])
    (adjustment,) = stock_reconcile(count=count, by=staff["clinic_admin"], now=at(2027, 1, 4, 19))
    assert (adjustment.kind, adjustment.quantity, adjustment.count) == (
        K.ADJUSTMENT,
        Decimal("-0.5"),
        count,
    )
    assert adjustment.witness == staff["clinician"]
    assert balance(ketamine_lot, safe) == Decimal("19.5")
    with pytest.raises(ValidationError):
        stock_reconcile(count=count, by=staff["clinic_admin"])


def test_the_balance_as_of_a_past_date_is_the_sum_of_the_ledger(ketamine_lot, safe, staff):
    for day, qty in ((4, "2"), (5, "1.25"), (6, "4")):
        stock_draw(
            lot=ketamine_lot,
            location=safe,
            quantity=qty,
            by=staff["nurse"],
            now=at(2027, 1, day, 10),
        )
    receive(safe, ketamine_lot.product, staff["clinic_admin"], quantity="10", now=at(2027, 1, 7))

    as_of = lambda when: stock_balance_as_of(lot_id=ketamine_lot.pk, location_id=safe.pk, at=when)  # noqa: E731
    assert as_of(at(2027, 1, 1)) == 0
    assert as_of(at(2027, 1, 4, 23)) == 18
    assert as_of(at(2027, 1, 5, 23)) == Decimal("16.75")
    assert as_of(at(2027, 2, 1)) == balance(ketamine_lot, safe) == Decimal("22.75")
    # Every entry's running balance is the ledger's sum up to it.
    for entry in StockEntry.objects.filter(lot=ketamine_lot):
        assert as_of(entry.at) == entry.balance_after
    (row,) = stock_balances_as_of(clinic=safe.clinic, at=at(2027, 1, 5, 23))
    assert row["balance"] == Decimal("16.75")
