"""Reminders end to end: a real Celery worker, Redis, PostgreSQL and an SMTP server.

Skipped unless REDIS_URL is set and the database is PostgreSQL (the CI's second pass).
The worker is a `celery -A clinic worker` subprocess pointed at the test database
(DATABASE_NAME); e-mail goes over SMTP to an aiosmtpd server this test runs on
127.0.0.1. The clock is moved by calling the sweep with `now` set to each due time:
the sweep is the only thing that looks at due times, and the worker sends what the
sweep claimed, checking the session again with the real clock.
"""

import datetime as dt
import email
import email.policy
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zoneinfo
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from clinic.models import Chair, Clinic, OpeningHours
from scheduling.booking.services import course_start, protocol_create, session_cancel, session_move
from scheduling.reminders.content import local_when
from scheduling.reminders.models import Reminder
from scheduling.reminders.services import reminders_dispatch_due

from ..conftest import make_clear_screening, make_patient

ROOT = Path(__file__).resolve().parents[2]
LONDON = zoneinfo.ZoneInfo("Europe/London")
R = Reminder.Status

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="needs REDIS_URL and PostgreSQL (the CI's second pass)",
    ),
    pytest.mark.django_db(transaction=True),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- An SMTP server, a worker, a broker ------------------------------------------------------


class Inbox:
    """What the SMTP server received, as parsed messages."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self.lock:
            self.messages.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default)
            )
        return "250 Message accepted for delivery"

    def __len__(self):
        with self.lock:
            return len(self.messages)

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]

    def texts(self) -> list[tuple[str, str]]:
        with self.lock:
            out = []
            for m in self.messages:
                out.append((str(m["Subject"]), m.get_body(("plain",)).get_content()))
            return out


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # it logs addresses
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def redis_clean():
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()  # no task left over from another test
    yield client
    client.flushdb()


@pytest.fixture
def start_worker(transactional_db, smtp, redis_clean, tmp_path):
    """Start real workers (and, with `beat=True`, a Celery beat); every one still running
    is stopped at the end."""
    started: list[subprocess.Popen] = []

    def start(*, broker=None, concurrency=2, email_delay=None, name="w1", beat=False):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.pop("EMAIL_BACKEND", None)
        env.update(
            DEBUG="1",
            PYTHONPATH=str(ROOT),
            DATABASE_NAME=connection.settings_dict["NAME"],
            CELERY_BROKER_URL=broker or os.environ["CELERY_BROKER_URL"],
            EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
            SMS_BACKEND="scheduling.reminders.sms.FileSmsBackend",
            DATA_DIR=str(tmp_path / "data"),
            CONN_MAX_AGE="0",
        )
        if email_delay is not None:
            env["EMAIL_BACKEND"] = "tests.reminders.reminder_support.SlowSmtpBackend"
            env["REMINDER_TEST_EMAIL_DELAY"] = str(email_delay)
        if beat:  # the project's beat schedule, its state file under tmp_path
            role = ["beat", "--loglevel=INFO", f"--schedule={tmp_path / f'beat-{name}'}"]
        else:
            role = [
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                f"--hostname={name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        log = open(tmp_path / f"worker-{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "clinic", *role],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes the pool too
        )
        proc.log_path = tmp_path / f"worker-{name}.log"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop(proc, signal.SIGTERM)
        # Shown by pytest only when the test failed.
        print(f"--- {proc.log_path.name} (last lines) ---")
        print("\n".join(proc.log_path.read_text(errors="replace").splitlines()[-40:]))


def stop(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


class ThrowawayRedis:
    """A redis-server of our own on a free port; never the machine's main one. Persistent
    (an append-only file, as docker-compose.yml runs Redis) keeps the queue over a
    restart; otherwise a restart loses every task in it."""

    def __init__(self, tmp_path, *, persistent=False):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tmp_path
        self.persistent = persistent
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--dir",
                str(self.dir),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.up, 10, "redis to start")

    def up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        wait_for(lambda: not self.up(), 10, "redis to stop")


@pytest.fixture
def throwaway_redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = ThrowawayRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def persistent_redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = ThrowawayRedis(tmp_path, persistent=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def publish_to():
    """Point this process's Celery app at another broker for the test."""
    from clinic.celery import app

    old = app.conf.broker_url

    def use(url):
        app.conf.broker_url = app.conf.broker_write_url = app.conf.broker_read_url = url
        # The connection and producer pools are per broker: make new ones.
        app._pool = None
        app.amqp._producer_pool = None

    yield use
    use(old)


