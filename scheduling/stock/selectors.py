"""Reads for the controlled-substance record: balances (now, and as of any past moment
from the ledger) and the dispensing log an inspector asks for."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from clinic.models import Clinic

from .models import StockBalance, StockEntry, StockLocation

K = StockEntry.Kind


def clinic_keeps_stock(*, clinic_id: int) -> bool:
    """A clinic with a storage location keeps its controlled-substance record here: its
    doses draw from a lot."""
    return StockLocation.objects.filter(clinic_id=clinic_id).exists()


def stock_balance_as_of(*, lot_id: int, location_id: int, at: dt.datetime) -> Decimal:
    """What a lot held at a location at `at`: the sum of its ledger up to then."""
    total = StockEntry.objects.filter(lot_id=lot_id, location_id=location_id, at__lte=at)
    return total.aggregate(s=Sum("quantity"))["s"] or Decimal(0)


def stock_balances_as_of(*, clinic: Clinic, at: dt.datetime) -> list[dict]:
    """Every (lot, location) of the clinic with its balance at `at`, from the ledger."""
    rows = (
        StockEntry.objects.filter(clinic=clinic, at__lte=at)
        .values("lot_id", "lot__lot_number", "lot__product__name", "location_id", "location__name")
        .annotate(balance=Sum("quantity"))
        .order_by("location__name", "lot__product__name", "lot__lot_number")
    )
    return list(rows)


def stock_on_hand(*, clinic: Clinic):
    """The balance rows of the clinic, with lot, product and location (one query)."""
    return (
        StockBalance.objects.filter(location__clinic=clinic)
        .select_related("lot__product", "location")
        .order_by("location__name", "lot__product__name", "lot__expires_on")
    )


@dataclass
class Dispensed:
    """One administration as the dispensing log shows it."""

    given_at: dt.datetime
    patient_id: int
    patient: str
    mrn: str
    product: str
    lot: str
    unit: str
    given: Decimal
    wasted: Decimal
    mg_per_unit: Decimal
    given_by: str
    witness: str

    @property
    def mg_given(self) -> Decimal:
        return self.given * self.mg_per_unit


def dispensing_log(*, clinic: Clinic, start: dt.datetime, end: dt.datetime) -> list[Dispensed]:
    """Per administration from `start` to before `end`: date, patient, product, lot,
    quantity given and wasted, by whom, witness (draws and wastes of a dose, reversed
    ones left out)."""
    entries = (
        StockEntry.objects.filter(
            clinic=clinic,
            kind__in=[K.DRAW, K.WASTE],
            dose__isnull=False,
            dose__started_at__gte=start,
            dose__started_at__lt=end,
            reversed_by__isnull=True,
        )
        .select_related(
            "dose__session__patient", "dose__administered_by", "lot__product", "witness"
        )
        .order_by("dose__started_at", "pk")
    )
    rows: dict[tuple[int, int], Dispensed] = {}
    for e in entries:
        dose, key = e.dose, (e.dose_id, e.lot_id)
        if key not in rows:
            patient = dose.session.patient
            rows[key] = Dispensed(
                given_at=dose.started_at,
                patient_id=patient.pk,
                patient=f"{patient.last_name}, {patient.first_name}",
                mrn=patient.mrn,
                product=e.lot.product.name,
                lot=e.lot.lot_number,
                unit=e.lot.product.get_unit_display(),
                given=Decimal(0),
                mg_per_unit=e.lot.product.mg_per_unit,
                wasted=Decimal(0),
                given_by=dose.administered_by.get_username(),
                witness="",
            )
        row = rows[key]
        if e.kind == K.DRAW:
            row.given += -e.quantity
        else:
            row.wasted += -e.quantity
            row.witness = e.witness.get_username() if e.witness else ""
    return list(rows.values())
