"""Discharge criteria, and the esketamine REMS monitoring form."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from scheduling.booking.models import Session
from scheduling.booking.services import session_transition
from scheduling.chart.models import Alert, Discharge, VitalSigns
from scheduling.chart.selectors import rems_form_for_session, rems_forms_due
from scheduling.chart.services import (
    alert_acknowledge,
    checklist_waive,
    ready_to_leave_record,
    rems_form_mark_filed,
    rems_report_record,
    session_discharge,
    side_effect_record,
    side_effect_resolve,
    vitals_record,
)

from ..conftest import NORMAL_VITALS, at, chart_check_in, chart_dose, chart_through

S = Session.Status
T = VitalSigns.Timepoint
MIN = dt.timedelta(minutes=1)
ESK_CHECK_IN, FIRST_DEVICE = at(2027, 1, 5, 9, 30), at(2027, 1, 5, 9, 40)
IV_CHECK_IN, IV_START = at(2027, 1, 4, 9, 30), at(2027, 1, 4, 9, 40)


def vitals(session, nurse, now, timepoint=T.AFTER, **values):
    return vitals_record(
        session=session, by=nurse, timepoint=timepoint, now=now, **dict(NORMAL_VITALS, **values)
    )


def ready(session, staff, now):
    return ready_to_leave_record(session=session, by=staff["clinician"], now=now)


@pytest.fixture
def esk_monitoring(esketamine_session, staff):
    """First device 09:40, second 09:45; normal vitals at 40 minutes."""
    nurse = staff["nurse"]
    chart_check_in(esketamine_session, nurse=nurse, now=ESK_CHECK_IN)
    chart_dose(esketamine_session, nurse=nurse, now=FIRST_DEVICE, lot_number="LOT-9")
    session_transition(
        session=esketamine_session, to=S.MONITORING, by=nurse, now=FIRST_DEVICE + 5 * MIN
    )
    vitals(esketamine_session, nurse, FIRST_DEVICE + 40 * MIN, timepoint=T.POST_DOSE_40)
    return esketamine_session


def test_discharge_is_refused_before_120_minutes_for_esketamine(esk_monitoring, staff):
    nurse = staff["nurse"]
    vitals(esk_monitoring, nurse, FIRST_DEVICE + 115 * MIN, timepoint=T.PRE_DISCHARGE)
    ready(esk_monitoring, staff, FIRST_DEVICE + 115 * MIN)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esk_monitoring, by=nurse, now=FIRST_DEVICE + 119 * MIN)

    assert list(exc.value.message_dict) == ["observation"]
    message = exc.value.message_dict["observation"][0]
    assert "120 minutes from the first device: not before 11:40 (1 minute to go)" in message
    assert not Discharge.objects.exists()
    discharge = session_discharge(session=esk_monitoring, by=nurse, now=FIRST_DEVICE + 120 * MIN)
    assert discharge.monitoring_minutes == 120


def test_iv_observation_counts_from_the_end_of_the_infusion(iv_session, staff):
    nurse = staff["nurse"]
    chart_check_in(iv_session, nurse=nurse, now=IV_CHECK_IN)
    dose = chart_dose(iv_session, nurse=nurse, now=IV_START)  # 09:40-10:20
    session_transition(session=iv_session, to=S.MONITORING, by=nurse, now=dose.ended_at)
    vitals(iv_session, nurse, dose.ended_at + 55 * MIN, timepoint=T.PRE_DISCHARGE)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=iv_session, by=nurse, now=dose.ended_at + 59 * MIN)
    assert "60 minutes from the end of the infusion" in exc.value.message_dict["observation"][0]

    discharge = session_discharge(session=iv_session, by=nurse, now=dose.ended_at + 60 * MIN)
    assert (discharge.monitoring_from, discharge.monitoring_minutes) == (dose.ended_at, 60)


def test_discharge_is_refused_with_open_alerts(esk_monitoring, staff):
    nurse, when = staff["nurse"], FIRST_DEVICE + 125 * MIN
    effect = side_effect_record(
        session=esk_monitoring, by=nurse, kind="sedation", severity="severe", serious=True,
        onset_at=FIRST_DEVICE + 30 * MIN, now=FIRST_DEVICE + 30 * MIN,
    )  # fmt: skip
    vitals(esk_monitoring, nurse, when - 5 * MIN, timepoint=T.PRE_DISCHARGE)

    ready(esk_monitoring, staff, when)
    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esk_monitoring, by=nurse, now=when)
    assert "1 alert(s) not yet acknowledged" in exc.value.message_dict["alerts"][0]
    assert not Discharge.objects.exists()

    alert_acknowledge(
        alert=Alert.objects.get(side_effect=effect), by=staff["clinician"],
        note="Rousable, MOAA/S 4 at 60 min; observe.", now=when,
    )  # fmt: skip
    side_effect_resolve(side_effect=effect, by=nurse, moaa_s=5, now=when)
    session_discharge(session=esk_monitoring, by=nurse, now=when)
    esk_monitoring.refresh_from_db()
    assert esk_monitoring.status == S.DISCHARGED


def test_discharge_needs_the_last_vitals_within_thresholds_or_signed_off(esk_monitoring, staff):
    nurse, when = staff["nurse"], FIRST_DEVICE + 125 * MIN
    high = vitals(esk_monitoring, nurse, when - 5 * MIN, T.PRE_DISCHARGE, systolic=182)
    ready(esk_monitoring, staff, when)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esk_monitoring, by=nurse, now=when)
    assert "past the clinic's thresholds and not signed off" in exc.value.message_dict["vitals"][0]

    alert_acknowledge(
        alert=Alert.objects.get(vitals=high), by=staff["clinician"],
        note="Known hypertensive, asymptomatic; GP letter.", now=when,
    )  # fmt: skip
    assert session_discharge(session=esk_monitoring, by=nurse, now=when)


def test_discharge_needs_vitals_after_the_dose(esketamine_session, staff):
    nurse = staff["nurse"]
    chart_check_in(esketamine_session, nurse=nurse, now=ESK_CHECK_IN)
    chart_dose(esketamine_session, nurse=nurse, now=FIRST_DEVICE)
    session_transition(session=esketamine_session, to=S.MONITORING, by=nurse, now=FIRST_DEVICE)
    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esketamine_session, by=nurse, now=FIRST_DEVICE + 130 * MIN)
    assert "Record vitals after the dose" in exc.value.message_dict["vitals"][0]


def test_discharge_is_refused_without_an_escort(esketamine_session, staff):
    nurse = staff["nurse"]
    chart_check_in(
        esketamine_session, nurse=nurse, now=ESK_CHECK_IN, escort_confirmed=False, escort_name=""
    )
    checklist_waive(
        session=esketamine_session, item="escort", by=staff["clinician"],
        reason="Partner arriving later to collect.", now=ESK_CHECK_IN,
    )  # fmt: skip
    chart_dose(esketamine_session, nurse=nurse, now=FIRST_DEVICE)
    session_transition(session=esketamine_session, to=S.MONITORING, by=nurse, now=FIRST_DEVICE)
    when = FIRST_DEVICE + 125 * MIN
    vitals(esketamine_session, nurse, when, timepoint=T.PRE_DISCHARGE)
    ready(esketamine_session, staff, when)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esketamine_session, by=nurse, now=when)
    assert list(exc.value.message_dict) == ["escort_name"]

    discharge = session_discharge(
        session=esketamine_session, by=nurse, now=when, escort_name="Sam Partner"
    )
    assert discharge.escort_name == "Sam Partner"


def test_discharge_lists_every_missing_criterion_and_writes_nothing(esketamine_session, staff):
    nurse = staff["nurse"]
    chart_check_in(esketamine_session, nurse=nurse, now=ESK_CHECK_IN, escort_confirmed=False)
    checklist_waive(
        session=esketamine_session, item="escort", by=staff["clinician"], reason="Later",
        now=ESK_CHECK_IN,
    )  # fmt: skip
    chart_dose(esketamine_session, nurse=nurse, now=FIRST_DEVICE)
    session_transition(session=esketamine_session, to=S.MONITORING, by=nurse, now=FIRST_DEVICE)
    vitals(esketamine_session, nurse, FIRST_DEVICE + 40 * MIN, T.POST_DOSE_40, spo2=89)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esketamine_session, by=nurse, now=FIRST_DEVICE + 60 * MIN)

    assert set(exc.value.message_dict) == {
        "observation", "vitals", "alerts", "escort_name", "ready_to_leave"
    }  # fmt: skip
    assert not Discharge.objects.exists()
    esketamine_session.refresh_from_db()
    assert esketamine_session.status == S.MONITORING


def test_discharge_records_who_when_and_the_monitoring_minutes(esketamine_session, staff):
    start = ESK_CHECK_IN
    session = chart_through(esketamine_session, nurse=staff["nurse"], start=start)
    d = session.discharge
    # First device 5 minutes after check-in; discharged a minute after 120 minutes.
    assert (d.discharged_by, d.monitoring_from, d.monitoring_minutes, d.escort_name) == (
        staff["nurse"], start + 5 * MIN, 121, "A. Friend"
    )  # fmt: skip
    assert d.discharged_at == start + 126 * MIN


def test_the_front_desk_cannot_discharge(esk_monitoring, staff):
    with pytest.raises(PermissionDenied):
        session_discharge(
            session=esk_monitoring, by=staff["front_desk"], now=FIRST_DEVICE + 130 * MIN
        )


def test_the_discharged_status_needs_the_discharge_form(esk_monitoring, staff):
    with pytest.raises(ValidationError) as exc:
        session_transition(
            session=esk_monitoring, to=S.DISCHARGED, by=staff["nurse"], now=FIRST_DEVICE
        )
    assert "Discharge through the discharge form" in exc.value.message_dict["status"][0]


# --- REMS --------------------------------------------------------------------------------


def test_the_rems_form_is_complete_for_a_charted_esketamine_session(esketamine_session, staff):
    nurse = staff["nurse"]
    chart_check_in(esketamine_session, nurse=nurse, now=ESK_CHECK_IN)
    rems_report_record(
        session=esketamine_session, by=nurse, benzodiazepines=False, non_benzo_sedatives=False,
        psychostimulants=True, maois=False, monitoring_clinician=staff["clinician"],
        now=ESK_CHECK_IN,
    )  # fmt: skip
    chart_dose(esketamine_session, nurse=nurse, now=FIRST_DEVICE, lot_number="LOT-77")
    session_transition(session=esketamine_session, to=S.MONITORING, by=nurse, now=FIRST_DEVICE)
    side_effect_record(
        session=esketamine_session, by=nurse, kind="dissociation", severity="mild",
        onset_at=FIRST_DEVICE + 15 * MIN, cadss=12, now=FIRST_DEVICE + 20 * MIN,
    )  # fmt: skip
    vitals(esketamine_session, nurse, FIRST_DEVICE + 40 * MIN, T.POST_DOSE_40, systolic=150)
    (dissociated,) = esketamine_session.side_effects.all()
    side_effect_resolve(side_effect=dissociated, by=nurse, cadss=0, now=FIRST_DEVICE + 60 * MIN)
    vitals(esketamine_session, nurse, FIRST_DEVICE + 118 * MIN, T.PRE_DISCHARGE, systolic=128)
    ready(esketamine_session, staff, FIRST_DEVICE + 119 * MIN)
    session_discharge(session=esketamine_session, by=nurse, now=FIRST_DEVICE + 122 * MIN)

    form = rems_form_for_session(session=esketamine_session)

    assert form.missing == []
    assert (form.patient_name, form.birth_date, form.sex) == (
        "Test Patient", dt.date(1980, 1, 1), "Unknown"
    )  # fmt: skip
    assert form.first_treatment is True
    assert (form.benzodiazepines, form.non_benzo_sedatives, form.psychostimulants, form.maois) == (
        False, False, True, False
    )  # fmt: skip
    assert (form.monitoring_clinician, form.setting) == (
        "clinician", "Outpatient healthcare setting"
    )  # fmt: skip
    assert (form.date, form.dose_mg, form.lot_number, form.total_minutes) == (
        dt.date(2027, 1, 5), 56, "LOT-77", 122
    )  # fmt: skip
    assert form.ready_to_leave_at == FIRST_DEVICE + 119 * MIN
    assert (form.bp_before_dose, form.bp_at_40_minutes, form.bp_before_leaving) == (
        "122/78", "150/78", "128/78"
    )  # fmt: skip
    assert (form.vitals_in_range_before_dose, form.vitals_in_range_before_leaving) == (True, True)
    assert (form.sedation, form.dissociation, form.respiratory_depression) == (False, True, False)
    assert form.serious_adverse_events == []


def test_the_rems_form_names_what_is_missing(esk_monitoring):
    form = rems_form_for_session(session=esk_monitoring)
    assert "concomitant benzodiazepines" in form.missing
    assert "blood pressure before leaving" in form.missing
    assert "total monitoring minutes (not discharged)" in form.missing
    assert "lot number" not in form.missing


def test_the_rems_form_is_for_esketamine_sessions_only(iv_session):
    with pytest.raises(ValidationError) as exc:
        rems_form_for_session(session=iv_session)
    assert "The REMS form is for esketamine sessions" in exc.value.message_dict["session"][0]


def test_a_rems_form_with_missing_fields_cannot_be_filed(esketamine_session, staff):
    session = chart_through(esketamine_session, nurse=staff["nurse"], start=ESK_CHECK_IN)
    with pytest.raises(ValidationError) as exc:
        rems_form_mark_filed(session=session, by=staff["nurse"], now=ESK_CHECK_IN + 3 * 60 * MIN)
    assert "Missing: concomitant MAOIs." in exc.value.message_dict["missing"]


def test_rems_forms_due_lists_unfiled_forms_with_their_due_date(esketamine_session, staff):
    session = chart_through(esketamine_session, nurse=staff["nurse"], start=ESK_CHECK_IN)
    clinic = session.clinic

    (due,) = rems_forms_due(clinic=clinic, now=at(2027, 1, 12, 17))
    assert (due.session, due.session_date, due.due_date, due.overdue) == (
        session, dt.date(2027, 1, 5), dt.date(2027, 1, 12), False
    )  # fmt: skip
    assert rems_forms_due(clinic=clinic, now=at(2027, 1, 13, 9))[0].overdue is True

    rems_report_record(
        session=session, by=staff["nurse"], benzodiazepines=False, non_benzo_sedatives=False,
        psychostimulants=False, maois=False, now=at(2027, 1, 6, 9),
    )  # fmt: skip
    report = rems_form_mark_filed(
        session=session, by=staff["nurse"], reference="REMS-CONF-1", now=at(2027, 1, 6, 9)
    )
    assert (report.filed_by, report.filed_reference) == (staff["nurse"], "REMS-CONF-1")
    assert rems_forms_due(clinic=clinic, now=at(2027, 1, 13, 9)) == []
    with pytest.raises(ValidationError):
        rems_report_record(
            session=session, by=staff["nurse"], benzodiazepines=True, non_benzo_sedatives=False,
            psychostimulants=False, maois=False, now=at(2027, 1, 6, 10),
        )  # fmt: skip


def test_iv_sessions_have_no_rems_form_due(iv_session, staff):
    chart_through(iv_session, nurse=staff["nurse"], start=IV_CHECK_IN)
    assert rems_forms_due(clinic=iv_session.clinic, now=at(2027, 1, 6)) == []


# --- recovery before discharge ------------------------------------------------------------


def _ready_but_for(session, staff, when):
    """Everything else in order: pre-discharge vitals and a clinician's judgement."""
    vitals(session, staff["nurse"], when - 5 * MIN, timepoint=T.PRE_DISCHARGE)
    ready(session, staff, when - 5 * MIN)


