"""The benchmark's in-process steps, run by bench.py as `python -m tests.benchmarks.inproc
<step>` against the database in DATABASE_URL; each prints one JSON object.

    setup     the clinic and day to measure, API tokens, sessions open for charting
    explain   EXPLAIN (ANALYZE, BUFFERS) of the hot queries, taken from the code itself
    services  course generation and booking throughput, calling the services in process
    noop      the rate a Celery worker takes tasks that do nothing (the reminders' floor)
"""

import datetime as dt
import json
import os
import re
import sys
import time


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()


def _clinic_and_day():
    from clinic.models import Clinic
    from scheduling.models import Session

    clinic = Clinic.objects.filter(slug__startswith="gen-").order_by("id").first()
    # The working day in progress (the generator's "today": on a weekend, the Friday).
    day = clinic.local_today()
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    assert Session.objects.filter(clinic=clinic).exists()
    return clinic, day


def setup() -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from scheduling.models import Session

    clinic, day = _clinic_and_day()
    User = get_user_model()
    users = {
        role: User.objects.get(username=f"gen-{role}-{clinic.id}")
        for role in ("front_desk", "nurse")
    }
    tokens = {role: Token.objects.get_or_create(user=u)[0].key for role, u in users.items()}
    charting = list(
        Session.objects.filter(clinic=clinic, status__in=["in_progress", "monitoring"])
        .order_by("-starts_at")
        .values_list("id", flat=True)[:8]
    )
    return {
        "clinic": clinic.id,
        "day": day.isoformat(),
        "tokens": tokens,
        "nurse_id": users["nurse"].id,
        "charting_sessions": charting,
        "board_sessions": Session.objects.filter(
            clinic=clinic, starts_at__date__gte=day - dt.timedelta(days=1),
            starts_at__date__lte=day + dt.timedelta(days=1),
        ).count(),
        "total_sessions": Session.objects.count(),
    }  # fmt: skip


