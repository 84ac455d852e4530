"""Writes for the controlled-substance record: every movement is a ledger entry posted by
`_post`, which locks the (lot, location) balance row, refuses a balance below zero
naming `quantity`, and moves the balance in the same transaction.

Who may do what (issue 19, item 7): nurses and clinicians draw, waste and count; clinic
admins receive, transfer, return and reconcile. Waste, loss and a count that does not
match are witnessed by another staff member of the clinic (clinical or admin role) who
gives their own password in the same request. Logs carry ids only.
"""

import datetime as dt
import logging
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from clinic.models import Clinic, StaffMembership
from clinic.selectors import staff_has_role, user_has_role

from ..booking.models import Session, StaffNotice
from ..booking.services.notices import staff_notice_raise
from .models import Lot, Product, StockBalance, StockCount, StockCountLine, StockEntry
from .models import StockLocation as Location

logger = logging.getLogger(__name__)

R = StaffMembership.Role
K = StockEntry.Kind
CARE = (R.NURSE, R.CLINICIAN)  # draw, waste, count
ADMIN = (R.CLINIC_ADMIN,)  # receive, transfer, return, reconcile
WITNESSES = (R.NURSE, R.CLINICIAN, R.CLINIC_ADMIN)
CORRECTORS = (R.CLINICIAN, R.CLINIC_ADMIN)  # reverse a wrong entry


def _require(*, by: AbstractBaseUser | None, clinic: Clinic, roles, doing: str) -> None:
    if by is None or not user_has_role(user=by, clinic=clinic, roles=roles):
        who = " or ".join(R(r).label.lower() for r in roles)
        raise PermissionDenied(f"Only a {who} of the clinic can {doing}.")


def _quantity(value, field: str = "quantity") -> Decimal:
    try:
        q = Decimal(str(value))
    except (InvalidOperation, TypeError):
        raise ValidationError({field: "Give a quantity in the product's unit."}) from None
    if not q.is_finite() or q <= 0 or q != q.quantize(Decimal("0.001")) or q >= 10**6:
        raise ValidationError({field: "Give a quantity above 0, to 3 decimals."})
    return q


def _text(value: str, field: str, what: str) -> str:
    if not (value or "").strip():
        raise ValidationError({field: f"Give {what}."})
    return value.strip()


def witness_confirm(
    *, clinic: Clinic, by: AbstractBaseUser, witness: str, witness_password: str
) -> AbstractBaseUser:
    """The second person: another staff member of the clinic with a clinical or admin
    role, proven by their own password in this request (not a name typed in)."""
    if not (witness or "").strip():
        raise ValidationError({"witness": "A second staff member witnesses this: their username."})
    # A request of its own: the lockout (django-axes) counts a witness's wrong passwords
    # apart from their logins, and locks the witness out after as many.
    user = authenticate(HttpRequest(), username=witness.strip(), password=witness_password or "")
    if user is None:
        raise ValidationError(
            {"witness_password": "The witness's username and password do not match."}
        )
    if user.pk == by.pk:
        raise ValidationError({"witness": "The witness is another person, not you."})
    if not staff_has_role(user=user, clinic_id=clinic.pk, roles=WITNESSES):
        raise ValidationError(
            {"witness": "The witness is a nurse, clinician or clinic admin of this clinic."}
        )
    return user


def _post(
    *, lot: Lot, location: Location, kind: str, quantity: Decimal, by, now, **fields
) -> StockEntry:
    """Append one entry and move the (lot, location) balance with it, under its row lock."""
    StockBalance.objects.get_or_create(lot=lot, location=location)
    balance = StockBalance.objects.select_for_update().get(lot=lot, location=location)
    after = balance.balance + quantity
    if after < 0:
        unit = lot.product.get_unit_display()
        raise ValidationError(
            {
                "quantity": f"Lot {lot.lot_number} holds {balance.balance} {unit} at "
                f"{location.name}: {-quantity} {unit} would take it below zero."
            }
        )
    balance.balance = after
    balance.save(update_fields=["balance"])
    return StockEntry.objects.create(
        clinic_id=location.clinic_id,
        location=location,
        lot=lot,
        kind=kind,
        quantity=quantity,
        balance_after=after,
        by=by,
        at=now,
        **fields,
    )


def _clinic_lot(lot: Lot, location: Location) -> None:
    if lot.clinic_id != location.clinic_id:
        raise ValidationError({"lot": "This lot is another clinic's stock."})


