from django.contrib import admin

from .admin_scope import ScopedAdmin, ScopedInline
from .models import Chair, Clinic, Closure, OpeningHours, StaffMembership


class OpeningHoursInline(ScopedInline, admin.TabularInline):
    model = OpeningHours
    extra = 0


class ClosureInline(ScopedInline, admin.TabularInline):
    model = Closure
    extra = 0


class ChairInline(ScopedInline, admin.TabularInline):
    model = Chair
    extra = 0


class MembershipInline(ScopedInline, admin.TabularInline):
    model = StaffMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Clinic)
class ClinicAdmin(ScopedAdmin):
    clinic_path = "id"
    list_display = ["name", "timezone", "phone"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [OpeningHoursInline, ClosureInline, ChairInline, MembershipInline]


@admin.register(Chair)
class ChairAdmin(ScopedAdmin):
    list_display = ["name", "clinic", "is_active"]
    list_filter = ["clinic", "is_active"]


@admin.register(StaffMembership)
class StaffMembershipAdmin(ScopedAdmin):
    list_display = ["user", "clinic", "role"]
    list_filter = ["clinic", "role"]
    autocomplete_fields = ["user"]
