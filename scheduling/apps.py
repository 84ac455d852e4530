from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self) -> None:
        from patients.signals import reminder_settings_changed

        from .booking.signals import session_status_changing, sessions_changed
        from .builtin import builtin_data_ensure
        from .services.chart import _session_status_changing
        from .services.reminders import _patient_reminder_settings_changed, _sessions_changed

        post_migrate.connect(builtin_data_ensure, sender=self, dispatch_uid="scheduling.builtin")
        # A patient's new time zone or quiet hours move their planned reminders.
        reminder_settings_changed.connect(
            _patient_reminder_settings_changed, dispatch_uid="scheduling.reminders.retime"
        )
        # Booking's hooks: the reminders follow its sessions; the chart guards its statuses.
        sessions_changed.connect(_sessions_changed, dispatch_uid="scheduling.reminders.plan")
        session_status_changing.connect(
            _session_status_changing, dispatch_uid="scheduling.chart.record_needed"
        )
