"""Generate a large, valid dataset for benchmarks: clinics, patients, courses, sessions and
their charts, at a chosen scale.

    DEBUG=1 manage.py generate_data --scale full --seed 8

Fast because the big tables go in with PostgreSQL's COPY (psycopg 3 `cursor.copy`);
on SQLite (tests) the same rows go in with executemany. Every row respects the
database's constraints by construction:

- the time grid: each clinic has chairs x 3 slots a day (08:00, 11:00, 14:00 local, three
  hours apart, longer than any session), and each (chair, slot) "lane" holds one
  session per open day, so no chair is ever double-booked;
- a lane runs two tracks (even and odd open days: every other one, never two days
  running, so the 48-hour minimum gap holds); each track runs courses one after the
  other, and a patient's courses stay in one track of one lane, so no patient is ever in
  two sessions at once;
- vitals, doses and discharges sit inside the bounds of their check constraints.

On PostgreSQL the load runs with `session_replication_role = replica`, which skips the
foreign-key triggers (a per-row cost that would triple the load time); the keys are
then checked table by table with anti-joins before the command ends, so a generated
database is as sound as one written through the services. Check and exclusion
constraints and every index stay in place throughout. History tables are not filled:
this is bulk data, not changes anyone made.
"""

import datetime as dt
import itertools
import json
import math
import random
import time
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, models

from clinic.models import Chair, Clinic, OpeningHours, StaffMembership
from clinic.services import staff_membership_add
from patients.models import (
    Contraindication,
    Patient,
    QuestionnaireResponse,
    Screening,
    ScreeningAnswer,
)
from scheduling.models import (
    Alert,
    CheckIn,
    Course,
    Discharge,
    DoseAdministration,
    Protocol,
    Session,
    SideEffect,
    VitalSigns,
)


@dataclass(frozen=True)
class Scale:
    clinics: int
    chairs: int  # per clinic
    patients: int
    sessions: int
    vitals: int
    # Days a week the clinics open (Monday first). The yardstick's networks open every
    # day, so their peak hour can be replayed whatever the day (`make load` run on a
    # Sunday found work at only the two clinics where it was Monday already).
    open_days: int = 5


SCALES = {
    "tiny": Scale(clinics=2, chairs=4, patients=60, sessions=600, vitals=4_000),
    # A network of 1,000 clinics at full scale; the small one has 20 clinics of the same shape
    # (a board of 48 sessions a day), so one load profile runs on both. Two patients or more
    # to every lane (chair and slot): a lane's two tracks each need one.
    "small": Scale(
        clinics=20, chairs=16, patients=2_500, sessions=10_000, vitals=100_000, open_days=7
    ),
    "full": Scale(
        clinics=1_000,
        chairs=16,
        patients=100_000,
        sessions=1_000_000,
        vitals=10_000_000,
        open_days=7,
    ),
}

SLOTS = (dt.time(8), dt.time(11), dt.time(14))  # three hours apart: longer than any session
# Booked ahead: about thirteen weeks at full scale (1,042 weekdays a lane), the same share
# of a smaller grid, so every scale has a past, a today and a future.
FUTURE_SHARE = 0.065
TIMEZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
             "Europe/London", "Europe/Berlin", "Australia/Sydney"]  # fmt: skip
FIRST = ["Alex", "Sam", "Jo", "Chris", "Pat", "Robin", "Kim", "Lee", "Max", "Ari", "Noor", "Eli"]
LAST = ["Smith", "Jones", "Garcia", "Nguyen", "Okafor", "Silva", "Kowalski", "Ahmed", "Brown"]
# (protocol code, weight, sessions before maintenance, maintenance sessions range)
COURSE_SHAPES = [
    ("iv-six-in-twelve", 3, 6, (0, 0)),
    ("iv-standard", 3, 6, (0, 6)),
    ("esketamine-trd", 3, 12, (0, 12)),
    ("esketamine-mdsi", 1, 8, (0, 0)),
]
CHARTED = ("discharged", "monitoring", "in_progress")
GENERATED_PREFIX = "gen-"  # clinic slugs and usernames of generated rows


