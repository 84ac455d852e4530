"""The morning's reminders of a whole network falling due at once, timed to the SMTP sink.

    DATABASE_URL=... python -m tests.load.burst --count 30000

Takes booked sessions of the generated clinics from two hours ahead on, gives their patients an
e-mail address (the generator leaves it empty; SMS off), plans their reminders with the
product's planning service, then makes `count` of them due now. The running beat's sweep
(every 10 s) and the worker send them; this waits until every one is sent, skipped or
failed and prints a JSON line: how many of each and the seconds from due to the last.
"""

# ruff: noqa: E402  (Django is set up before the models are imported)
import argparse
import datetime as dt
import json
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
django.setup()

from django.db.models import CharField, Count, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from patients.models import Patient
from scheduling.booking.models import Session
from scheduling.reminders.models import Reminder
from scheduling.reminders.services import reminders_plan_for_sessions

TIMEOUT_S = 900


def burst_plan(count: int, now: dt.datetime) -> list[int]:
    """`count` pending e-mail reminders of booked sessions, planned but not yet due."""
    sessions = (
        Session.objects.filter(status=Session.Status.BOOKED, clinic__slug__startswith="gen-",
                               starts_at__gt=now + dt.timedelta(hours=2),
                               reminders__isnull=True)  # an earlier burst's are sent
        .order_by("starts_at", "pk").values_list("pk", flat=True)[:count]
    )  # fmt: skip
    ids = list(sessions)
    address = Concat(Value("p"), Cast("id", CharField()), Value("@example.test"))
    Patient.objects.filter(sessions__in=ids).update(email=address, remind_by_sms=False)
    for start in range(0, len(ids), 2000):
        chunk = list(Session.objects.filter(pk__in=ids[start : start + 2000]))
        reminders_plan_for_sessions(sessions=chunk, now=now)
    pending = Reminder.objects.filter(session_id__in=ids, status=Reminder.Status.PENDING,
                                      channel="email")  # fmt: skip
    return list(pending.order_by("pk").values_list("pk", flat=True)[:count])


def burst_run(count: int) -> dict:
    now = timezone.now()
    ids = burst_plan(count, now)
    due = timezone.now()
    Reminder.objects.filter(pk__in=ids).update(due_at=due, send_by=due + dt.timedelta(hours=12))
    started = time.monotonic()
    rows = Reminder.objects.filter(pk__in=ids)
    while time.monotonic() - started < TIMEOUT_S:
        done = rows.aggregate(
            sent=Count("pk", filter=Q(status=Reminder.Status.SENT)),
            skipped=Count("pk", filter=Q(status=Reminder.Status.SKIPPED)),
            failed=Count("pk", filter=Q(status=Reminder.Status.FAILED)),
        )
        if sum(done.values()) == len(ids):
            break
        time.sleep(0.5)
    last = rows.filter(status=Reminder.Status.SENT).order_by("-sent_at").first()
    return {
        "due": len(ids),
        **done,
        "seconds_to_last_sent": round((last.sent_at - due).total_seconds(), 1) if last else None,
        "seconds_waited": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    print(json.dumps(burst_run(parser.parse_args().count)))


if __name__ == "__main__":
    main()