# --- A clinic open every day, patients, one-session courses --------------------------------


@pytest.fixture
def clinic(transactional_db):
    clinic = Clinic.objects.create(
        name="Harbour Clinic", slug="harbour", timezone="Europe/London", address="1 Quay Road"
    )
    for weekday in range(7):
        OpeningHours.objects.create(
            clinic=clinic, weekday=weekday, opens=dt.time(6), closes=dt.time(20)
        )
    for n in range(1, 13):
        Chair.objects.create(clinic=clinic, name=f"Chair {n}")
    return clinic


@pytest.fixture
def single(clinic):
    return protocol_create(
        clinic=clinic,
        code="single",
        name="One infusion",
        drug="ketamine",
        route="iv",
        session_minutes=120,
        min_observation_minutes=60,
        fasting_food_minutes=360,
        fasting_liquids_minutes=120,
        phases=[{"name": "One", "sessions_per_period": 1, "period_length": 1, "periods": 1}],
    )


def patient(clinic, n=1, phone=True):
    p = make_patient(
        clinic,
        f"MRN-{n}",
        email=f"patient{n}@example.org",
        phone=f"+4477009{n:05d}" if phone else "",
    )
    make_clear_screening(p, now=timezone.now() - dt.timedelta(days=1))
    return p


def session_day() -> dt.date:
    return timezone.now().astimezone(LONDON).date() + dt.timedelta(days=3)


def book(protocol, who, *, day=None, at=dt.time(12), now=None):
    day = day or session_day()
    course = course_start(
        patient=who,
        protocol=protocol,
        start_date=day,
        preferred_weekdays=[day.weekday()],
        preferred_time=at,
        by=None,
        now=now or timezone.now(),
    )
    return course.sessions.get()


def due(session, kind, channel="email") -> dt.datetime:
    return Reminder.objects.get(session=session, kind=kind, channel=channel).due_at


def sms_files(tmp_path) -> list[str]:
    folder = tmp_path / "data" / "sms"
    return [p.read_text() for p in sorted(folder.glob("*.txt"))] if folder.exists() else []


# --- The tests -----------------------------------------------------------------------------


def test_a_booked_sessions_reminders_arrive_at_the_right_local_times(
    single, clinic, smtp, start_worker, tmp_path
):
    s = book(single, patient(clinic))
    when = local_when(s.starts_at, LONDON)
    start_worker()

    for kind, subject in [
        ("confirm", f"please confirm your appointment on {when['date']} at 12:00"),
        ("prepare", f"getting ready for your appointment on {when['date']} at 12:00"),
        ("ride", "see you today at 12:00"),
    ]:
        before = len(smtp)
        assert reminders_dispatch_due(now=due(s, kind) - dt.timedelta(minutes=1)) == []
        assert reminders_dispatch_due(now=due(s, kind))
        wait_for(lambda n=before: len(smtp) == n + 1, what=f"the {kind} e-mail")
        # Let the batch finish before the clock jumps a day: a claim a day old would be
        # taken back as a dead worker's.
        wait_for(lambda: not Reminder.objects.filter(status=R.SENDING).exists(), what="the batch")
        got_subject, body = smtp.texts()[-1]
        assert got_subject == f"Harbour Clinic: {subject}"
        assert f"{when['date']} at 12:00 ({when['timezone']})" in body or "12:00" in body

    local_due = {k: due(s, k).astimezone(LONDON) for k in ("confirm", "prepare", "ride")}
    assert local_due["confirm"].date() == session_day() - dt.timedelta(days=2)
    assert local_due["confirm"].time() == dt.time(12)
    assert local_due["prepare"].time() == dt.time(12)
    assert local_due["ride"].time() == dt.time(10)
    wait_for(lambda: len(sms_files(tmp_path)) == 3, what="three text messages")
    assert Reminder.objects.filter(session=s, status=R.SENT).count() == 6
    texts = "\n".join(sms_files(tmp_path)).lower() + "\n".join(b for _, b in smtp.texts()).lower()
    assert "ketamine" not in texts and "depress" not in texts


