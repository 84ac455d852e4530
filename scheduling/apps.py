from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self) -> None:
        from .builtin import builtin_data_ensure

        post_migrate.connect(builtin_data_ensure, sender=self, dispatch_uid="scheduling.builtin")
