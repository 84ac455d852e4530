"""The chart page's dose at a clinic keeping its stock record: the lot is chosen from
stock (not typed), the remainder wasted before a witness giving their password."""

from decimal import Decimal

import time_machine
from django.urls import reverse

from scheduling.chart.models import DoseAdministration
from scheduling.stock.models import StockEntry

from ..conftest import chart_check_in
from .conftest import PASSWORD


def test_the_chart_page_draws_the_dose_from_a_chosen_lot(client, staff, iv_session, ketamine_lot):
    with time_machine.travel(iv_session.starts_at, tick=False):
        chart_check_in(iv_session, nurse=staff["nurse"], now=iv_session.starts_at)
        client.force_login(staff["nurse"])
        page = client.get(reverse("pages:chart", args=[iv_session.id])).content.decode()
        assert 'name="stock_lot"' in page and "K-100" in page
        assert 'name="witness_password"' in page

        url = reverse("pages:chart_dose", args=[iv_session.id])
        dose = {"mg_per_kg": "0.50", "infusion_minutes": "40", "stock_lot": ketamine_lot.pk,
                "stock_drawn": "1"}  # fmt: skip
        refused = client.post(url, dose)
        assert refused.status_code == 400 and not DoseAdministration.objects.exists()
        witnessed = {**dose, "witness": "clinician", "witness_password": PASSWORD}
        assert client.post(url, witnessed).status_code == 200

    kinds = StockEntry.objects.filter(dose__session=iv_session).values_list("kind", "quantity")
    assert sorted(kinds) == [("draw", Decimal("-0.8")), ("waste", Decimal("-0.2"))]