def _usable_lot(lot: Lot, location: Location, now: dt.datetime) -> None:
    _clinic_lot(lot, location)
    if lot.expires_on < location.clinic.local_today(now):
        raise ValidationError({"lot": f"Lot {lot.lot_number} expired on {lot.expires_on}."})


@transaction.atomic
def stock_receive(
    *,
    location: Location,
    product: Product,
    lot_number: str,
    expires_on: dt.date,
    quantity,
    supplier: str,
    invoice_number: str,
    by: AbstractBaseUser,
    now: dt.datetime | None = None,
) -> StockEntry:
    """A delivery from a supplier, against its invoice or order number, into a location."""
    now = now or timezone.now()
    _require(by=by, clinic=location.clinic, roles=ADMIN, doing="receive stock")
    lot_number = _text(lot_number, "lot_number", "the lot number on the pack")
    lot, _ = Lot.objects.get_or_create(
        clinic=location.clinic,
        product=product,
        lot_number=lot_number,
        defaults={"expires_on": expires_on},
    )
    if lot.expires_on != expires_on:
        raise ValidationError(
            {"expires_on": f"Lot {lot_number} is on record as expiring on {lot.expires_on}."}
        )
    entry = _post(
        lot=lot,
        location=location,
        kind=K.RECEIPT,
        quantity=_quantity(quantity),
        by=by,
        now=now,
        supplier=_text(supplier, "supplier", "the supplier"),
        invoice_number=_text(invoice_number, "invoice_number", "the invoice or order number"),
    )
    logger.info("stock entry %s: receipt by user %s", entry.pk, by.pk)
    return entry


@transaction.atomic
def stock_transfer(
    *,
    lot: Lot,
    from_location: Location,
    to_location: Location,
    quantity,
    by: AbstractBaseUser,
    reason: str = "",
    now: dt.datetime | None = None,
) -> tuple[StockEntry, StockEntry]:
    """Move stock of a lot between two locations of the clinic: out, then in."""
    now = now or timezone.now()
    _require(by=by, clinic=from_location.clinic, roles=ADMIN, doing="transfer stock")
    if to_location.clinic_id != from_location.clinic_id:
        raise ValidationError({"to_location": "Stock moves between the clinic's own locations."})
    if to_location.pk == from_location.pk:
        raise ValidationError({"to_location": "Choose another location than the one it is in."})
    _clinic_lot(lot, from_location)
    q = _quantity(quantity)
    out = _post(
        lot=lot,
        location=from_location,
        kind=K.TRANSFER_OUT,
        quantity=-q,
        by=by,
        now=now,
        reason=reason.strip(),
    )
    into = _post(
        lot=lot,
        location=to_location,
        kind=K.TRANSFER_IN,
        quantity=q,
        by=by,
        now=now,
        reason=reason.strip(),
    )
    return out, into


@transaction.atomic
def stock_draw(
    *,
    lot: Lot,
    location: Location,
    quantity,
    by: AbstractBaseUser,
    session: Session | None = None,
    dose=None,
    now: dt.datetime | None = None,
) -> StockEntry:
    """Take stock out for a dose: refused below zero (`quantity`), from an expired lot or
    another clinic's lot (`lot`)."""
    now = now or timezone.now()
    _require(by=by, clinic=location.clinic, roles=CARE, doing="draw stock")
    _usable_lot(lot, location, now)
    return _post(
        lot=lot,
        location=location,
        kind=K.DRAW,
        quantity=-_quantity(quantity),
        by=by,
        now=now,
        session=session,
        dose=dose,
    )


@transaction.atomic
def stock_waste(
    *,
    lot: Lot,
    location: Location,
    quantity,
    by: AbstractBaseUser,
    witness: str,
    witness_password: str,
    reason: str,
    session: Session | None = None,
    dose=None,
    now: dt.datetime | None = None,
) -> StockEntry:
    """Destroy what was drawn and not given, or an opened vial past its use-by time,
    before a witness."""
    now = now or timezone.now()
    _require(by=by, clinic=location.clinic, roles=CARE, doing="waste stock")
    _clinic_lot(lot, location)
    seen_by = witness_confirm(
        clinic=location.clinic, by=by, witness=witness, witness_password=witness_password
    )
    return _post(
        lot=lot,
        location=location,
        kind=K.WASTE,
        quantity=-_quantity(quantity),
        by=by,
        now=now,
        witness=seen_by,
        witnessed_at=now,
        reason=_text(reason, "reason", "what is wasted and why"),
        session=session,
        dose=dose,
    )


