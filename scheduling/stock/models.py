"""The controlled-substance record (issue 19): products, storage locations, lots, an
append-only ledger of every movement, and a balance per lot and location.

Every movement is a StockEntry, written only by scheduling/stock/services.py, never
edited or deleted: a wrong entry is reversed by a correcting entry with a reason. The
StockBalance row of a (lot, location) is moved in the same transaction, under a row
lock, and a database constraint keeps it at or above zero.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from clinic.models import Clinic

from ..booking.models import Protocol, Session

_USER = settings.AUTH_USER_MODEL
QUANTITY = dict(max_digits=10, decimal_places=3)


class Product(models.Model):
    """A drug, form and strength with its code: ketamine 50 mg/mL 10 mL vial (stocked and
    drawn in mL), esketamine 28 mg nasal device (in devices)."""

    class Form(models.TextChoices):
        VIAL = "vial", "Vial"
        NASAL_DEVICE = "nasal_device", "Nasal device"

    class Unit(models.TextChoices):
        ML = "ml", "mL"
        DEVICE = "device", "device"

    name = models.CharField(max_length=120, unique=True)
    drug = models.CharField(max_length=20, choices=Protocol.Drug.choices)
    form = models.CharField(max_length=20, choices=Form.choices)
    strength = models.CharField(max_length=60, help_text="As labelled: 50 mg/mL, 28 mg.")
    unit = models.CharField(max_length=10, choices=Unit.choices)
    mg_per_unit = models.DecimalField(max_digits=7, decimal_places=2)
    units_per_pack = models.DecimalField(help_text="mL in a vial, devices in a pack.", **QUANTITY)
    ndc_code = models.CharField(max_length=20, blank=True, help_text="NDC, where known.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(mg_per_unit__gt=0),
                name="stock_product_mg_per_unit_positive",
                violation_error_message="A product holds more than 0 mg per unit.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class StockLocation(models.Model):
    """Where a clinic holds stock: a safe, a locked cabinet."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="stock_locations")
    name = models.CharField(max_length=80)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"],
                name="stock_location_unique_name",
                violation_error_message="The clinic already has a storage location of this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Lot(models.Model):
    """A manufacturer's lot of a product as received by a clinic."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="stock_lots")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=40)
    expires_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "product", "lot_number"],
                name="stock_lot_unique_number",
                violation_error_message="This lot is already on the clinic's record.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.product} lot {self.lot_number}"


class AppendOnly(models.Model):
    """A record that is written once: a second save or a delete is refused."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("The stock ledger is append-only: reverse the entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("The stock ledger is append-only: reverse the entry instead.")


class StockCount(AppendOnly):
    """A count of every lot at one location: expected (the balance) against counted.
    A discrepancy carries a reason and a witness; a clinic admin reconciles it."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="stock_counts")
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="counts")
    counted_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    counted_at = models.DateTimeField()
    witness = models.ForeignKey(
        _USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    has_discrepancy = models.BooleanField(default=False)

    class Meta:
        ordering = ["-counted_at"]

    def __str__(self) -> str:
        return f"Count {self.pk} at {self.location}"


class StockCountLine(AppendOnly):
    count = models.ForeignKey(StockCount, on_delete=models.PROTECT, related_name="lines")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="+")
    expected = models.DecimalField(**QUANTITY)
    counted = models.DecimalField(**QUANTITY)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["count", "lot"],
                name="stock_count_line_once",
                violation_error_message="A lot is counted once in a count.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.lot}: {self.counted} counted, {self.expected} expected"


class StockEntry(AppendOnly):
    """One movement of stock: `quantity` in the product's unit, signed (in > 0, out < 0),
    with the (lot, location) balance after it."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        TRANSFER_OUT = "transfer_out", "Transfer out"
        TRANSFER_IN = "transfer_in", "Transfer in"
        DRAW = "draw", "Draw for a dose"
        WASTE = "waste", "Waste"
        RETURN = "return", "Return to a reverse distributor"
        LOSS = "loss", "Loss or theft"
        ADJUSTMENT = "adjustment", "Count adjustment"
        REVERSAL = "reversal", "Reversal"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="stock_entries")
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="entries")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.DecimalField(**QUANTITY)
    balance_after = models.DecimalField(**QUANTITY)
    by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(db_index=True)
    reason = models.TextField(blank=True)
    # Receipt
    supplier = models.CharField(max_length=120, blank=True)
    invoice_number = models.CharField(max_length=60, blank=True)
    # Draw and its waste: the dose is the chart's, named here (stock imports no chart).
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, null=True, blank=True, related_name="stock_entries"
    )
    dose = models.ForeignKey(
        "scheduling.DoseAdministration",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stock_entries",
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    count = models.ForeignKey(
        StockCount, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    witness = models.ForeignKey(
        _USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    witnessed_at = models.DateTimeField(null=True, blank=True)
    # Loss or theft: DEA Form 106.
    dea_discovered_on = models.DateField(null=True, blank=True)
    dea_circumstances = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "stock entries"
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["lot", "location", "at"], name="stock_entry_lot_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(quantity=0),
                name="stock_entry_moves_something",
                violation_error_message="A stock entry moves more than nothing.",
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0),
                name="stock_entry_balance_not_negative",
                violation_error_message="A lot's balance cannot go below zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity} of {self.lot}"


class StockBalance(models.Model):
    """What a lot holds at a location now: the sum of its ledger, kept in step."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="balances")
    location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="balances")
    balance = models.DecimalField(default=0, **QUANTITY)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lot", "location"],
                name="stock_balance_once",
                violation_error_message="A lot has one balance per location.",
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=0),
                name="stock_balance_not_negative",
                violation_error_message="A lot's balance cannot go below zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot} at {self.location}: {self.balance}"
