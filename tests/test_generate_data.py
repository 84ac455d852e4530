"""The benchmark data generator: the rows it promises, every one valid."""

import datetime as dt

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from clinic.models import Clinic
from patients.models import Patient, QuestionnaireResponse
from scheduling.booking.models import Course, Session
from scheduling.booking.services.gates import course_gate_check
from scheduling.chart.models import Alert, Discharge, SideEffect, VitalSigns
from scheduling.management.commands.generate_data import SCALES, data_generate, foreign_keys_check

TINY = SCALES["tiny"]


@pytest.fixture
def generated(db):
    return data_generate(scale=TINY, seed=3)


def test_it_writes_the_rows_of_its_scale(generated):
    assert Clinic.objects.filter(slug__startswith="gen-").count() == TINY.clinics
    assert Patient.objects.count() == TINY.patients
    assert Session.objects.count() == TINY.sessions
    # Every reading asked for, plus the amendments that correct a few of them.
    assert TINY.vitals <= VitalSigns.objects.count() <= TINY.vitals * 1.02
    assert SideEffect.objects.exists() and QuestionnaireResponse.objects.exists()
    assert Discharge.objects.count() == Session.objects.filter(status="discharged").count()


# A Tuesday evening in the clinics' time zone (which had failed), a Saturday afternoon.
@pytest.mark.parametrize("when", ["2026-12-02T01:48:00+00:00", "2026-12-05T14:00:00+00:00"])
def test_every_reading_asked_for_is_written_whatever_the_time(db, when):
    """Sessions in the chair now hold only their readings so far; the others make up
    the rest (the old even split, cut short in the chair, fell 5 readings short)."""
    with time_machine.travel(dt.datetime.fromisoformat(when), tick=False):
        data_generate(scale=TINY, seed=3)
    in_chair = VitalSigns.objects.filter(session__status__in=["in_progress", "monitoring"])
    assert in_chair.exists()
    assert TINY.vitals <= VitalSigns.objects.count() <= TINY.vitals * 1.02


def test_sessions_come_in_every_status_and_courses_in_every_state(generated):
    statuses = set(Session.objects.values_list("status", flat=True))
    assert set(Session.Status.values) - {"no_show"} <= statuses
    assert {"active", "completed"} <= set(Course.objects.values_list("status", flat=True))


def test_no_chair_and_no_patient_is_in_two_holding_sessions_at_once(generated):
    holding = Session.objects.filter(status__in=Session.HOLDING).order_by("starts_at")
    for key in ("chair_id", "patient_id"):
        last_end = {}
        for s in holding.only(key, "starts_at", "ends_at"):
            owner = getattr(s, key)
            assert last_end.get(owner) is None or last_end[owner] <= s.starts_at, (key, s.pk)
            last_end[owner] = s.ends_at


def test_every_foreign_key_points_at_a_row(generated):
    models_ = [Patient, Course, Session, VitalSigns, SideEffect, QuestionnaireResponse, Alert]
    assert foreign_keys_check(models_=models_) == []
    connection.check_constraints()  # SQLite: deferred keys; PostgreSQL: a no-op


def test_only_todays_sessions_have_open_alerts(generated):
    assert Alert.objects.exists()
    open_ = Alert.objects.filter(acknowledged_at__isnull=True).aggregate(n=Count("id"))["n"]
    assert open_ < Alert.objects.count()


def test_corrected_readings_point_at_the_reading_they_correct(generated):
    amended = VitalSigns.objects.filter(amends__isnull=False).select_related("amends")
    assert amended.exists()
    assert all(v.amends.session_id == v.session_id for v in amended)


def test_it_refuses_a_database_with_data_of_its_own(db, settings):
    settings.DEBUG = True
    Clinic.objects.create(name="Real", slug="real", timezone="UTC")
    with pytest.raises(CommandError, match="not generated"):
        call_command("generate_data", "--scale", "tiny")


def test_it_refuses_without_debug(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("generate_data", "--scale", "tiny")


@pytest.mark.parametrize("in_chair", [(True, False, False), (True, True, True)])
def test_the_readings_asked_for_are_spread_over_the_charted_sessions(db, in_chair):
    """Each session in the chair keeps its few readings so far and the others make up
    the rest; when every one is in the chair, they share the whole total."""
    import random
    from decimal import Decimal
    from types import SimpleNamespace

    from scheduling.management.commands.generate_data import _Charted, _vitals

    start = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
    charted = [
        _Charted(id=n + 1, starts_at=start, status="monitoring" if chair else "discharged",
                 clinic=0, patient_id=1, route="iv", weight=Decimal("70"), today=chair)
        for n, chair in enumerate(in_chair)
    ]  # fmt: skip
    clinic = SimpleNamespace(id=1, alert_systolic_at=999, caution_systolic_above=140)
    staff = [{"nurse": 1, "clinician": 2}]
    rows = list(_vitals(charted=charted, total=60, staff=staff, clinics=[clinic], alerts=[],
                        rng=random.Random(1)))  # fmt: skip
    originals = [r for r in rows if r[12] is None]  # amendments name the reading they amend
    per_session = {c.id: sum(r[1] == c.id for r in originals) for c in charted}
    assert sum(per_session.values()) == 60
    if not all(in_chair):
        assert per_session[1] == 5 and per_session[2] + per_session[3] == 55


def test_the_patients_of_todays_sessions_pass_the_gates_of_check_in(generated):
    """Screened lately and, on esketamine, enrolled in the REMS: a load profile checks
    them in through the service, which asks again (it had refused every one)."""
    today = Session.objects.filter(status="booked").select_related("patient", "course__protocol")
    assert today.exists()
    for session in today[:40]:
        course_gate_check(
            patient=session.patient, protocol=session.course.protocol, now=timezone.now()
        )