def test_a_cancelled_session_sends_nothing(single, clinic, smtp, start_worker):
    cancelled = book(single, patient(clinic, 1))
    kept = book(single, patient(clinic, 2))
    session_cancel(session=cancelled, by=None, reason="Unwell")
    start_worker()

    for kind in ("confirm", "prepare", "ride"):
        reminders_dispatch_due(now=due(kept, kind))
    wait_for(lambda: len(smtp) == 3, what="the other patient's three e-mails")
    time.sleep(1)

    assert len(smtp) == 3
    assert {r.status for r in Reminder.objects.filter(session=cancelled)} == {R.CANCELLED}
    assert all(str(m["To"]) == "patient2@example.org" for m in smtp.messages)


def test_a_moved_session_sends_only_the_new_time(single, clinic, smtp, start_worker):
    s = book(single, patient(clinic))
    old_due = due(s, "confirm")
    claimed = reminders_dispatch_due(now=old_due)  # claimed and queued for the old time...
    assert claimed
    session_move(session=s, starts_at=s.starts_at + dt.timedelta(days=1, hours=2), by=None)
    new = local_when(s.starts_at + dt.timedelta(days=1, hours=2), LONDON)
    start_worker()  # ...and only now does a worker pick the batch up

    reminders_dispatch_due(now=due(s, "confirm"))
    wait_for(lambda: len(smtp) == 1, what="the e-mail for the new time")
    time.sleep(1)

    assert len(smtp) == 1
    subject, body = smtp.texts()[0]
    assert f"{new['date']} at 14:00" in subject
    assert "12:00" not in body


def test_two_sweeps_running_at_once_send_each_reminder_once(single, clinic, smtp, start_worker):
    sessions = [book(single, patient(clinic, n, phone=False)) for n in range(1, 11)]
    now = max(due(s, "ride") for s in sessions)
    start_worker()
    barrier = threading.Barrier(2)
    tokens: list[list] = [[], []]

    def sweep(i):
        try:
            barrier.wait()
            tokens[i] = reminders_dispatch_due(now=now, batch_size=4)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not set(tokens[0]) & set(tokens[1])
    wait_for(lambda: len(smtp) == 30, what="thirty e-mails")
    time.sleep(1.5)
    assert len(smtp) == 30
    assert len(set(smtp.message_ids())) == 30
    emails = Reminder.objects.filter(channel="email")
    assert emails.filter(status=R.SENT, attempts=1).count() == 30


def test_a_worker_killed_in_the_middle_of_a_batch_loses_nothing_and_duplicates_nothing(
    single, clinic, smtp, start_worker, settings
):
    sessions = [book(single, patient(clinic, n, phone=False)) for n in range(1, 11)]
    now = max(due(s, "ride") for s in sessions)
    first = start_worker(concurrency=1, email_delay=0.25, name="slow")
    (token,) = reminders_dispatch_due(now=now, batch_size=100)  # one batch of 60 rows

    def recorded():  # the worker has written down every e-mail it sent
        sent = Reminder.objects.filter(status=R.SENT, channel="email").count()
        return len(smtp) >= 8 and sent == len(smtp)

    wait_for(recorded, what="the first e-mails of the batch, sent and recorded")
    stop(first, signal.SIGKILL)  # it is now waiting before its next message
    delivered = len(smtp)
    assert 8 <= delivered < 30, "the kill must land in the middle of the batch"
    assert Reminder.objects.filter(status=R.SENT, channel="email").count() == delivered
    assert Reminder.objects.filter(status=R.SENDING, claim_token=token).exists()

    start_worker(name="second")
    later = now + dt.timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS + 60)
    assert reminders_dispatch_due(now=later)  # the dead worker's claims are taken back
    wait_for(lambda: len(smtp) >= 30, what="the rest of the batch")
    time.sleep(1.5)

    assert len(smtp) == 30
    assert len(set(smtp.message_ids())) == 30
    emails = Reminder.objects.filter(channel="email")
    assert emails.filter(status=R.SENT).count() == 30
    assert emails.filter(attempts=2).count() == 30 - delivered


