from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinics and staff"

    def ready(self) -> None:
        from . import sessions  # noqa: F401  (its signal receivers: sign-in, role changes)
        from .roles import sync_role_groups

        # After every app has migrated, so all permissions exist.
        post_migrate.connect(sync_role_groups, dispatch_uid="clinic.sync_role_groups")