class Command(BaseCommand):
    help = "Generate a large valid dataset for benchmarks (COPY on PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=sorted(SCALES), default="small")
        parser.add_argument("--seed", type=int, default=8)
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run with DEBUG off, or into a database that holds data of its own.",
        )

    def handle(self, *args, scale: str, seed: int, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off: this may be production. Add --force to go on.")
        own = Clinic.objects.exclude(slug__startswith=GENERATED_PREFIX).exists()
        if own and not force:
            raise CommandError(
                "This database holds clinics that were not generated. Use an empty database, "
                "or --force to add generated data beside them."
            )
        started = time.monotonic()
        counts = data_generate(scale=SCALES[scale], seed=seed, log=self.stdout.write)
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n:,} {name}" for name, n in counts.items())
        self.stdout.write(f"generated {summary} in {elapsed:.1f} s")


# --- Loading -------------------------------------------------------------------------------


def _sqlite_value(value):
    # The forms Django itself stores on SQLite (naive UTC text), so the ORM reads them back.
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _load(model: type[models.Model], columns: list[str], rows: Iterable[tuple]) -> int:
    table = model._meta.db_table
    n = 0
    # Start the generator before COPY holds the connection: it asks for its first id.
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    rows = itertools.chain([first], rows)
    if connection.vendor == "postgresql":
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        return n
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    batch: list[tuple] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) == 5000:
                cursor.executemany(sql.replace("?", "%s"), batch)
                n, batch = n + len(batch), []
        if batch:
            cursor.executemany(sql.replace("?", "%s"), batch)
            n += len(batch)
    return n


def _next_id(model: type[models.Model]) -> int:
    last = model.objects.aggregate(m=models.Max("id"))["m"] or 0
    return last + 1


def _reset_sequences(models_: list[type[models.Model]]) -> None:
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models_):
            cursor.execute(sql)


def foreign_keys_check(*, models_: list[type[models.Model]]) -> list[str]:
    """Every foreign key of these tables that points nowhere, as 'table.column: n rows'."""
    problems = []
    with connection.cursor() as cursor:
        for model in models_:
            for field in model._meta.concrete_fields:
                if not field.is_relation:
                    continue
                table, column = model._meta.db_table, field.column
                target = field.related_model._meta
                cursor.execute(
                    f"SELECT COUNT(*) FROM {table} t LEFT JOIN {target.db_table} r "
                    f"ON t.{column} = r.{target.pk.column} "
                    f"WHERE t.{column} IS NOT NULL AND r.{target.pk.column} IS NULL"
                )
                (missing,) = cursor.fetchone()
                if missing:
                    problems.append(f"{table}.{column}: {missing} rows")
    return problems


# --- The dataset ---------------------------------------------------------------------------


@dataclass
class _Charted:
    """What the chart tables need to know of a session that was (or is being) charted."""

    id: int
    starts_at: dt.datetime
    status: str
    clinic: int  # index into the clinic list
    patient_id: int
    route: str
    weight: Decimal
    today: bool


