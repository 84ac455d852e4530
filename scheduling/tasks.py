"""Celery tasks: thin wrappers that call services.

No task is ever scheduled with a long ETA or countdown (Redis would redeliver it after
its visibility timeout); what must happen later is a row in the database that a
periodic sweep picks up.
"""

import uuid

from celery import shared_task

from . import services


@shared_task
def courses_extend_horizon() -> int:
    return services.courses_extend_horizon()


@shared_task
def reminders_dispatch_due() -> int:
    """Beat, every minute: claim due reminders and queue a batch task per claim."""
    return len(services.reminders_dispatch_due())


@shared_task
def reminders_send_batch(claim_token: str) -> dict[str, int]:
    """Send one claimed batch. Late acknowledgement (settings): a worker killed mid-batch
    leaves the task to be run again, and rows already sent are not sent twice."""
    return services.reminders_send_batch(claim_token=uuid.UUID(claim_token))


@shared_task
def staff_notices_raise_due() -> int:
    return services.staff_notices_raise_due()


@shared_task
def rems_form_notices_raise_due() -> int:
    return services.rems_form_notices_raise_due()