def test_discharge_waits_while_sedation_is_unresolved(esk_monitoring, staff):
    nurse, when = staff["nurse"], FIRST_DEVICE + 125 * MIN
    effect = side_effect_record(
        session=esk_monitoring, by=nurse, kind="sedation", severity="mild",
        onset_at=FIRST_DEVICE + 20 * MIN, now=FIRST_DEVICE + 20 * MIN,
    )  # fmt: skip
    _ready_but_for(esk_monitoring, staff, when)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esk_monitoring, by=nurse, now=when)
    assert list(exc.value.message_dict) == ["side_effects"]
    assert "Sedation since 10:00 is not resolved." in exc.value.message_dict["side_effects"]
    assert not Discharge.objects.exists()

    side_effect_resolve(side_effect=effect, by=nurse, now=when)
    assert session_discharge(session=esk_monitoring, by=nurse, now=when)


def test_discharge_waits_for_moaa_s_5(esk_monitoring, staff):
    nurse, when = staff["nurse"], FIRST_DEVICE + 125 * MIN
    effect = side_effect_record(
        session=esk_monitoring, by=nurse, kind="sedation", severity="moderate", moaa_s=3,
        onset_at=FIRST_DEVICE + 20 * MIN, now=FIRST_DEVICE + 20 * MIN,
    )  # fmt: skip
    side_effect_resolve(side_effect=effect, by=nurse, now=FIRST_DEVICE + 90 * MIN)  # score kept
    _ready_but_for(esk_monitoring, staff, when)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esk_monitoring, by=nurse, now=when)
    assert list(exc.value.message_dict) == ["moaa_s"]
    assert "The last MOAA/S is 3" in exc.value.message_dict["moaa_s"][0]

    side_effect_record(
        session=esk_monitoring, by=nurse, kind="sedation", severity="mild", moaa_s=5,
        onset_at=FIRST_DEVICE + 20 * MIN, resolved_at=when, now=when,
    )  # fmt: skip
    assert session_discharge(session=esk_monitoring, by=nurse, now=when)