def data_generate(*, scale: Scale, seed: int, log=lambda s: None) -> dict[str, int]:
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    User = get_user_model()
    pg = connection.vendor == "postgresql"
    t0 = time.monotonic()

    def step(what: str) -> None:
        log(f"  {time.monotonic() - t0:7.1f} s  {what}")

    # Small tables through the ORM: clinics, hours, chairs, staff.
    batch = _next_id(Clinic)
    clinics = Clinic.objects.bulk_create(
        Clinic(name=f"Generated clinic {batch + i}", slug=f"{GENERATED_PREFIX}{batch + i}",
               timezone=TIMEZONES[i % len(TIMEZONES)])
        for i in range(scale.clinics)
    )  # fmt: skip
    if not pg:  # SQLite's bulk_create may not return ids
        clinics = list(Clinic.objects.filter(slug__startswith=GENERATED_PREFIX).order_by("id"))
        clinics = clinics[-scale.clinics :]
    OpeningHours.objects.bulk_create(
        OpeningHours(clinic=c, weekday=d, opens=dt.time(7, 30), closes=dt.time(18))
        for c in clinics
        for d in range(scale.open_days)
    )
    Chair.objects.bulk_create(
        Chair(clinic=c, name=f"Chair {n:02d}") for c in clinics for n in range(1, scale.chairs + 1)
    )
    chairs = {c.id: list(Chair.objects.filter(clinic=c).order_by("name")) for c in clinics}
    staff = []
    for c in clinics:
        people = {}
        for role in (StaffMembership.Role.FRONT_DESK, StaffMembership.Role.NURSE,
                     StaffMembership.Role.CLINICIAN):  # fmt: skip
            user = User.objects.create_user(username=f"{GENERATED_PREFIX}{role}-{c.id}")
            staff_membership_add(user=user, clinic=c, role=role)
            people[role] = user.id
        staff.append(people)
    protocols = {p.code: p for p in Protocol.objects.filter(clinic=None).prefetch_related("phases")}
    step(f"{len(clinics)} clinics, {sum(len(v) for v in chairs.values())} chairs, staff")

    counts: dict[str, int] = {}
    loaded: list[type[models.Model]] = []

    def load(model, columns, rows) -> None:
        counts[model._meta.verbose_name_plural] = _load(model, columns, rows)
        loaded.append(model)
        step(f"{counts[model._meta.verbose_name_plural]:,} {model._meta.verbose_name_plural}")

    with connection.cursor() as cursor:
        if pg:
            # Foreign keys are checked after the load instead (foreign_keys_check below).
            cursor.execute("SET session_replication_role = replica")
    try:
        # Patients: spread evenly over the clinics; their courses and sessions on the grid
        # described at the top of this file.
        patient_id = _next_id(Patient)
        per_clinic = _split(scale.patients, scale.clinics)
        clinic_patients: list[list[int]] = []
        for count in per_clinic:
            clinic_patients.append(list(range(patient_id, patient_id + count)))
            patient_id += count
        plan = _plan(scale=scale, clinics=clinics, clinic_patients=clinic_patients,
                     protocols=protocols, chairs=chairs, rng=rng, now=now)  # fmt: skip
        course_rows, session_rows, charted = plan
        # A patient on an esketamine course is enrolled in its REMS, a few others as well.
        esketamine = {p.id for p in protocols.values() if p.drug == Protocol.Drug.ESKETAMINE}
        enrolled = {row[2] for row in course_rows if row[3] in esketamine}
        weights: dict[int, Decimal] = {}
        patient_rows = []
        for c, ids in zip(clinics, clinic_patients, strict=True):
            for pid in ids:
                weight = Decimal(rng.randint(500, 1200)) / 10
                weights[pid] = weight
                rems = pid in enrolled or rng.random() < 0.2
                patient_rows.append((
                    pid, c.id, f"GEN-{pid}", rng.choice(FIRST), rng.choice(LAST),
                    dt.date(rng.randint(1950, 2003), rng.randint(1, 12), rng.randint(1, 28)),
                    rng.choice(["female", "male", "other", "unknown"]), "", "", "", weight,
                    "Escort", "", f"REMS{pid}" if rems else "",
                    dt.date(2023, 1, 1) if rems else None, now,
                    True, True, False, "",  # reminder channels on, not opted out, no feed
                ))  # fmt: skip
        load(Patient, ["id", "clinic_id", "mrn", "first_name", "last_name", "birth_date", "sex",
                       "email", "phone", "timezone", "weight_kg", "escort_name", "escort_phone",
                       "rems_patient_id", "rems_enrolled_on", "created_at",
                       "remind_by_email", "remind_by_sms", "reminders_opt_out", "calendar_token"],
             patient_rows)  # fmt: skip
        del patient_rows
        # Every patient screened lately (nothing present), so the gates of booking and
        # check-in pass as they would at a clinic.
        items = list(Contraindication.objects.filter(is_active=True).values_list("id", flat=True))
        screenings = [
            (pid, now - dt.timedelta(days=rng.randint(1, 60)), staff[ci]["clinician"])
            for ci, ids in enumerate(clinic_patients)
            for pid in ids
        ]
        first_screening = _next_id(Screening)
        load(Screening, ["id", "patient_id", "screened_at", "screened_by_id", "notes"],
             _numbered(Screening, (row + ("",) for row in screenings)))  # fmt: skip
        answers = ((first_screening + i, item, False, "")
                   for i in range(len(screenings)) for item in items)  # fmt: skip
        load(ScreeningAnswer, ["id", "screening_id", "contraindication_id", "present", "note"],
             _numbered(ScreeningAnswer, answers))  # fmt: skip
        del screenings

        load(Course, ["id", "clinic_id", "patient_id", "protocol_id", "start_date",
                      "preferred_weekdays", "preferred_time", "status", "planned_until",
                      "created_by_id", "created_at"], course_rows)  # fmt: skip
        del course_rows
        load(
            Session,
            [
                "id",
                "clinic_id",
                "course_id",
                "patient_id",
                "phase_id",
                "chair_id",
                "number",
                "starts_at",
                "ends_at",
                "status",
                "created_at",
                "patient_response",
            ],
            (row + ("",) for row in session_rows),
        )  # fmt: skip  (no answer yet)
        del session_rows
        for c in charted:
            c.weight = weights[c.patient_id]

        # The chart: vitals (with their alerts and amendments), side effects, questionnaires.
        alerts: list[tuple] = []
        load(VitalSigns, ["id", "session_id", "timepoint", "measured_at", "systolic",
                          "diastolic", "heart_rate", "spo2", "respiratory_rate", "temperature_c",
                          "recorded_by_id", "recorded_at", "amends_id", "amendment_reason"],
             _vitals(charted=charted, total=scale.vitals, staff=staff, clinics=clinics,
                     alerts=alerts, rng=rng))  # fmt: skip
        load(SideEffect, ["id", "session_id", "kind", "severity", "onset_at", "resolved_at",
                          "serious", "cadss", "moaa_s", "notes", "recorded_by_id", "recorded_at",
                          "amends_id", "amendment_reason"],
             _side_effects(charted=charted, staff=staff, clinics=clinics, alerts=alerts,
                           rng=rng))  # fmt: skip
        load(QuestionnaireResponse, ["id", "patient_id", "kind", "items", "total", "band",
                                     "completed_at", "recorded_by_id", "recorded_at"],
             _questionnaires(charted=charted, staff=staff, clinics=clinics, alerts=alerts,
                             rng=rng))  # fmt: skip
        load(CheckIn, ["id", "session_id", "checked_in_at", "checked_in_by_id",
                       "fasting_confirmed", "escort_confirmed", "escort_name", "escort_phone",
                       "weight_kg", "notes"],
             _check_ins(charted=charted, staff=staff))  # fmt: skip
        load(DoseAdministration, ["id", "session_id", "route", "drug", "mg_per_kg", "weight_kg",
                                  "infusion_minutes", "total_mg", "devices", "device_mg",
                                  "lot_number", "started_at", "ended_at", "administered_by_id",
                                  "recorded_by_id", "recorded_at", "sign_off_reason"],
             _doses(charted=charted, staff=staff, rng=rng))  # fmt: skip
        load(Discharge, ["id", "session_id", "discharged_by_id", "discharged_at",
                         "monitoring_from", "monitoring_minutes", "escort_name", "escort_phone",
                         "notes"],
             _discharges(charted=charted, staff=staff))  # fmt: skip
        load(Alert, ["id", "clinic_id", "patient_id", "session_id", "kind", "vitals_id",
                     "side_effect_id", "questionnaire_id", "message", "raised_at",
                     "acknowledged_by_id", "acknowledged_at", "acknowledgement_note"],
             _numbered(Alert, alerts))  # fmt: skip
    finally:
        with connection.cursor() as cursor:
            if pg:
                cursor.execute("SET session_replication_role = DEFAULT")
    _reset_sequences(loaded)
    problems = foreign_keys_check(models_=loaded)
    if problems:
        raise CommandError("Generated rows break foreign keys: " + "; ".join(problems))
    step("foreign keys checked")
    if pg:
        # VACUUM sets the visibility map (index-only scans); it cannot run in a transaction
        # (the tests), where statistics alone will do.
        verb = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            for model in loaded + [Clinic, Chair]:
                cursor.execute(f"{verb} {model._meta.db_table}")
        step(verb.lower())
    return counts


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _open_days_ending(last: dt.date, n: int, open_days: int) -> list[dt.date]:
    """The last `n` open days up to `last`."""
    days, day = [], last
    while len(days) < n:
        if day.weekday() < open_days:
            days.append(day)
        day -= dt.timedelta(days=1)
    return days[::-1]


