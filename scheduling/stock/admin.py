"""The controlled-substance record in the admin: read-only (every movement goes through
scheduling/stock/services.py, the API or the stock page), scoped to the user's clinics.
A clinic admin sets up the clinic's storage locations; a superuser the product list."""

from django.contrib import admin

from clinic.admin_scope import ScopedAdmin

from .models import (
    Lot,
    Product,
    StockBalance,
    StockCount,
    StockCountLine,
    StockEntry,
    StockLocation,
)


class ReadOnlyAdmin(ScopedAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "drug", "strength", "unit", "mg_per_unit", "ndc_code"]

    def has_delete_permission(self, request, obj=None):
        return False  # lots and the ledger name it


@admin.register(StockLocation)
class StockLocationAdmin(ScopedAdmin):
    list_display = ["name", "clinic"]
    list_select_related = ["clinic"]

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger names it


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ["lot_number", "product", "expires_on", "clinic"]
    list_select_related = ["product", "clinic"]
    list_filter = ["product"]
    search_fields = ["lot_number"]


@admin.register(StockBalance)
class StockBalanceAdmin(ReadOnlyAdmin):
    clinic_path = "location__clinic"
    list_display = ["lot", "location", "balance"]
    list_select_related = ["lot__product", "location"]


@admin.register(StockEntry)
class StockEntryAdmin(ReadOnlyAdmin):
    """The ledger: append-only; a wrong entry is reversed through the API or the page."""

    list_display = ["at", "kind", "lot", "location", "quantity", "balance_after", "by", "witness"]
    list_select_related = ["lot__product", "location", "by", "witness"]
    list_filter = ["kind", "location"]
    date_hierarchy = "at"
    search_fields = ["lot__lot_number"]


class StockCountLineInline(admin.TabularInline):
    model = StockCountLine
    fields = readonly_fields = ["lot", "expected", "counted"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(StockCount)
class StockCountAdmin(ReadOnlyAdmin):
    list_display = ["counted_at", "location", "counted_by", "witness", "has_discrepancy"]
    list_select_related = ["location", "counted_by", "witness"]
    inlines = [StockCountLineInline]