def test_discharge_waits_while_cadss_is_raised_above_the_clinics_limit(iv_session, staff):
    nurse = staff["nurse"]
    chart_check_in(iv_session, nurse=nurse, now=IV_CHECK_IN)
    dose = chart_dose(iv_session, nurse=nurse, now=IV_START)
    session_transition(session=iv_session, to=S.MONITORING, by=nurse, now=dose.ended_at)
    when = dose.ended_at + 60 * MIN
    effect = side_effect_record(
        session=iv_session, by=nurse, kind="dissociation", severity="mild", cadss=9,
        onset_at=IV_START + 10 * MIN, now=IV_START + 10 * MIN,
    )  # fmt: skip
    side_effect_resolve(side_effect=effect, by=nurse, cadss=3, now=when - 10 * MIN)
    vitals(iv_session, nurse, when - 5 * MIN, timepoint=T.PRE_DISCHARGE)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=iv_session, by=nurse, now=when)
    assert list(exc.value.message_dict) == ["cadss"]
    assert "The last CADSS total is 3" in exc.value.message_dict["cadss"][0]

    clinic = iv_session.clinic
    clinic.discharge_cadss_at_most = 4  # the clinic's own limit
    clinic.save()
    assert session_discharge(session=iv_session, by=nurse, now=when)