def test_a_worker_process_killed_mid_batch_has_its_task_run_again(
    single, clinic, smtp, start_worker
):
    """Only the pool process dies (say, the out-of-memory killer): the worker requeues the
    task (late acknowledgement), and the rerun sends only what was not yet sent."""
    sessions = [book(single, patient(clinic, n, phone=False)) for n in range(1, 8)]
    now = max(due(s, "ride") for s in sessions)
    worker = start_worker(concurrency=1, email_delay=0.25, name="pool")
    reminders_dispatch_due(now=now, batch_size=100)

    def recorded():  # the pool has written down every e-mail it sent
        sent = Reminder.objects.filter(status=R.SENT, channel="email").count()
        return len(smtp) >= 5 and sent == len(smtp)

    wait_for(recorded, what="the first e-mails of the batch, sent and recorded")
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    assert children, "the prefork pool process"
    os.kill(int(children[0]), signal.SIGKILL)

    wait_for(lambda: len(smtp) >= 21, what="the rest of the batch, from the rerun")
    time.sleep(1.5)
    assert len(smtp) == 21
    assert len(set(smtp.message_ids())) == 21
    assert Reminder.objects.filter(channel="email", status=R.SENT).count() == 21


def test_redis_down_during_booking_then_back_the_reminder_arrives(
    single, clinic, smtp, start_worker, throwaway_redis, publish_to
):
    publish_to(throwaway_redis.url)
    day = session_day()
    starts = dt.datetime.combine(day, dt.time(12), tzinfo=LONDON)
    # The clock: 30 seconds before the 2-hour reminder, so the booking also asks for a
    # sweep right after it commits, and that publish meets a dead broker.
    now = starts - dt.timedelta(hours=2, seconds=30)
    throwaway_redis.stop()

    began = time.monotonic()
    s = book(single, patient(clinic), now=now)
    took = time.monotonic() - began

    assert took < 15, f"booking took {took:.1f}s with the broker down"
    assert Reminder.objects.get(session=s, kind="ride", channel="email").status == R.PENDING
    # A sweep while the broker is still down claims, fails to queue, and lets go.
    reminders_dispatch_due(now=due(s, "ride"))
    assert not Reminder.objects.filter(status=R.SENDING).exists()

    throwaway_redis.start()
    start_worker(broker=throwaway_redis.url)
    assert reminders_dispatch_due(now=due(s, "ride"))
    wait_for(lambda: len(smtp) == 1, what="the reminder after the broker came back")

    subject, body = smtp.texts()[0]
    assert subject == "Harbour Clinic: see you today at 12:00"
    # The server has the message before the worker commits the mark (sent, then
    # committed): wait for the commit rather than race it.
    ride = Reminder.objects.filter(session=s, kind="ride", channel="email")
    wait_for(lambda: ride.get().status == R.SENT, 30, "the reminder marked sent")


def test_a_worker_busy_when_redis_goes_carries_on_after_it_returns(
    single, clinic, smtp, start_worker, persistent_redis, publish_to
):
    """Redis stops for a few seconds while the worker is in the middle of a batch, with
    two more batches queued, and comes back on the same port with its queue (as in
    docker-compose.yml). The same worker process finishes its batch, reconnects and
    sends the rest; nothing is sent twice."""
    redis_server = persistent_redis
    publish_to(redis_server.url)
    sessions = [book(single, patient(clinic, n, phone=False)) for n in range(1, 9)]
    now = max(due(s, "ride") for s in sessions)
    worker = start_worker(broker=redis_server.url, concurrency=1, email_delay=0.25, name="busy")
    assert len(reminders_dispatch_due(now=now, batch_size=16)) == 3  # 8 e-mails each

    wait_for(lambda: len(smtp) >= 3, 30, "the first e-mails of the first batch")
    redis_server.stop()
    time.sleep(6)
    assert worker.poll() is None, "the worker exited while Redis was down"
    redis_server.start()

    wait_for(lambda: len(smtp) >= 24, 30, "all 24 e-mails after Redis came back")
    emails = Reminder.objects.filter(channel="email")
    wait_for(lambda: emails.filter(status=R.SENT).count() == 24, 10, "the last marks")
    time.sleep(1.5)
    assert worker.poll() is None, "the worker exited after Redis came back"
    assert len(smtp) == 24
    assert len(set(smtp.message_ids())) == 24
    assert emails.filter(status=R.SENT, attempts=1).count() == 24


