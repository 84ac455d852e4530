from django.contrib import admin

from .models import Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["mrn", "last_name", "first_name", "birth_date", "clinic"]
    list_filter = ["clinic"]
    search_fields = ["mrn", "last_name", "first_name", "email"]
    autocomplete_fields = ["user"]