def test_esketamine_discharge_needs_a_pre_discharge_blood_pressure(esk_monitoring, staff):
    nurse, when = staff["nurse"], FIRST_DEVICE + 125 * MIN
    vitals(esk_monitoring, nurse, when - 10 * MIN, timepoint=T.AFTER)
    ready(esk_monitoring, staff, when)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esk_monitoring, by=nurse, now=when)
    assert exc.value.message_dict == {
        "vitals": ["Record the pre-discharge blood pressure (the REMS form asks for it)."]
    }
    vitals(esk_monitoring, nurse, when, timepoint=T.PRE_DISCHARGE)
    assert session_discharge(session=esk_monitoring, by=nurse, now=when)


def test_esketamine_discharge_needs_a_clinicians_ready_to_leave_time(esk_monitoring, staff):
    nurse, when = staff["nurse"], FIRST_DEVICE + 125 * MIN
    vitals(esk_monitoring, nurse, when - 5 * MIN, timepoint=T.PRE_DISCHARGE)

    with pytest.raises(ValidationError) as exc:
        session_discharge(session=esk_monitoring, by=nurse, now=when)
    assert list(exc.value.message_dict) == ["ready_to_leave"]
    with pytest.raises(PermissionDenied):
        ready_to_leave_record(session=esk_monitoring, by=nurse, now=when)
    with pytest.raises(ValidationError) as exc:  # not before monitoring began
        ready(esk_monitoring, staff, FIRST_DEVICE - MIN)
    assert "ready_at" in exc.value.message_dict

    judged = ready_to_leave_record(
        session=esk_monitoring, by=staff["clinician"], ready_at=when - 2 * MIN,
        note="Alert, walking steadily.", now=when,
    )  # fmt: skip
    session_discharge(session=esk_monitoring, by=nurse, now=when)
    assert rems_form_for_session(session=esk_monitoring).ready_to_leave_at == judged.ready_at


