"""A clinic keeping its controlled-substance record: a safe, ketamine vials and
esketamine devices received."""

import datetime as dt
from decimal import Decimal

import pytest

from scheduling.stock.models import Product, StockLocation
from scheduling.stock.services import stock_receive

from ..conftest import at

PASSWORD = "pw-for-tests-only"  # every `staff` user's


@pytest.fixture
def ketamine_50(db):
    return Product.objects.create(
        name="Ketamine 50 mg/mL 10 mL vial",
        drug="ketamine",
        form="vial",
        strength="50 mg/mL",
        unit="ml",
        mg_per_unit=Decimal(50),
        units_per_pack=Decimal(10),
        ndc_code="0409-2051-05",
    )


@pytest.fixture
def esketamine_device(db):
    return Product.objects.create(
        name="Esketamine 28 mg nasal device",
        drug="esketamine",
        form="nasal_device",
        strength="28 mg",
        unit="device",
        mg_per_unit=Decimal(28),
        units_per_pack=Decimal(2),
        ndc_code="50458-028-02",
    )


@pytest.fixture
def safe(clinic):
    return StockLocation.objects.create(clinic=clinic, name="Safe A")


def receive(
    location, product, by, *, lot="K-100", quantity="20", expires=dt.date(2028, 1, 31), now=None
):
    return stock_receive(
        location=location,
        product=product,
        lot_number=lot,
        expires_on=expires,
        quantity=quantity,
        supplier="Medline",
        invoice_number="INV-1",
        by=by,
        now=now or at(2027, 1, 2, 9),
    )


@pytest.fixture
def ketamine_lot(safe, ketamine_50, staff):
    return receive(safe, ketamine_50, staff["clinic_admin"]).lot


@pytest.fixture
def device_lot(safe, esketamine_device, staff):
    return receive(safe, esketamine_device, staff["clinic_admin"], lot="E-7", quantity="6").lot