def test_a_worker_with_a_free_slot_survives_redis_stopping_mid_batch(
    single, clinic, smtp, start_worker, persistent_redis, publish_to
):
    """One pool process sends a batch, the other is idle, so the worker has a BRPOP
    waiting on Redis when Redis stops. With an auto-deleted remote-control queue the
    worker then exited with `Unrecoverable error: AttributeError("'NoneType' object has no
    attribute 'hostname'")` from kombu's restore_unacked (CELERY_CONTROL_QUEUE_DURABLE).
    Here it finishes its batch during the outage, reconnects, and sends the next one."""
    redis_server = persistent_redis
    publish_to(redis_server.url)
    sessions = [book(single, patient(clinic, n, phone=False)) for n in range(1, 9)]
    worker = start_worker(broker=redis_server.url, concurrency=2, email_delay=0.25, name="free")
    assert len(reminders_dispatch_due(now=max(due(s, "confirm") for s in sessions))) == 1
    emails = Reminder.objects.filter(channel="email")
    first = list(emails.filter(status=R.SENDING).values_list("id", flat=True))

    wait_for(lambda: len(smtp) >= 3, 30, "the first e-mails of the batch")
    redis_server.stop()
    time.sleep(6)
    assert worker.poll() is None, "the worker exited when Redis stopped"
    assert emails.filter(id__in=first, status=R.SENT).count() == len(first), "batch unfinished"
    redis_server.start()

    assert reminders_dispatch_due(now=max(due(s, "ride") for s in sessions))
    wait_for(lambda: emails.filter(status=R.SENT).count() == 24, 60, "the next batch")
    time.sleep(1.5)
    assert worker.poll() is None, "the worker exited after Redis came back"
    assert len(smtp) == 24
    assert len(set(smtp.message_ids())) == 24
    assert emails.filter(status=R.SENT, attempts=1).count() == 24


def test_reminders_stranded_in_sending_go_out_within_30_s_of_recovery(
    single, clinic, smtp, start_worker, throwaway_redis, publish_to
):
    """The worker is killed in the middle of a batch and Redis restarts (without
    persistence: the task is gone with it). The batch's rows are left "sending"; once
    Redis is back, a new worker and the project's beat send them within 30 seconds."""
    publish_to(throwaway_redis.url)
    for n in range(1, 11):
        book(single, patient(clinic, n, phone=False))
    # Due now by the real clock: the beat's sweeps run with it.
    Reminder.objects.update(due_at=timezone.now() - dt.timedelta(minutes=1))
    first = start_worker(broker=throwaway_redis.url, concurrency=1, email_delay=0.25, name="k")
    (token,) = reminders_dispatch_due(batch_size=100)  # one batch: 30 e-mails, 30 skipped

    def recorded():  # the worker has written down every e-mail it sent
        sent = Reminder.objects.filter(status=R.SENT, channel="email").count()
        return len(smtp) >= 8 and sent == len(smtp)

    wait_for(recorded, 30, "the first e-mails of the batch, sent and recorded")
    stop(first, signal.SIGKILL)
    delivered = len(smtp)
    assert delivered < 30, "the kill must land in the middle of the batch"
    throwaway_redis.stop()
    time.sleep(3)
    throwaway_redis.start()
    recovered = time.monotonic()
    start_worker(broker=throwaway_redis.url, name="after")
    start_worker(broker=throwaway_redis.url, name="beat", beat=True)

    emails = Reminder.objects.filter(channel="email")
    wait_for(lambda: emails.filter(status=R.SENT).count() == 30, 45, "the stranded reminders")
    took = time.monotonic() - recovered
    print(f"the stranded reminders went out {took:.1f} s after recovery")
    time.sleep(1.5)
    assert took <= 30, f"the stranded reminders went out {took:.0f} s after recovery"
    assert len(smtp) == 30
    assert len(set(smtp.message_ids())) == 30
    assert emails.filter(attempts=2).count() == 30 - delivered
