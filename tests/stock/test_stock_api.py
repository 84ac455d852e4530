"""The stock record over the API (issue 19, items 6 and 7): who may do what, scoped to
the clinic, in the schema; the dispensing log as CSV whose totals are the doses charted."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from clinic.services import staff_membership_add
from scheduling.booking.models import StaffNotice
from scheduling.chart.models import DoseAdministration
from scheduling.stock.models import StockBalance, StockEntry

from ..conftest import chart_check_in, chart_dose
from .conftest import PASSWORD

URL = "/api/v1/stock"


def client_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def receipt_body(safe, product, **extra):
    return {
        "location": safe.pk,
        "product": product.pk,
        "lot_number": "K-9",
        "expires_on": "2028-06-30",
        "quantity": "10.000",
        "supplier": "Medline",
        "invoice_number": "INV-22",
        **extra,
    }


def test_a_clinic_admin_receives_and_a_nurse_may_not(safe, ketamine_50, staff):
    refused = client_for(staff["nurse"]).post(
        f"{URL}/entries/receive/", receipt_body(safe, ketamine_50), format="json"
    )
    assert refused.status_code == 403

    response = client_for(staff["clinic_admin"]).post(
        f"{URL}/entries/receive/", receipt_body(safe, ketamine_50), format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["quantity"], body["balance_after"]) == (
        "receipt",
        "10.000",
        "10.000",
    )
    assert body["quantity_mg"] == "500.00000"


@pytest.mark.parametrize("path", ["entries", "lots", "locations", "counts", "products"])
def test_the_front_desk_sees_none_of_it(ketamine_lot, staff, path):
    assert client_for(staff["front_desk"]).get(f"{URL}/{path}/").status_code == 403


def test_another_clinics_admin_cannot_name_our_safe(safe, ketamine_50, other_clinic):
    admin = get_user_model().objects.create_user(username="north-admin", password=PASSWORD)
    staff_membership_add(user=admin, clinic=other_clinic, role="clinic_admin")
    response = client_for(admin).post(
        f"{URL}/entries/receive/", receipt_body(safe, ketamine_50), format="json"
    )
    assert response.status_code == 400 and "location" in response.json()["errors"]
    assert client_for(admin).get(f"{URL}/entries/").json()["results"] == []


def test_a_nurse_draws_and_wastes_before_a_witness(ketamine_lot, safe, staff):
    api = client_for(staff["nurse"])
    move = {"lot": ketamine_lot.pk, "location": safe.pk, "quantity": "2.000"}
    assert api.post(f"{URL}/entries/draw/", move, format="json").status_code == 201
    over = api.post(f"{URL}/entries/draw/", {**move, "quantity": "99.000"}, format="json")
    assert over.status_code == 400 and "quantity" in over.json()["errors"]

    waste = {
        **move,
        "quantity": "0.500",
        "reason": "Opened vial past use-by",
        "witness": "clinician",
        "witness_password": "wrong",
    }
    refused = api.post(f"{URL}/entries/waste/", waste, format="json")
    assert refused.status_code == 400 and "witness_password" in refused.json()["errors"]
    waste["witness_password"] = PASSWORD
    assert api.post(f"{URL}/entries/waste/", waste, format="json").status_code == 201
    assert StockBalance.objects.get(lot=ketamine_lot).balance == Decimal("17.5")

    lot = client_for(staff["nurse"]).get(f"{URL}/lots/{ketamine_lot.pk}/").json()
    assert lot["on_hand"] == [{"location": safe.pk, "quantity": "17.500", "mg": "875.00000"}]


def test_a_count_that_differs_tells_the_admin_who_reconciles(ketamine_lot, safe, staff):
    body = {
        "location": safe.pk,
        "lines": [{"lot": ketamine_lot.pk, "counted": "19.000"}],
        "reason": "Broken vial",
        "witness": "clinic_admin",
        "witness_password": PASSWORD,
    }
    response = client_for(staff["nurse"]).post(f"{URL}/counts/", body, format="json")
    assert response.status_code == 201, response.json()
    count = response.json()
    assert (
        count["has_discrepancy"] and StaffNotice.objects.filter(kind="stock_discrepancy").exists()
    )

    assert (
        client_for(staff["nurse"]).post(f"{URL}/counts/{count['id']}/reconcile/").status_code == 403
    )
    done = client_for(staff["clinic_admin"]).post(f"{URL}/counts/{count['id']}/reconcile/")
    assert done.status_code == 201
    assert [e["quantity"] for e in done.json()] == ["-1.000"]


def test_a_clinician_reverses_a_wrong_entry(ketamine_lot, staff):
    entry = StockEntry.objects.get(lot=ketamine_lot)
    response = client_for(staff["clinician"]).post(
        f"{URL}/entries/{entry.pk}/reverse/", {"reason": "Entered twice"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["reverses"] == entry.pk
    assert StockBalance.objects.get(lot=ketamine_lot).balance == 0


def test_the_stock_endpoints_are_in_the_schema():
    paths = SchemaGenerator(api_version="v1").get_schema(request=None, public=True)["paths"]
    for path in (
        "entries/receive/",
        "entries/transfer/",
        "entries/draw/",
        "entries/waste/",
        "entries/loss/",
        "entries/return/",
        "entries/{id}/reverse/",
        "counts/",
        "counts/{id}/reconcile/",
        "entries/dispensing-log/",
        "lots/",
    ):
        assert f"/api/v1/stock/{path}" in paths


def test_the_dispensing_log_csv_totals_equal_the_doses_charted(
    iv_session, esketamine_session, ketamine_lot, device_lot, staff
):
    nurse = staff["nurse"]
    chart_check_in(iv_session, nurse=nurse, now=iv_session.starts_at)
    chart_dose(
        iv_session,
        nurse=nurse,
        now=iv_session.starts_at,
        stock_lot=ketamine_lot,
        stock_drawn="1",
        witness="clinician",
        witness_password=PASSWORD,
    )
    chart_check_in(esketamine_session, nurse=nurse, now=esketamine_session.starts_at)
    chart_dose(
        esketamine_session, nurse=nurse, now=esketamine_session.starts_at, stock_lot=device_lot
    )

    response = client_for(staff["clinician"]).get(
        f"{URL}/entries/dispensing-log/",
        {"clinic": iv_session.clinic_id, "start": "2027-01-04", "end": "2027-01-05"},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["date"], r["lot"], r["unit"]) for r in rows] == [
        ("2027-01-04", "K-100", "mL"),
        ("2027-01-05", "E-7", "device"),
    ]
    doses = DoseAdministration.objects.all()
    assert sum(Decimal(r["mg_given"]) for r in rows) == sum(d.total_mg for d in doses) == 96
    assert [Decimal(r["quantity_given"]) for r in rows] == [Decimal("0.8"), 2]
    assert [Decimal(r["quantity_wasted"]) for r in rows] == [Decimal("0.2"), 0]
    assert [(r["given_by"], r["witness"]) for r in rows] == [("nurse", "clinician"), ("nurse", "")]
    assert rows[0]["mrn"] == iv_session.patient.mrn

    other_days = client_for(staff["clinician"]).get(
        f"{URL}/entries/dispensing-log/",
        {"clinic": iv_session.clinic_id, "start": "2027-01-06", "end": "2027-01-06"},
    )
    assert list(csv.DictReader(io.StringIO(other_days.content.decode()))) == []


def test_the_dispensing_log_names_a_bad_range(clinic, staff):
    api = client_for(staff["clinician"])
    backwards = api.get(
        f"{URL}/entries/dispensing-log/",
        {"clinic": clinic.pk, "start": "2027-01-05", "end": "2027-01-04"},
    )
    assert backwards.status_code == 400 and "end" in backwards.json()["errors"]
    assert (
        api.get(
            f"{URL}/entries/dispensing-log/",
            {"clinic": clinic.pk + 99, "start": str(dt.date(2027, 1, 1)), "end": "2027-01-02"},
        ).status_code
        == 400
    )
