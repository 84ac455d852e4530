"""The chart's writes ask the database a fixed few times, however much the chart holds.

Each write's transaction is a savepoint and its release here (nested in the test's).
Every write starts with the session's clinic, the writer's role there, the lock on the
session's row and the session marked changed (scheduling.chart.services._locked)."""

import datetime as dt

import pytest

from scheduling.booking.models import Session
from scheduling.booking.services import session_transition
from scheduling.chart.models import Alert
from scheduling.chart.selectors import session_chart
from scheduling.chart.services import (
    alert_acknowledge,
    session_discharge,
    side_effect_record,
    vitals_record,
)

from ..conftest import NORMAL_VITALS, chart_check_in, chart_dose

MIN = dt.timedelta(minutes=1)


@pytest.mark.parametrize("rows", [2, 20])
def test_each_chart_write_takes_a_fixed_number_of_queries(
    iv_session, staff, rows, django_assert_num_queries
):
    nurse, start = staff["nurse"], iv_session.starts_at

    def reading(timepoint, now, **values):
        return vitals_record(session=iv_session, by=nurse, timepoint=timepoint, now=now,
                             **{**NORMAL_VITALS, **values})  # fmt: skip

    # With the checklist, the course's gates, the clinic's items and the pre-dose
    # reading (itself a chart write: 7).
    with django_assert_num_queries(39):
        chart_check_in(iv_session, nurse=nurse, now=start)
    for n in range(rows):
        reading("pre_dose", start + n * MIN / 10)
        side_effect_record(session=iv_session, by=nurse, kind="nausea", severity="mild",
                           now=start + n * MIN / 10)  # fmt: skip
    # With the giver's role, the chart (6), the course and protocol, whether the clinic
    # keeps a stock record (it does not here), the dose, its history and the status change.
    with django_assert_num_queries(26):
        chart_dose(iv_session, nurse=nurse, now=start + 5 * MIN)
    ended = start + 45 * MIN
    session_transition(session=iv_session, to=Session.Status.MONITORING, by=nurse, now=ended)
    with django_assert_num_queries(7):  # the write's 6 and the INSERT
        reading("post_dose_40", ended)
    with django_assert_num_queries(9):  # and the alert with its history
        reading("after", ended + MIN, systolic=190)
    for alert in Alert.objects.filter(session=iv_session):
        alert_acknowledge(alert=alert, by=staff["clinician"], note="Seen.", now=ended + 2 * MIN)
    ends = session_chart(session=iv_session, now=start).observation_ends_at
    reading("pre_discharge", ends)
    # With the chart (6), the discharge and the status change.
    with django_assert_num_queries(22):
        session_discharge(session=iv_session, by=nurse, now=ends + MIN)
