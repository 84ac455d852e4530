"""Benchmark: 100,000 due reminders dispatched end to end through Redis and a real
Celery worker to the e-mail backend, beside a no-op Celery task in the same run.

    make bench-reminders

Needs this machine's PostgreSQL and Redis (the CI's services). It recreates the
database `reminders_bench` (DATABASE_URL to change it) and uses Redis db 13
(CELERY_BROKER_URL), both emptied first. Steps:

1. Plan: 1,000 patients with 33-34 sessions each (33,334 sessions, bulk-inserted in the
   real future); the planning service writes 3 e-mail reminders per session (the clinic's
   rules turn SMS off): 100,002 pending reminders.
2. No-op: with a worker running (prefork, concurrency 3 on two cores: a sending process
   waits on its commits for about 40% of each message, so two leave a core idle; set
   BENCH_CONCURRENCY to compare. The project's settings: late
   acknowledgement, prefetch 1), publish 20,000 tasks that do nothing and time from the
   first publish until the queue is empty and nothing is left unacknowledged.
3. Reminders: move the clock past every due time and run the sweep once; time from the
   sweep's start until every reminder is marked sent. The e-mail backend builds each
   MIME message to bytes, as SMTP would, and counts it in Redis instead of connecting
   to a server (CountingEmailBackend), so the figure is ours, not an SMTP server's.

Prints a table and writes test-artifacts/bench_reminders.json.
"""

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.setdefault(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reminders_bench"
)
BROKER = os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
os.environ["BENCH_REDIS_URL"] = BROKER
os.environ["EMAIL_BACKEND"] = "tests.benchmarks.bench_tasks.CountingEmailBackend"

PATIENTS = int(os.environ.get("BENCH_PATIENTS", 1000))
REMINDERS = int(os.environ.get("BENCH_REMINDERS", 100_000))
NOOPS = int(os.environ.get("BENCH_NOOPS", 20_000))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 3))
BATCH_SIZE = int(os.environ.get("REMINDER_BATCH_SIZE", 200))
TIMEOUT = 900


def recreate_database() -> None:
    import psycopg
    from environ import Env

    cfg = Env.db_url_config(DATABASE_URL)
    name = cfg["NAME"]
    admin = psycopg.connect(
        host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], password=cfg["PASSWORD"],
        dbname="postgres", autocommit=True,
    )  # fmt: skip
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def setup_django():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def plan(now: dt.datetime) -> int:
    from clinic.models import Clinic
    from patients.models import Patient
    from scheduling.models import Course, Protocol, Reminder, ReminderRule, Session
    from scheduling.services import reminders_plan_for_sessions

    clinic = Clinic.objects.create(name="Bench Clinic", slug="bench", timezone="Europe/London")
    for kind in ("confirm", "prepare", "ride"):
        lead, latest = {"confirm": (2880, 720), "prepare": (1440, 360), "ride": (120, 60)}[kind]
        ReminderRule.objects.create(
            clinic=clinic, kind=kind, lead_minutes=lead, latest_minutes=latest, by_sms=False
        )
    protocol = Protocol.objects.get(clinic=None, code="iv-standard")
    patients = Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            mrn=f"B{n:05d}",
            first_name="Bench",
            last_name=f"P{n}",
            birth_date=dt.date(1980, 1, 1),
            email=f"p{n}@example.org",
        )  # fmt: skip
        for n in range(PATIENTS)
    )
    today = now.date()
    courses = Course.objects.bulk_create(
        Course(
            clinic=clinic,
            patient=p,
            protocol=protocol,
            start_date=today,
            preferred_weekdays=[0],
            preferred_time=dt.time(10),
        )  # fmt: skip
        for p in patients
    )
    sessions_needed = -(-REMINDERS // 3)
    first = dt.datetime.combine(today + dt.timedelta(days=3), dt.time(10), tzinfo=dt.UTC)
    sessions = []
    for i in range(sessions_needed):
        course = courses[i % PATIENTS]
        number = i // PATIENTS + 1
        starts = first + dt.timedelta(days=3 * (number - 1), minutes=(i % PATIENTS) % 480)
        sessions.append(
            Session(
                clinic=clinic,
                course=course,
                patient_id=course.patient_id,
                number=number,
                starts_at=starts,
                ends_at=starts + dt.timedelta(hours=2),
            )  # fmt: skip
        )
    Session.objects.bulk_create(sessions, batch_size=5000)
    ids = list(Session.objects.filter(clinic=clinic).values_list("id", flat=True))
    for start in range(0, len(ids), 2000):
        chunk = list(Session.objects.filter(id__in=ids[start : start + 2000]))
        reminders_plan_for_sessions(sessions=chunk, now=now)
    return Reminder.objects.filter(status="pending").count()


def start_worker() -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "clinic",
            "worker",
            "-I",
            "tests.benchmarks.bench_tasks",
            f"--concurrency={CONCURRENCY}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def postgres_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process on this machine so far (the server
    is local and the benchmark its only client): the database's share of the work."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if head.partition("(")[2].startswith("postgres"):
            fields = tail.split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the worker and its pool processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def wait(predicate, what: str, poll: float = 0.05) -> float:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(poll)
    raise SystemExit(f"timed out waiting for {what}")


