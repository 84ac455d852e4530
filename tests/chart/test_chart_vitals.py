"""Vitals: impossible values refused, thresholds raising alerts, amendments keeping the
original, the schedule of checks, and the chart's constant number of queries."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from scheduling.booking.models import Session
from scheduling.booking.services import session_transition
from scheduling.chart.models import Alert, VitalSigns
from scheduling.chart.selectors import session_chart
from scheduling.chart.services import alert_acknowledge, side_effect_record, vitals_record

from ..conftest import NORMAL_VITALS, at, chart_check_in, chart_dose

S = Session.Status
T = VitalSigns.Timepoint
MIN = dt.timedelta(minutes=1)
CHECK_IN, DOSE = at(2027, 1, 4, 9, 30), at(2027, 1, 4, 9, 35)


@pytest.fixture
def dosing(iv_session, staff):
    """An IV session checked in at 09:30 and dosed 09:35-10:15."""
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN)
    chart_dose(iv_session, nurse=staff["nurse"], now=DOSE)
    return iv_session


def record(session, nurse, timepoint=T.DURING, now=DOSE + 10 * MIN, **values):
    return vitals_record(
        session=session, by=nurse, timepoint=timepoint, now=now, **dict(NORMAL_VITALS, **values)
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("systolic", 49),
        ("systolic", 301),
        ("diastolic", 19),
        ("diastolic", 201),
        ("spo2", 101),
        ("spo2", 40),
        ("heart_rate", 19),
        ("heart_rate", 260),
        ("respiratory_rate", 2),
        ("respiratory_rate", 70),
        ("temperature_c", "28.0"),
        ("temperature_c", "45.5"),
    ],
)
def test_an_impossible_vital_is_refused_naming_the_field_and_nothing_is_written(
    dosing, staff, field, value
):
    before = (VitalSigns.objects.count(), Alert.objects.count())
    with pytest.raises(ValidationError) as exc:
        record(dosing, staff["nurse"], **{field: value})
    assert list(exc.value.message_dict) == [field]
    assert "not possible" in exc.value.message_dict[field][0]
    assert (VitalSigns.objects.count(), Alert.objects.count()) == before


def test_a_diastolic_not_below_the_systolic_is_refused(dosing, staff):
    before = VitalSigns.objects.count()
    with pytest.raises(ValidationError) as exc:
        record(dosing, staff["nurse"], systolic=90, diastolic=95)
    assert "must be below systolic" in exc.value.message_dict["diastolic"][0]
    assert VitalSigns.objects.count() == before


def test_the_database_refuses_an_impossible_vital_too(dosing, staff):
    good = VitalSigns.objects.get(session=dosing)
    good.pk, good.spo2 = None, 120
    with pytest.raises(IntegrityError), transaction.atomic():
        good.save()


@pytest.mark.parametrize(
    ("values", "timepoint", "kind", "says"),
    [
        ({"systolic": 180}, T.DURING, "vitals_threshold", "Systolic 180 mmHg is at or above 180"),
        ({"diastolic": 110}, T.AFTER, "vitals_threshold", "Diastolic 110 mmHg"),
        ({"spo2": 91}, T.DURING, "vitals_threshold", "SpO2 91% is below 92%"),
        ({"heart_rate": 121}, T.DURING, "vitals_threshold", "Heart rate 121/min is above 120"),
        ({"heart_rate": 49}, T.AFTER, "vitals_threshold", "Heart rate 49/min is below 50"),
        ({"systolic": 141}, T.PRE_DOSE, "pre_dose_caution", "Pre-dose systolic 141 mmHg"),
        ({"diastolic": 91}, T.PRE_DOSE, "pre_dose_caution", "Pre-dose diastolic 91 mmHg"),
        ({"systolic": 185}, T.PRE_DOSE, "vitals_threshold", "Systolic 185"),
    ],
)
def test_each_threshold_raises_its_alert(dosing, staff, values, timepoint, kind, says):
    vitals = record(dosing, staff["nurse"], timepoint=timepoint, **values)
    alert = Alert.objects.get(vitals=vitals)
    assert (alert.kind, alert.session_id, alert.patient_id) == (
        kind, dosing.id, dosing.patient_id
    )  # fmt: skip
    assert says in alert.message
    assert alert.is_open


@pytest.mark.parametrize(
    ("values", "timepoint"),
    [
        ({"systolic": 179, "diastolic": 109}, T.DURING),
        ({"spo2": 92}, T.DURING),
        ({"heart_rate": 120}, T.DURING),
        ({"heart_rate": 50}, T.DURING),
        ({"systolic": 150, "diastolic": 95}, T.DURING),  # caution is for before the dose
        ({"systolic": 140, "diastolic": 90}, T.PRE_DOSE),
    ],
)
def test_values_within_thresholds_raise_no_alert(dosing, staff, values, timepoint):
    vitals = record(dosing, staff["nurse"], timepoint=timepoint, **values)
    assert not Alert.objects.filter(vitals=vitals).exists()


def test_thresholds_are_the_clinics_own(dosing, staff):
    clinic = dosing.clinic
    clinic.alert_systolic_at = 160
    clinic.save()
    vitals = record(dosing, staff["nurse"], systolic=165)
    assert Alert.objects.get(vitals=vitals).kind == Alert.Kind.VITALS_THRESHOLD


def test_a_reading_is_refused_to_whom_may_not_chart_the_session(dosing, staff, other_clinic):
    """Another clinic's nurse and the front desk are refused (a 403; as the API asks it,
    a 400 naming the session, saying nothing of another clinic's); a discharged session
    takes no new reading. Nothing is written."""
    from django.contrib.auth import get_user_model

    from clinic.services import staff_membership_add

    outsider = get_user_model().objects.create_user(username="elsewhere", password="pw-x")
    staff_membership_add(user=outsider, clinic=other_clinic, role="nurse")
    before = VitalSigns.objects.count()
    for refused in (outsider, staff["front_desk"]):
        with pytest.raises(PermissionDenied):
            record(Session(pk=dosing.pk), refused)
        with pytest.raises(ValidationError) as exc:
            vitals_record(
                session=Session(pk=dosing.pk), by=refused, timepoint=T.DURING,
                refuse_as="session", **NORMAL_VITALS,
            )  # fmt: skip
        assert exc.value.message_dict == {"session": ["No such session among yours."]}
    with pytest.raises(Session.DoesNotExist):
        record(Session(pk=dosing.pk + 1000), staff["nurse"])
    Session.objects.filter(pk=dosing.pk).update(status=S.DISCHARGED)
    with pytest.raises(ValidationError, match="discharged"):
        record(dosing, staff["nurse"])
    assert VitalSigns.objects.count() == before


def test_a_reading_past_several_thresholds_says_each_in_order(dosing, staff):
    """The alert's whole message, word for word (CLINICAL.md section 4): in-session
    alerts first, then the pre-dose cautions."""
    vitals = record(
        dosing, staff["nurse"], timepoint=T.PRE_DOSE, systolic=185, diastolic=95, heart_rate=45
    )
    alert = Alert.objects.get(vitals=vitals)
    assert alert.kind == Alert.Kind.VITALS_THRESHOLD
    assert alert.message == (
        "Systolic 185 mmHg is at or above 180. Heart rate 45/min is below 50. "
        "Pre-dose systolic 185 mmHg is above 140: consider delaying. "
        "Pre-dose diastolic 95 mmHg is above 90: consider delaying."
    )


def test_a_superuser_with_no_clinic_records_with_no_role_asked(dosing, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser(username="root", password="pw-x")
    # The savepoint, the session's clinic, the session locked, the session marked
    # changed, the INSERT, the release: no role is asked of a superuser.
    with django_assert_num_queries(6):
        vitals = record(dosing, admin)
    assert VitalSigns.objects.get(pk=vitals.pk).recorded_by_id == admin.pk


def test_nobody_and_an_anonymous_user_are_refused_before_anything(dosing):
    from django.contrib.auth.models import AnonymousUser

    before = VitalSigns.objects.count()
    for nobody in (None, AnonymousUser()):
        with pytest.raises(PermissionDenied):
            record(dosing, nobody, systolic=400)  # refused as a caller, not for the value
    assert VitalSigns.objects.count() == before


def test_clinic_thresholds_must_be_in_order(clinic):
    clinic.alert_systolic_at = 130  # below the pre-dose caution of 140
    clinic.alert_heart_rate_below = 130
    with pytest.raises(ValidationError) as exc:
        clinic.full_clean()
    assert "alert_systolic_at" in exc.value.message_dict
    assert "alert_heart_rate_above" in exc.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        clinic.save()


def test_a_correction_amends_the_original_and_keeps_it(dosing, staff):
    typo = record(dosing, staff["nurse"], systolic=218, diastolic=80)
    fixed = vitals_record(
        session=dosing, by=staff["nurse"], timepoint=T.DURING, now=DOSE + 11 * MIN,
        measured_at=typo.measured_at, amends=typo, amendment_reason="Typed 218 for 128.",
        **dict(NORMAL_VITALS, systolic=128),
    )  # fmt: skip

    typo.refresh_from_db()
    assert typo.systolic == 218  # the original stays as it was
    assert fixed.amends == typo and typo.amended_by == fixed
    chart = session_chart(session=dosing, now=DOSE + 12 * MIN)
    assert typo in chart.vitals and typo not in chart.current_vitals
    assert fixed in chart.current_vitals
    assert Alert.objects.filter(vitals=typo).exists()  # still for a clinician to close


def test_a_reading_is_corrected_once_then_the_correction_is_amended(dosing, staff):
    first = record(dosing, staff["nurse"])
    record(dosing, staff["nurse"], amends=first, amendment_reason="Wrong arm")
    with pytest.raises(ValidationError) as exc:
        record(dosing, staff["nurse"], amends=first, amendment_reason="Again")
    assert "already corrected" in exc.value.message_dict["amends"][0]


def test_an_amendment_needs_a_reason(dosing, staff):
    first = record(dosing, staff["nurse"])
    with pytest.raises(ValidationError) as exc:
        record(dosing, staff["nurse"], amends=first, amendment_reason="")
    assert "amendment_reason" in exc.value.message_dict
    assert VitalSigns.objects.filter(amends=first).count() == 0


def test_a_clinician_acknowledges_an_alert_and_a_nurse_cannot(dosing, staff):
    alert = Alert.objects.get(vitals=record(dosing, staff["nurse"], spo2=88))

    with pytest.raises(PermissionDenied):
        alert_acknowledge(alert=alert, by=staff["nurse"], note="Seen", now=DOSE + 12 * MIN)
    with pytest.raises(ValidationError):
        alert_acknowledge(alert=alert, by=staff["clinician"], note=" ", now=DOSE + 12 * MIN)
    done = alert_acknowledge(
        alert=alert, by=staff["clinician"], note="Repositioned probe; 97%.", now=DOSE + 12 * MIN
    )

    assert (done.acknowledged_by, done.acknowledged_at) == (staff["clinician"], DOSE + 12 * MIN)
    with pytest.raises(ValidationError):
        alert_acknowledge(alert=alert, by=staff["clinician"], note="Again", now=DOSE + 13 * MIN)


def test_the_chart_knows_the_next_due_and_the_overdue_vitals(dosing, staff):
    # Dose 09:35-10:15: during at 09:45, 09:55, 10:05; 40 minutes at 10:15; after the
    # infusion every 15 minutes (10:30, 10:45, 11:00); before discharge at 11:15.
    chart = session_chart(session=dosing, now=DOSE + 21 * MIN)  # 09:56
    schedule = [(c.timepoint, f"{c.due_at:%H:%M}") for c in chart.vitals_schedule]
    assert schedule == [
        ("pre_dose", "09:30"),
        ("during", "09:45"),
        ("during", "09:55"),
        ("during", "10:05"),
        ("post_dose_40", "10:15"),
        ("after", "10:30"),
        ("after", "10:45"),
        ("after", "11:00"),
        ("pre_discharge", "11:15"),
    ]
    assert [f"{c.due_at:%H:%M}" for c in chart.vitals_overdue] == ["09:45"]
    assert f"{chart.vitals_next_due.due_at:%H:%M}" == "09:55"

    record(dosing, staff["nurse"], measured_at=DOSE + 19 * MIN, now=DOSE + 21 * MIN)
    chart = session_chart(session=dosing, now=DOSE + 21 * MIN)
    assert chart.vitals_schedule[2].done
    assert f"{chart.vitals_next_due.due_at:%H:%M}" == "10:05"


def test_the_forty_minute_check_needs_a_reading_marked_as_such(dosing, staff):
    record(dosing, staff["nurse"], timepoint=T.DURING, now=DOSE + 40 * MIN)
    chart = session_chart(session=dosing, now=DOSE + 50 * MIN)
    check = next(c for c in chart.vitals_schedule if c.timepoint == T.POST_DOSE_40)
    assert check.overdue
    record(dosing, staff["nurse"], timepoint=T.POST_DOSE_40, now=DOSE + 50 * MIN)
    chart = session_chart(session=dosing, now=DOSE + 50 * MIN)
    assert next(c for c in chart.vitals_schedule if c.timepoint == T.POST_DOSE_40).done


def test_vitals_are_not_recorded_for_a_session_not_yet_checked_in(iv_session, staff):
    with pytest.raises(ValidationError) as exc:
        record(iv_session, staff["nurse"], timepoint=T.PRE_DOSE, now=CHECK_IN)
    assert "booked" in exc.value.message_dict["status"][0]


@pytest.mark.parametrize("rows", [5, 50])
def test_the_chart_of_a_session_takes_a_constant_number_of_queries(
    dosing, staff, rows, django_assert_max_num_queries
):
    nurse = staff["nurse"]
    session_transition(session=dosing, to=S.MONITORING, by=nurse, now=DOSE + 40 * MIN)
    for n in range(rows):
        record(dosing, nurse, timepoint=T.AFTER, now=DOSE + (41 + n) * MIN, heart_rate=40 + n)
        side_effect_record(
            session=dosing, by=nurse, kind="nausea", severity="mild", now=DOSE + (41 + n) * MIN
        )

    # session, waivers, vitals, effects, alerts, and the clinic's own checklist items as
    # asked at check-in (a relation of their own: one query, however many)
    with django_assert_max_num_queries(6):
        chart = session_chart(session=dosing, now=DOSE + 120 * MIN)
        # Everything a chart page shows, read from what was loaded.
        assert len(chart.current_vitals) == rows + 1
        assert len(chart.current_side_effects) == rows
        assert chart.open_alerts
        assert chart.checklist_missing == []
        assert chart.vitals_schedule and chart.discharge_problems() is not None
        assert [v.recorded_by.username for v in chart.vitals]