def _explain(sql: str, params, *, rollback: bool = False) -> dict:
    """The plan for these values (a custom plan: what the first runs of a prepared
    statement get) and the generic plan PostgreSQL may switch a prepared statement to
    from its sixth run on (forced here): both must stay off sequential scans."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + connection.ops.compose_sql(sql, params))
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)  # (a write's row)
    with transaction.atomic(), connection.cursor() as cursor:
        numbered, n = _numbered(sql)
        cursor.execute(f"PREPARE bench_generic AS {numbered}")
        try:
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            args = connection.ops.compose_sql(", ".join(["%s"] * n), params) if n else ""
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_generic({args})")
            generic = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE bench_generic")
        transaction.set_rollback(True)
    return {
        "sql": connection.ops.compose_sql(sql, params), "plan": plan,
        "execution_ms": _execution_ms(plan), "generic_plan": generic,
        "generic_execution_ms": _execution_ms(generic),
        "seq_scans": _seq_scans(plan) + _seq_scans(generic),
    }  # fmt: skip


def _execution_ms(plan: str) -> float | None:
    last = [line for line in plan.splitlines() if "Execution Time" in line]
    return float(last[0].split(":")[1].split()[0]) if last else None


def _numbered(sql: str) -> tuple[str, int]:
    """Django's "%s" placeholders as PostgreSQL's $1, $2... ("%%" is a literal "%")."""
    count = 0

    def number(match):
        nonlocal count
        if match.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    return re.sub(r"%%|%s", number, sql), count


class _Captured(list):
    """Each statement run, with its parameters (a connection's execute wrapper)."""

    def __call__(self, execute, sql, params, many, context):
        self.append((sql, params))
        return execute(sql, params, many, context)


BIG = ("scheduling_session", "scheduling_vitalsigns", "scheduling_alert", "patients_patient")


def _seq_scans(plan: str) -> list[str]:
    """Sequential scans of the big tables: what a hot query must never do."""
    return [
        line.strip()
        for line in plan.splitlines()
        if "Seq Scan" in line and any(t in line for t in BIG)
    ]


def explain() -> dict:
    from django.db import connection

    from scheduling.chart_selectors import session_chart
    from scheduling.models import Session
    from scheduling.selectors import day_board

    clinic, day = _clinic_and_day()
    board_queries, chart_queries = _Captured(), _Captured()
    with connection.execute_wrapper(board_queries):
        board = day_board(clinic=clinic, day=day)
    # A charted session of the day; once the clinic's local day has turned since the data
    # was generated, the day's sessions are all still to come: its latest discharged one
    # (the sessions still open have the vitals benchmark's thousands of readings).
    charted = [s.pk for s in board.sessions if s.status in ("discharged", "monitoring")]
    found = {"pk": charted[0]} if charted else {"status": "discharged"}
    session = (
        Session.objects.select_related("clinic", "course__protocol", "patient")
        .filter(clinic=clinic, **found)
        .order_by("-starts_at")
        .first()
    )
    with connection.execute_wrapper(chart_queries):
        session_chart(session=session)
    out = {}
    for i, (sql, params) in enumerate(board_queries):
        out[f"day board: {_name(sql)} ({i + 1})"] = _explain(sql, params)
    for i, (sql, params) in enumerate(chart_queries):
        if "scheduling_vitalsigns" in sql:
            out[f"chart: vitals ({i + 1})"] = _explain(sql, params)
    out["vitals insert"] = _explain(*_vitals_write(clinic))
    return out


def _vitals_write(clinic) -> tuple[str, list]:
    """The statement a vitals POST writes its reading with, as the code writes it (rolled
    back), and its parameters: the one-statement INSERT ... SELECT of `vitals_record`."""
    from django.db import connection, transaction

    from scheduling.models import Session
    from scheduling.services import vitals_record

    open_ = Session.objects.filter(clinic=clinic, status__in=["in_progress", "monitoring"])
    nurse = clinic.memberships.filter(role="nurse").select_related("user").first().user
    queries = _Captured()
    with transaction.atomic(), connection.execute_wrapper(queries):
        vitals_record(
            session=Session(pk=open_.values_list("pk", flat=True).first()), by=nurse,
            timepoint="after", systolic=120, diastolic=80, heart_rate=70, spo2=98,
        )  # fmt: skip
        transaction.set_rollback(True)
    return next((sql, params) for sql, params in queries if sql.startswith("INSERT"))


HOT = [
    ('FROM "scheduling_session"', "sessions, joined, with the latest-vitals subquery"),
    ('FROM "scheduling_alert"', "open alerts"),
    ('FROM "scheduling_vitalsigns"', "the latest readings"),
    ('FROM "clinic_chair"', "chairs"),
]


def _name(sql: str) -> str:
    # The main FROM: a subquery's FROM comes earlier in the text, so look for each table.
    return next((name for marker, name in HOT if marker in sql), sql[:40])


def services(count: int = 40) -> dict:
    from django.contrib.auth import get_user_model

    from patients.models import Contraindication, Patient
    from patients.services import screening_record
    from scheduling.models import Protocol
    from scheduling.services import course_start, session_book

    clinic, day = _clinic_and_day()
    by = get_user_model().objects.get(username=f"gen-front_desk-{clinic.id}")
    protocol = Protocol.objects.get(clinic=None, code="iv-six-in-twelve")
    items = list(Contraindication.objects.filter(is_active=True).values_list("id", flat=True))
    stamp = int(time.time())
    patients = []
    for i in range(count):
        p = Patient.objects.create(
            clinic=clinic, mrn=f"BENCH-{stamp}-{i}", first_name="Bench",
            last_name=f"Patient {i}", birth_date=dt.date(1980, 1, 1),
        )  # fmt: skip
        screening_record(patient=p, answers={item: False for item in items}, by=None)
        patients.append(p)
    # A fortnight past the last booked session (the generated grid, earlier runs): every
    # chair is free there, so each run measures the same work.
    from django.db.models import Max

    from scheduling.models import Session

    last = Session.objects.filter(clinic=clinic).aggregate(m=Max("starts_at"))["m"]
    start = last.astimezone(clinic.tz).date() + dt.timedelta(days=14)
    start -= dt.timedelta(days=start.weekday())
    times = [dt.time(7, 30), dt.time(10), dt.time(12, 30), dt.time(15)]
    began = time.perf_counter()
    courses = [
        course_start(patient=p, protocol=protocol, start_date=start, preferred_weekdays=[0, 2, 4],
                     preferred_time=times[i % len(times)], by=by)
        for i, p in enumerate(patients)
    ]  # fmt: skip
    course_s = time.perf_counter() - began
    sessions = sum(c.sessions.count() for c in courses)
    began = time.perf_counter()
    for i, c in enumerate(courses):
        local = dt.datetime.combine(start + dt.timedelta(days=35), times[i % len(times)],
                                    tzinfo=clinic.tz)  # fmt: skip
        session_book(course=c, starts_at=local.astimezone(dt.UTC), by=by)
    book_s = time.perf_counter() - began
    return {
        "courses": count,
        "course_sessions": sessions,
        "course_seconds": course_s,
        "courses_per_s": count / course_s,
        "course_sessions_per_s": sessions / course_s,
        "bookings": count,
        "booking_seconds": book_s,
        "bookings_per_s": count / book_s,
    }


def noop(count: int = 2000) -> dict:
    """The Celery floor: how fast a worker takes tasks that do nothing (celery.accumulate)."""
    import redis
    from django.conf import settings

    from clinic.celery import app

    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    began = time.perf_counter()
    with app.producer_pool.acquire(block=True) as producer:
        for _ in range(count):
            app.send_task("celery.accumulate", args=(1,), producer=producer)
    sent = time.perf_counter() - began
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if r.llen("celery") == 0 and r.hlen("unacked") == 0:
            break
        time.sleep(0.02)
    total = time.perf_counter() - began
    return {"tasks": count, "send_seconds": sent, "seconds": total, "tasks_per_s": count / total}


if __name__ == "__main__":
    _django()
    step = sys.argv[1]
    result = {"setup": setup, "explain": explain, "services": services, "noop": noop}[step]()
    print(json.dumps(result, default=str))
