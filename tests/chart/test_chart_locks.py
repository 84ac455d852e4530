"""The chart's writes lock the session's row, and only it, once the writer is proven to
hold a role at its clinic (PostgreSQL, which locks rows; SQLite's write transaction
excludes the others)."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction

from clinic.models import Clinic
from scheduling.booking.models import Session
from scheduling.chart.models import VitalSigns
from scheduling.chart.services import vitals_record

from ..conftest import NORMAL_VITALS, chart_through

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


def _in_another_connection(work):
    """Run `work` in a thread of its own, hence a connection of its own; its outcome."""
    outcome = {}

    def run():
        try:
            outcome.update(work())
        except Exception as exc:  # reported to the test
            outcome["raised"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_chart_write_locks_its_session_and_not_its_clinic(iv_session, staff):
    """FOR UPDATE OF the session only: the clinic it reads (for the role, and the
    thresholds) stays free, so another session's charting there is never held up."""
    from scheduling.chart.services import CARE, _locked

    def try_locks():
        seen = {}
        for name, model, pk in (("clinic", Clinic, iv_session.clinic_id),
                                ("session", Session, iv_session.pk)):  # fmt: skip
            try:
                with transaction.atomic():
                    model.objects.select_for_update(nowait=True).get(pk=pk)
                seen[name] = "free"
            except DatabaseError:
                seen[name] = "locked"
        return seen

    with transaction.atomic():
        locked = _locked(Session(pk=iv_session.pk), by=staff["nurse"], roles=CARE, doing="chart")
        assert locked.clinic.alert_systolic_at == iv_session.clinic.alert_systolic_at
        thread, outcome = _in_another_connection(try_locks)
        thread.join(timeout=30)
    assert outcome == {"clinic": "free", "session": "locked"}


def test_a_writer_without_the_role_never_waits_for_the_lock(iv_session, staff, other_clinic):
    """While the session's row is locked, another clinic's nurse and the front desk are
    refused at once: they never ask for the lock (which would time out here)."""
    from django.contrib.auth import get_user_model

    from clinic.services import staff_membership_add

    nurse, start = staff["nurse"], iv_session.starts_at
    chart_through(iv_session, nurse=nurse, start=start, to=Session.Status.MONITORING)
    outsider = get_user_model().objects.create_user(username="elsewhere", password="pw-x")
    staff_membership_add(user=outsider, clinic=other_clinic, role="nurse")

    def readings():
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")
        refused = {}
        for name, by in (("outsider", outsider), ("front desk", staff["front_desk"])):
            try:
                vitals_record(
                    session=Session(pk=iv_session.pk), by=by, timepoint="after",
                    refuse_as="session", now=start + 80 * dt.timedelta(minutes=1),
                    **NORMAL_VITALS,
                )  # fmt: skip
            except (ValidationError, PermissionDenied) as exc:
                refused[name] = exc.message_dict
        return refused

    before = VitalSigns.objects.count()
    with transaction.atomic():
        Session.objects.select_for_update().get(pk=iv_session.pk)
        thread, outcome = _in_another_connection(readings)
        thread.join(timeout=30)
    refusal = {"session": ["No such session among yours."]}
    assert outcome == {"outsider": refusal, "front desk": refusal}
    assert VitalSigns.objects.count() == before


def test_a_reading_waits_for_a_discharge_in_progress_and_is_then_refused(iv_session, staff):
    """A reading sent while another transaction discharges the session waits for the
    session's lock, then sees the discharge, writes nothing and is refused by name."""
    nurse, start = staff["nurse"], iv_session.starts_at
    chart_through(iv_session, nurse=nurse, start=start, to=Session.Status.MONITORING)
    before = VitalSigns.objects.count()

    def reading():
        try:
            vitals_record(
                session=Session(pk=iv_session.pk), by=nurse, timepoint="after",
                now=start + 80 * dt.timedelta(minutes=1), **NORMAL_VITALS,
            )  # fmt: skip
            return {"written": True}
        except ValidationError as exc:
            return {"refused": exc.message_dict}

    with transaction.atomic():
        Session.objects.select_for_update().get(pk=iv_session.pk)
        thread, outcome = _in_another_connection(reading)
        with connection.cursor() as cursor:
            for _ in range(200):  # until the reading waits on the session's row
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # (one a transaction)
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE %s",
                    ['%FROM "scheduling_session"%FOR UPDATE OF "scheduling_session"%'],
                )
                if cursor.fetchone()[0]:
                    break
                threading.Event().wait(0.05)
            else:
                pytest.fail("the reading never waited for the session's lock")
        Session.objects.filter(pk=iv_session.pk).update(status=Session.Status.DISCHARGED)
    thread.join(timeout=30)
    assert outcome == {"refused": {"status": ["Vitals are not recorded for a discharged session."]}}
    assert VitalSigns.objects.count() == before
