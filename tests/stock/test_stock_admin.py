"""The ledger in the admin: readable by the clinic's clinical staff and admin, never
changed there; another clinic's entries are not found."""

from scheduling.stock.models import StockEntry

from ..conftest import make_clinic
from .conftest import receive


def test_the_ledger_is_read_only_in_the_admin(client, ketamine_lot, staff):
    entry = StockEntry.objects.get(lot=ketamine_lot)
    client.force_login(staff["clinic_admin"])

    listing = client.get("/admin/scheduling/stockentry/")
    page = client.get(f"/admin/scheduling/stockentry/{entry.pk}/change/")
    posted = client.post(f"/admin/scheduling/stockentry/{entry.pk}/change/", {"quantity": "99"})

    assert listing.status_code == 200 and "K-100" in listing.content.decode()
    assert page.status_code == 200 and b'name="quantity"' not in page.content
    assert posted.status_code == 403
    assert client.get("/admin/scheduling/stockentry/add/").status_code == 403
    assert StockEntry.objects.get(pk=entry.pk).quantity == 20


def test_the_front_desk_and_other_clinics_do_not_see_the_ledger(client, ketamine_lot, staff):
    from scheduling.stock.models import StockLocation

    north = StockLocation.objects.create(clinic=make_clinic(slug="north"), name="Safe N")
    from clinic.services import staff_membership_add

    staff_membership_add(user=staff["clinic_admin"], clinic=north.clinic, role="clinic_admin")
    theirs = receive(north, ketamine_lot.product, staff["clinic_admin"], lot="N-1")
    staff_membership_add(user=staff["nurse"], clinic=north.clinic, role="front_desk")

    client.force_login(staff["front_desk"])
    assert client.get("/admin/scheduling/stockentry/").status_code == 403
    client.force_login(staff["nurse"])
    assert client.get(f"/admin/scheduling/stockentry/{theirs.pk}/change/").status_code == 404