def bench_noop(app, broker, worker_pid: int) -> dict:
    drained = lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0  # noqa: E731
    # Warm up: the worker is up and has run a task.
    app.send_task("bench.noop")
    wait(drained, "the worker to start")
    time.sleep(0.5)
    cpu = cpu_seconds(worker_pid)
    began = time.monotonic()
    with app.producer_or_acquire() as producer:
        for _ in range(NOOPS):
            app.send_task("bench.noop", producer=producer)
    published = time.monotonic()
    done = wait(drained, "the no-op tasks")
    cpu = cpu_seconds(worker_pid) - cpu
    return {
        "worker_cpu_ms_per_task": round(cpu / NOOPS * 1000, 3),
        "tasks": NOOPS,
        "publish_seconds": round(published - began, 2),
        "seconds": round(done - began, 2),
        "per_second": round(NOOPS / (done - began)),
    }


def bench_reminders(planned: int, far_future: dt.datetime, broker, worker_pid: int) -> dict:

    from scheduling.models import Reminder
    from scheduling.services import reminders_dispatch_due

    from .bench_tasks import COUNTER

    sent = Reminder.objects.filter(status="sent")
    cpu, pg_cpu, own_cpu = cpu_seconds(worker_pid), postgres_cpu_seconds(), time.process_time()
    began = time.monotonic()
    tokens = reminders_dispatch_due(now=far_future, limit=planned + 10, batch_size=BATCH_SIZE)
    swept = time.monotonic()
    done = wait(lambda: sent.count() >= planned, "every reminder to be sent", poll=0.5)
    cpu = cpu_seconds(worker_pid) - cpu
    pg_cpu = postgres_cpu_seconds() - pg_cpu
    own_cpu = time.process_time() - own_cpu
    statuses = dict(
        Reminder.objects.values_list("status").annotate(
            n=__import__("django").db.models.Count("id")
        )
    )
    return {
        "worker_cpu_ms_per_reminder": round(cpu / planned * 1000, 3),
        # PostgreSQL's share, and this process's (the sweep, and polling for the end).
        "postgres_cpu_ms_per_reminder": round(pg_cpu / planned * 1000, 3),
        "sweep_process_cpu_ms_per_reminder": round(own_cpu / planned * 1000, 3),
        "reminders": planned,
        "batches": len(tokens),
        "batch_size": BATCH_SIZE,
        "sweep_seconds": round(swept - began, 2),
        "seconds": round(done - began, 2),
        "per_second": round(planned / (done - began)),
        "emails_counted_by_backend": int(broker.get(COUNTER) or 0),
        "statuses": statuses,
    }


def main() -> None:
    import redis
    from django.utils import timezone

    print(f"database {DATABASE_URL}, broker {BROKER}")
    recreate_database()
    setup_django()
    broker = redis.Redis.from_url(BROKER)
    broker.flushdb()

    from clinic.celery import app

    now = timezone.now()
    t = time.monotonic()
    planned = plan(now)
    plan_seconds = time.monotonic() - t
    print(f"planned {planned} reminders in {plan_seconds:.1f}s")
    from django.db import connection

    connection.close()

    worker = start_worker()
    try:
        load_before = os.getloadavg()
        noop = bench_noop(app, broker, worker.pid)
        print(f"no-op tasks: {noop}")
        far_future = now + dt.timedelta(days=400)
        reminders = bench_reminders(planned, far_future, broker, worker.pid)
        load_after = os.getloadavg()
        print(f"reminders: {reminders}")
    finally:
        import signal

        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    result = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            # The machine is shared: other work running at the same time slows both
            # measures alike. The load averages say how busy it was.
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "worker_concurrency": CONCURRENCY,
        "plan_seconds": round(plan_seconds, 1),
        "noop": noop,
        "reminders": reminders,
        "target_per_second": 1000,
        "meets_target": reminders["per_second"] >= 1000,
        "beats_noop": reminders["per_second"] >= noop["per_second"],
    }
    out = ROOT / "test-artifacts" / "bench_reminders.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print()
    print(f"{'measure':44} {'count':>8} {'seconds':>8} {'per second':>11}")
    print(f"{'no-op Celery task (publish to ack)':44} {noop['tasks']:>8} "
          f"{noop['seconds']:>8} {noop['per_second']:>11}")  # fmt: skip
    print(f"{'reminders (sweep to sent, e-mail backend)':44} {reminders['reminders']:>8} "
          f"{reminders['seconds']:>8} {reminders['per_second']:>11}")  # fmt: skip
    print(
        f"worker CPU per no-op task: {noop['worker_cpu_ms_per_task']} ms; per reminder: "
        f"{reminders['worker_cpu_ms_per_reminder']} ms (PostgreSQL "
        f"{reminders['postgres_cpu_ms_per_reminder']} ms, the sweep's process "
        f"{reminders['sweep_process_cpu_ms_per_reminder']} ms); "
        f"load average {load_before} -> {load_after}"
    )
    print(f"\ncores: {os.cpu_count()}, worker concurrency: {CONCURRENCY}, "
          f"batch size: {BATCH_SIZE}; target 1000/s met: {result['meets_target']}; "
          f"beats the no-op task: {result['beats_noop']}")  # fmt: skip
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
