"""The Celery app. Beat runs the periodic tasks listed here; there is exactly one beat."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Writes out open-ended maintenance sessions up to each clinic's horizon.
    "courses-extend-horizon": {
        "task": "scheduling.tasks.courses_extend_horizon",
        "schedule": crontab(minute=15, hour="*/6"),
    },
    # The reminder sweep: takes back the claims of dead workers, claims due reminders and
    # hands them to workers in batches. Every 10 seconds, so that after a worker dies or
    # the broker comes back its reminders go out within REMINDER_STALL_SECONDS plus 10 s;
    # a sweep with nothing to do is two indexed queries. One not started in time is
    # dropped: the next one does its work.
    "reminders-dispatch-due": {
        "task": "scheduling.tasks.reminders_dispatch_due",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    # No-shows to follow up, maintenance to book.
    "staff-notices-raise-due": {
        "task": "scheduling.tasks.staff_notices_raise_due",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 600},
    },
    # REMS monitoring forms due.
    "rems-form-notices-raise-due": {
        "task": "scheduling.tasks.rems_form_notices_raise_due",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 600},
    },
}
