from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self) -> None:
        from patients.signals import reminder_settings_changed

        from .builtin import builtin_data_ensure
        from .services.reminders import _patient_reminder_settings_changed

        post_migrate.connect(builtin_data_ensure, sender=self, dispatch_uid="scheduling.builtin")
        # A patient's new time zone or quiet hours move their planned reminders.
        reminder_settings_changed.connect(
            _patient_reminder_settings_changed, dispatch_uid="scheduling.reminders.retime"
        )