@transaction.atomic
def stock_loss(
    *,
    lot: Lot,
    location: Location,
    quantity,
    discovered_on: dt.date,
    circumstances: str,
    by: AbstractBaseUser,
    witness: str,
    witness_password: str,
    now: dt.datetime | None = None,
) -> StockEntry:
    """Loss or theft, with the DEA Form 106 fields (date discovered, quantity, lot, what
    happened), witnessed. The DEA is told in writing within one business day."""
    now = now or timezone.now()
    _require(by=by, clinic=location.clinic, roles=(*CARE, *ADMIN), doing="record a loss")
    _clinic_lot(lot, location)
    if discovered_on > location.clinic.local_today(now):
        raise ValidationError({"discovered_on": "A loss is discovered today or before."})
    seen_by = witness_confirm(
        clinic=location.clinic, by=by, witness=witness, witness_password=witness_password
    )
    return _post(
        lot=lot,
        location=location,
        kind=K.LOSS,
        quantity=-_quantity(quantity),
        by=by,
        now=now,
        witness=seen_by,
        witnessed_at=now,
        dea_discovered_on=discovered_on,
        dea_circumstances=_text(circumstances, "circumstances", "what happened"),
    )


@transaction.atomic
def stock_return(
    *,
    lot: Lot,
    location: Location,
    quantity,
    distributor: str,
    by: AbstractBaseUser,
    now: dt.datetime | None = None,
) -> StockEntry:
    """Stock that leaves through a reverse distributor."""
    now = now or timezone.now()
    _require(by=by, clinic=location.clinic, roles=ADMIN, doing="return stock")
    _clinic_lot(lot, location)
    return _post(
        lot=lot,
        location=location,
        kind=K.RETURN,
        quantity=-_quantity(quantity),
        by=by,
        now=now,
        supplier=_text(distributor, "distributor", "the reverse distributor"),
    )


@transaction.atomic
def stock_entry_reverse(
    *, entry: StockEntry, by: AbstractBaseUser, reason: str, now: dt.datetime | None = None
) -> StockEntry:
    """Correct a wrong entry by its opposite, with a reason: the entry itself stays."""
    now = now or timezone.now()
    _require(by=by, clinic=entry.clinic, roles=CORRECTORS, doing="reverse a stock entry")
    reason = _text(reason, "reason", "why the entry is wrong")
    if entry.kind == K.REVERSAL:
        raise ValidationError({"entry": "A reversal is not reversed: record the movement anew."})
    if StockEntry.objects.filter(reverses=entry).exists():
        raise ValidationError({"entry": "This entry is already reversed."})
    return _post(
        lot=entry.lot,
        location=entry.location,
        kind=K.REVERSAL,
        quantity=-entry.quantity,
        by=by,
        now=now,
        reason=reason,
        reverses=entry,
    )


@transaction.atomic
def stock_count(
    *,
    location: Location,
    counted: dict[int, object],
    by: AbstractBaseUser,
    witness: str = "",
    witness_password: str = "",
    reason: str = "",
    now: dt.datetime | None = None,
) -> StockCount:
    """A shift or daily count of every lot at a location: `counted` maps each lot id on
    hand to the quantity counted. Where it differs from the balance, a reason and a
    witness are needed, and the clinic admin is told (a staff notice) to reconcile."""
    now = now or timezone.now()
    _require(by=by, clinic=location.clinic, roles=(*CARE, *ADMIN), doing="count stock")
    balances = {
        b.lot_id: b
        for b in StockBalance.objects.select_for_update()
        .filter(location=location)
        .select_related("lot")
    }
    on_hand = {lot_id for lot_id, b in balances.items() if b.balance > 0}
    given = {int(k): v for k, v in counted.items()}
    unknown = set(given) - set(balances)
    if unknown:
        raise ValidationError({"counted": f"Lots {sorted(unknown)} are not held here."})
    missing = on_hand - set(given)
    if missing:
        raise ValidationError({"counted": f"Count every lot on hand: {sorted(missing)} missing."})
    lines = []
    for lot_id, value in given.items():
        q = Decimal(0) if value in (0, "0") else _quantity(value, f"counted.{lot_id}")
        lines.append((balances[lot_id], q))
    differs = [(b, q) for b, q in lines if b.balance != q]
    count = StockCount(
        clinic_id=location.clinic_id,
        location=location,
        counted_by=by,
        counted_at=now,
        has_discrepancy=bool(differs),
    )
    if differs:
        count.reason = _text(reason, "reason", "why the count differs")
        count.witness = witness_confirm(
            clinic=location.clinic, by=by, witness=witness, witness_password=witness_password
        )
    count.save()
    StockCountLine.objects.bulk_create(
        StockCountLine(count=count, lot_id=b.lot_id, expected=b.balance, counted=q)
        for b, q in lines
    )
    if differs:
        staff_notice_raise(
            clinic_id=location.clinic_id,
            kind=StaffNotice.Kind.STOCK_DISCREPANCY,
            dedupe_key=f"stock_count:{count.pk}",
            message=f"Stock count {count.pk} at {location.name} differs from the record in "
            f"{len(differs)} lot(s). A clinic admin reconciles it.",
            now=now,
        )
    return count