def _open_day_after(day: dt.date, open_days: int) -> dt.date:
    day += dt.timedelta(days=1)
    while day.weekday() >= open_days:
        day += dt.timedelta(days=1)
    return day


def _phase_ids(protocol: Protocol) -> list[tuple[int | None, int]]:
    """(phase id, sessions in it) in order; None sessions for the open-ended last phase."""
    out = []
    for phase in sorted(protocol.phases.all(), key=lambda p: p.order):
        n = phase.sessions_per_period * phase.periods if phase.periods else None
        out.append((phase.id, n))
    return out


def _phase_for(phases: list, number: int) -> int | None:
    seen = 0
    for phase_id, n in phases:
        if n is None or number <= seen + n:
            return phase_id
        seen += n
    return phases[-1][0] if phases else None


def _plan(*, scale, clinics, clinic_patients, protocols, chairs, rng, now):
    """Courses and sessions as rows, and the sessions that have a chart."""
    course_id, session_id = _next_id(Course), _next_id(Session)
    today = now.date()
    open_days = scale.open_days
    last_day = _open_days_ending(today, 1, open_days)[0]
    shapes = [(protocols[code], w, base, extra) for code, w, base, extra in COURSE_SHAPES]
    shape_weights = [s[1] for s in shapes]
    phases = {p.id: _phase_ids(p) for p in protocols.values()}
    course_rows, session_rows, charted = [], [], []
    per_clinic = _split(scale.sessions, scale.clinics)
    lanes_per_clinic = scale.chairs * len(SLOTS)
    for ci, clinic in enumerate(clinics):
        tz = zoneinfo.ZoneInfo(clinic.timezone)
        per_lane = _split(per_clinic[ci], lanes_per_clinic)
        ahead = max(2, round(max(per_lane) * FUTURE_SHARE))
        future_end = last_day
        for _ in range(ahead):
            future_end = _open_day_after(future_end, open_days)
        days = _open_days_ending(future_end, max(per_lane), open_days)
        utc = {
            (d, k): dt.datetime.combine(d, t, tzinfo=tz).astimezone(dt.UTC)
            for d in days
            for k, t in enumerate(SLOTS)
        }
        pool = clinic_patients[ci]
        lane_pools = [pool[i::lanes_per_clinic] for i in range(lanes_per_clinic)]
        # The working day in progress: today, or on a closed day the last open one.
        clinic_today = _open_days_ending(now.astimezone(tz).date(), 1, open_days)[0]
        for lane in range(lanes_per_clinic):
            chair = chairs[clinic.id][lane % scale.chairs]
            k = lane // scale.chairs
            lane_days = days[len(days) - per_lane[lane] :]
            for track in range(2):
                track_days = lane_days[track::2]
                patients = lane_pools[lane][track::2]
                # Cut the track into courses, then hand each patient consecutive courses.
                courses, i = [], 0
                while i < len(track_days):
                    protocol, _, base, (lo, hi) = rng.choices(shapes, weights=shape_weights)[0]
                    n = base + rng.randint(lo, hi)
                    courses.append((protocol, track_days[i : i + n]))
                    i += n
                if not patients:
                    continue
                for j, (protocol, cdays) in enumerate(courses):
                    patient = patients[j * len(patients) // len(courses)]
                    first, last = cdays[0], cdays[-1]
                    if last < clinic_today:
                        status = "stopped" if rng.random() < 0.08 else "completed"
                    else:
                        status = "active"
                    stop_after = max(1, len(cdays) * 2 // 3) if status == "stopped" else len(cdays)
                    course_rows.append((
                        course_id, clinic.id, patient, protocol.id, first,
                        json.dumps(sorted({d.weekday() for d in cdays[:2]})),
                        SLOTS[k], status,
                        last if protocol.is_open_ended and status == "active" else None,
                        None, utc[first, k] - dt.timedelta(days=7),
                    ))  # fmt: skip
                    for number, day in enumerate(cdays, start=1):
                        starts = utc[day, k]
                        ends = starts + dt.timedelta(minutes=protocol.session_minutes)
                        s = _status(day=day, today=clinic_today, slot=k, rng=rng,
                                    stopped=number > stop_after)  # fmt: skip
                        session_rows.append((
                            session_id, clinic.id, course_id, patient,
                            _phase_for(phases[protocol.id], number), chair.id, number, starts,
                            ends, s, starts - dt.timedelta(days=7),
                        ))  # fmt: skip
                        if s in CHARTED:
                            charted.append(_Charted(
                                id=session_id, starts_at=starts, status=s, clinic=ci,
                                patient_id=patient, route=protocol.route, weight=Decimal(0),
                                today=day == clinic_today,
                            ))  # fmt: skip
                        session_id += 1
                    course_id += 1
    return course_rows, session_rows, charted


def _status(*, day: dt.date, today: dt.date, slot: int, rng: random.Random, stopped: bool) -> str:
    if stopped:
        return "cancelled"
    if day < today:
        r = rng.random()
        return "discharged" if r < 0.90 else "cancelled" if r < 0.96 else "no_show"
    if day == today:  # a working day in progress: morning done, midday in the chair, later due
        return ("discharged", rng.choice(["in_progress", "monitoring"]),
                rng.choice(["booked", "checked_in"]))[slot]  # fmt: skip
    return "cancelled" if rng.random() < 0.03 else "booked"


def _numbered(model, rows: Iterable[tuple]) -> Iterator[tuple]:
    first = _next_id(model)
    for i, row in enumerate(rows):
        yield (first + i, *row)


TIMEPOINTS_AFTER_DOSE = 4  # readings 1-3 during the dose, 4 at 40 minutes


def _timepoint(i: int, n: int) -> str:
    if i == 0:
        return "pre_dose"
    if i == n - 1 and n > 2:
        return "pre_discharge"
    if i < TIMEPOINTS_AFTER_DOSE:
        return "during"
    return "post_dose_40" if i == TIMEPOINTS_AFTER_DOSE else "after"


def _vitals(*, charted, total, staff, clinics, alerts, rng) -> Iterator[tuple]:
    """`total` readings over the charted sessions, plus a few amendments; a reading past
    the systolic alert threshold gets its alert.

    A session in the chair now has only its readings so far (at most 5); the others
    share the rest evenly, so the total holds whatever the hour of the run (if every
    charted session is in the chair, they share it all)."""
    vid = _next_id(VitalSigns)
    in_chair = [s.today and s.status != "discharged" for s in charted]
    if all(in_chair):
        in_chair = [False] * len(charted)
    so_far = min(5, total // max(1, len(charted)))
    rest = total - so_far * sum(in_chair)
    n_rest = max(1, len(charted) - sum(in_chair))
    rand, randint = rng.random, rng.randint
    idx = 0
    for s, now_in_chair in zip(charted, in_chair, strict=True):
        if now_in_chair:
            n = so_far
        else:
            n = (idx + 1) * rest // n_rest - idx * rest // n_rest
            idx += 1
        nurse = staff[s.clinic]["nurse"]
        clinician = staff[s.clinic]["clinician"]
        clinic = clinics[s.clinic]
        for i in range(n):
            measured = s.starts_at + dt.timedelta(minutes=5 + 10 * i)
            timepoint = _timepoint(i, n)
            if i > 0 and rand() < 0.015:
                systolic = randint(clinic.alert_systolic_at, clinic.alert_systolic_at + 20)
            else:
                systolic = randint(100, clinic.caution_systolic_above)
            diastolic = randint(60, min(85, systolic - 20))
            row = [vid, s.id, timepoint, measured, systolic, diastolic, randint(55, 100),
                   randint(94, 100), randint(12, 20), None, nurse, measured, None, ""]  # fmt: skip
            yield tuple(row)
            if systolic >= clinic.alert_systolic_at:
                open_ = s.today
                alerts.append((
                    clinic.id, s.patient_id, s.id, "vitals_threshold", vid, None, None,
                    f"Systolic {systolic} mmHg (alert at {clinic.alert_systolic_at}).",
                    measured, None if open_ else clinician,
                    None if open_ else measured + dt.timedelta(minutes=10),
                    "" if open_ else "Reviewed; repeat reading ordered.",
                ))  # fmt: skip
            if rand() < 0.005:  # a typing slip, corrected a minute later; the original stays
                vid += 1
                row[0], row[4], row[5] = vid, min(systolic, 175), diastolic
                row[11], row[12], row[13] = measured + dt.timedelta(minutes=1), vid - 1, "Typo"
                yield tuple(row)
            vid += 1


SIDE_EFFECTS = [("dissociation", 30), ("nausea", 20), ("dizziness", 15), ("sedation", 15),
                ("headache", 10), ("raised_blood_pressure", 5), ("anxiety", 5)]  # fmt: skip


def _side_effects(*, charted, staff, clinics, alerts, rng) -> Iterator[tuple]:
    sid = _next_id(SideEffect)
    kinds, weights = zip(*SIDE_EFFECTS, strict=True)
    for s in charted:
        if rng.random() >= 0.3:
            continue
        kind = rng.choices(kinds, weights=weights)[0]
        severity = rng.choices(["mild", "moderate", "severe"], weights=[75, 22, 3])[0]
        serious = severity == "severe" and rng.random() < 0.2
        onset = s.starts_at + dt.timedelta(minutes=25)
        resolved = None if s.today else onset + dt.timedelta(minutes=rng.randint(10, 60))
        cadss = rng.randint(0, 40) if kind == "dissociation" else None
        moaa_s = rng.randint(3, 5) if kind == "sedation" else None
        nurse = staff[s.clinic]["nurse"]
        yield (sid, s.id, kind, severity, onset, resolved, serious, cadss, moaa_s, "", nurse,
               onset, None, "")  # fmt: skip
        if serious:
            clinic = clinics[s.clinic]
            alerts.append((
                clinic.id, s.patient_id, s.id, "serious_side_effect", None, sid, None,
                f"Serious {kind.replace('_', ' ')}.", onset,
                None if s.today else staff[s.clinic]["clinician"],
                None if s.today else onset + dt.timedelta(minutes=5),
                "" if s.today else "Seen and managed.",
            ))  # fmt: skip
        sid += 1


def _questionnaires(*, charted, staff, clinics, alerts, rng) -> Iterator[tuple]:
    """A PHQ-9 at every fourth charted session of a patient, a GAD-7 at every eighth."""
    qid = _next_id(QuestionnaireResponse)
    seen: dict[int, int] = {}
    for s in charted:
        n = seen[s.patient_id] = seen.get(s.patient_id, 0) + 1
        for kind, every, items in (("phq9", 4, 9), ("gad7", 8, 7)):
            if n % every != 1:
                continue
            level = max(0, 2 - n // 8)  # scores fall as the course works
            answers = [min(3, max(0, level + rng.randint(-1, 1))) for _ in range(items)]
            if kind == "phq9" and rng.random() < 0.95:
                answers[8] = 0
            total = sum(answers)
            band = next(b for low, b in QuestionnaireResponse.BANDS[kind] if total >= low)
            at = s.starts_at - dt.timedelta(minutes=30)
            yield (qid, s.patient_id, kind, json.dumps(answers), total, str(band), at,
                   staff[s.clinic]["nurse"], at)  # fmt: skip
            if kind == "phq9" and answers[8] > 0:
                alerts.append((
                    clinics[s.clinic].id, s.patient_id, s.id, "phq9_item9", None, None, qid,
                    "PHQ-9 item 9 above 0.", at,
                    None if s.today else staff[s.clinic]["clinician"],
                    None if s.today else at + dt.timedelta(minutes=20),
                    "" if s.today else "Safety plan reviewed.",
                ))  # fmt: skip
            qid += 1


def _check_ins(*, charted, staff) -> Iterator[tuple]:
    cid = _next_id(CheckIn)
    for s in charted:
        yield (cid, s.id, s.starts_at - dt.timedelta(minutes=10), staff[s.clinic]["nurse"],
               True, True, "Escort", "", s.weight, "")  # fmt: skip
        cid += 1


def _dose_times(s) -> tuple[dt.datetime, dt.datetime, int | None]:
    start = s.starts_at + dt.timedelta(minutes=15)
    if s.route == "iv":
        return start, start + dt.timedelta(minutes=40), None
    devices = 2 if s.id % 3 else 3
    return start, start + dt.timedelta(minutes=5 * (devices - 1)), devices


def _doses(*, charted, staff, rng) -> Iterator[tuple]:
    did = _next_id(DoseAdministration)
    for s in charted:
        nurse = staff[s.clinic]["nurse"]
        started, ended, devices = _dose_times(s)
        if s.route == "iv":
            total = (Decimal("0.50") * s.weight).quantize(Decimal("0.1"))
            row = ("iv", "ketamine", Decimal("0.50"), s.weight, 40, total, None, None, "")
        else:
            row = ("intranasal", "esketamine", None, None, None, Decimal(28 * devices), devices,
                   28, f"LOT{rng.randint(1000, 9999)}")  # fmt: skip
        yield (did, s.id, *row, started, ended, nurse, nurse, ended, "")
        did += 1


def _discharges(*, charted, staff) -> Iterator[tuple]:
    did = _next_id(Discharge)
    for s in charted:
        if s.status != "discharged":
            continue
        started, ended, devices = _dose_times(s)
        monitoring_from = ended if s.route == "iv" else started
        observe = 60 if s.route == "iv" else 120
        at = monitoring_from + dt.timedelta(minutes=observe + 5)
        minutes = math.floor((at - monitoring_from).total_seconds() / 60)
        yield (did, s.id, staff[s.clinic]["nurse"], at, monitoring_from, minutes, "Escort", "", "")
        did += 1
