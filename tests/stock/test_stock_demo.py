"""The demo data has a controlled-substance record: products, a safe, a lot of each
received, and a count that matches; loading it again adds nothing."""

from django.core.management import call_command

from scheduling.stock.models import Lot, StockBalance, StockCount, StockEntry


def test_the_demo_has_stock_on_hand_and_a_count(db, settings):
    settings.DEBUG = True
    call_command("demo_seed", verbosity=0)
    call_command("demo_seed", verbosity=0)

    assert Lot.objects.count() == 3
    assert StockEntry.objects.filter(kind="receipt").count() == 3
    assert sorted(b.balance for b in StockBalance.objects.all()) == [10, 50, 100]
    count = StockCount.objects.get()
    assert not count.has_discrepancy and count.lines.count() == 3