@transaction.atomic
def stock_reconcile(
    *, count: StockCount, by: AbstractBaseUser, now: dt.datetime | None = None
) -> list[StockEntry]:
    """A clinic admin brings the record to a count that differed: an adjustment entry per
    lot, linked to the count (the only way a balance changes without a movement)."""
    now = now or timezone.now()
    _require(by=by, clinic=count.clinic, roles=ADMIN, doing="reconcile a count")
    if not count.has_discrepancy:
        raise ValidationError({"count": "This count matched the record: nothing to reconcile."})
    if count.entries.exists():
        raise ValidationError({"count": "This count is already reconciled."})
    entries = []
    for line in count.lines.select_related("lot__product"):
        balance = StockBalance.objects.select_for_update().get(
            lot=line.lot, location=count.location
        )
        change = line.counted - balance.balance
        if change:
            entries.append(
                _post(
                    lot=line.lot,
                    location=count.location,
                    kind=K.ADJUSTMENT,
                    quantity=change,
                    by=by,
                    now=now,
                    count=count,
                    reason=count.reason,
                    witness=count.witness_id and count.witness,
                    witnessed_at=count.counted_at,
                )
            )
    return entries


# --- the chart's dose ----------------------------------------------------------------------


def units_for_mg(*, product: Product, mg) -> Decimal:
    """A dose in mg as the product's unit (mL to 3 decimals; devices whole)."""
    return (Decimal(mg) / product.mg_per_unit).quantize(Decimal("0.001"), ROUND_HALF_UP)


def dose_location(*, lot: Lot, location: Location | None) -> Location:
    """Where a dose's lot is drawn from: the one named, or the one location of the clinic
    holding the lot."""
    if location is not None:
        return location
    held = list(Location.objects.filter(balances__lot=lot, balances__balance__gt=0).distinct()[:2])
    if len(held) != 1:
        raise ValidationError(
            {
                "stock_location": "Name the location the lot is drawn from."
                if held
                else f"Lot {lot.lot_number} is not on hand."
            }
        )
    return held[0]


def stock_draw_for_dose(
    *,
    dose,
    lot: Lot,
    location: Location | None,
    drawn,
    by: AbstractBaseUser,
    witness: str = "",
    witness_password: str = "",
    now: dt.datetime,
) -> list[StockEntry]:
    """The chart's dose draws from a lot: `drawn` (the product's unit; the dose's own
    amount when not given) is at least what was given. The ledger has the draw of what was
    given and, in the same step, the waste of the remainder before a witness: together
    they are what left the vial. Called inside the dose's transaction."""
    session = dose.session
    if lot.clinic_id != session.clinic_id:
        raise ValidationError({"stock_lot": "This lot is another clinic's stock."})
    if lot.product.drug != dose.drug:
        raise ValidationError({"stock_lot": f"This lot is not {dose.get_drug_display()}."})
    location = dose_location(lot=lot, location=location)
    if dose.devices:
        given = Decimal(dose.devices)
    else:
        given = units_for_mg(product=lot.product, mg=dose.total_mg)
    drawn = given if drawn in (None, "") else _quantity(drawn, "stock_drawn")
    if drawn < given:
        raise ValidationError(
            {"stock_drawn": f"Drawn ({drawn}) is at least what was given ({given})."}
        )
    try:
        entries = [
            stock_draw(
                lot=lot,
                location=location,
                quantity=given,
                by=by,
                session=session,
                dose=dose,
                now=now,
            )
        ]
        if drawn > given:
            entries.append(
                stock_waste(
                    lot=lot,
                    location=location,
                    quantity=drawn - given,
                    by=by,
                    witness=witness,
                    witness_password=witness_password,
                    reason="Drawn for the dose and not given.",
                    session=session,
                    dose=dose,
                    now=now,
                )
            )
    except ValidationError as exc:  # the dose's own field names
        names = {"lot": "stock_lot", "quantity": "stock_drawn"}
        raise ValidationError({names.get(f, f): ms for f, ms in exc.message_dict.items()}) from None
    return entries
