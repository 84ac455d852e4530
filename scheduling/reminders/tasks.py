"""The reminders' tasks. Named `scheduling.tasks.*`, as beat, the sweep's own queueing
(services.SEND_TASK) and any task already queued know them.

No task is ever scheduled with a long ETA or countdown (Redis would redeliver it after
its visibility timeout); what must happen later is a row in the database that a
periodic sweep picks up."""

import uuid

from celery import shared_task

from . import services


@shared_task(name="scheduling.tasks.reminders_dispatch_due")
def reminders_dispatch_due() -> int:
    """Beat, every 10 seconds: claim due reminders and queue a batch task per claim."""
    return len(services.reminders_dispatch_due())


@shared_task(name="scheduling.tasks.reminders_send_batch")
def reminders_send_batch(claim_token: str) -> dict[str, int]:
    """Send one claimed batch. Late acknowledgement (settings): a worker killed mid-batch
    leaves the task to be run again, and rows already sent are not sent twice."""
    return services.reminders_send_batch(claim_token=uuid.UUID(claim_token))