def test_a_ready_to_leave_time_is_corrected_with_a_reason_and_the_history_keeps_the_first(
    esk_monitoring, staff
):
    first = ready(esk_monitoring, staff, FIRST_DEVICE + 100 * MIN)
    with pytest.raises(ValidationError) as exc:
        ready(esk_monitoring, staff, FIRST_DEVICE + 110 * MIN)
    assert "say why it is corrected" in exc.value.message_dict["reason"][0]

    ready_to_leave_record(
        session=esk_monitoring, by=staff["clinician"], reason="Clicked too early.",
        now=FIRST_DEVICE + 110 * MIN,
    )  # fmt: skip
    first.refresh_from_db()
    assert first.ready_at == FIRST_DEVICE + 110 * MIN
    history = list(first.history.order_by("history_date").values_list("ready_at", flat=True))
    assert history == [FIRST_DEVICE + 100 * MIN, FIRST_DEVICE + 110 * MIN]
    assert first.history.latest().history_change_reason == "Clicked too early."


def test_rems_is_a_clinic_setting_a_uk_clinics_esketamine_sessions_have_no_form_due(
    clinic, esketamine_trd, staff
):
    from scheduling.booking.services import course_start

    from ..conftest import make_patient, make_screening

    clinic.rems_applies = False  # a United Kingdom clinic
    clinic.save()
    patient = make_patient(clinic, "UK-1")  # never enrolled in the (US) REMS
    make_screening(patient, now=at(2026, 12, 1))
    course = course_start(
        patient=patient, protocol=esketamine_trd, start_date=dt.date(2027, 1, 5),
        preferred_weekdays=[1, 4], preferred_time=dt.time(9, 30), by=None, now=at(2027, 1, 1),
    )  # fmt: skip
    session = chart_through(course.sessions.get(number=1), nurse=staff["nurse"], start=ESK_CHECK_IN)

    assert session.status == S.DISCHARGED
    assert rems_forms_due(clinic=clinic, now=at(2027, 1, 6)) == []
    with pytest.raises(ValidationError) as exc:
        rems_form_for_session(session=session)
    assert "where the REMS applies" in exc.value.message_dict["session"][0]


def test_the_vitals_schedule_belongs_to_the_protocol(esk_monitoring, iv_session, staff):
    from scheduling.chart.selectors import session_chart

    esk = session_chart(session=esk_monitoring, now=FIRST_DEVICE + 60 * MIN)
    assert {c.timepoint for c in esk.vitals_schedule} == {
        T.PRE_DOSE, T.POST_DOSE_40, T.PRE_DISCHARGE
    }  # fmt: skip
    assert esk.protocol.pulse_oximetry_throughout
    chart_check_in(iv_session, nurse=staff["nurse"], now=IV_CHECK_IN)
    chart_dose(iv_session, nurse=staff["nurse"], now=IV_START)  # 40 minutes
    iv = session_chart(session=iv_session, now=IV_START)
    assert [c.timepoint for c in iv.vitals_schedule].count(T.DURING) == 3  # every 10 minutes
    protocol = iv.protocol
    protocol.vitals_every_minutes_during = 15
    protocol.save()
    iv = session_chart(session=iv_session, now=IV_START)
    assert [c.timepoint for c in iv.vitals_schedule].count(T.DURING) == 2
