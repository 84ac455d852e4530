"""Two nurses draw the last of a lot at the same moment: one succeeds, the other is
refused, and the balance never goes below zero (the balance row's lock, and the
database's check). PostgreSQL, which locks rows; SQLite's write transaction excludes
the other writer anyway."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from scheduling.stock.models import StockBalance, StockEntry
from scheduling.stock.selectors import stock_balance_as_of
from scheduling.stock.services import stock_draw

from ..conftest import at

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


def test_two_draws_of_the_last_of_a_lot_at_once_one_is_refused(ketamine_lot, safe, staff):
    start = threading.Barrier(2)
    outcomes = []

    def draw(nurse):
        try:
            start.wait(timeout=30)
            stock_draw(lot=ketamine_lot, location=safe, quantity="20", by=nurse,
                       now=at(2027, 1, 4, 10))  # fmt: skip
            outcomes.append("drawn")
        except ValidationError as exc:
            outcomes.append(next(iter(exc.message_dict)))
        finally:
            connection.close()

    threads = [threading.Thread(target=draw, args=(staff[r],)) for r in ("nurse", "clinician")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(outcomes) == ["drawn", "quantity"]
    assert StockBalance.objects.get(lot=ketamine_lot, location=safe).balance == 0
    assert StockEntry.objects.filter(kind="draw").count() == 1
    assert stock_balance_as_of(lot_id=ketamine_lot.pk, location_id=safe.pk, at=at(2027, 2, 1)) == 0
