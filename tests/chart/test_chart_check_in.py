"""Check-in: the pre-session checklist, waivers, and the gate before dosing."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from scheduling.booking.models import Session
from scheduling.booking.services import session_transition
from scheduling.chart.models import CheckIn, ChecklistItem, DoseAdministration, VitalSigns
from scheduling.chart.selectors import session_chart
from scheduling.chart.services import (
    checklist_waive,
    dose_record,
    questionnaire_submit,
    session_check_in,
)

from ..conftest import NORMAL_VITALS, at, chart_check_in, chart_dose

S = Session.Status
CHECK_IN = at(2027, 1, 4, 9, 30)
DOSE = at(2027, 1, 4, 9, 40)


def bare_check_in(session, nurse, **extra):
    """Check in with nothing on the checklist done."""
    fields = dict(fasting_confirmed=False, escort_confirmed=False)
    fields.update(extra)
    return session_check_in(session=session, by=nurse, now=CHECK_IN, **fields)


def test_check_in_records_the_checklist_and_checks_the_patient_in(iv_session, staff):
    check_in = chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN)

    iv_session.refresh_from_db()
    assert iv_session.status == S.CHECKED_IN
    assert (check_in.fasting_confirmed, check_in.escort_name, str(check_in.weight_kg)) == (
        True, "A. Friend", "80.0"
    )  # fmt: skip
    pre = VitalSigns.objects.get(session=iv_session)
    assert pre.timepoint == VitalSigns.Timepoint.PRE_DOSE
    chart = session_chart(session=iv_session, now=CHECK_IN)
    assert chart.checklist_missing == []
    assert "No food for 360 min and no liquids for 120 min" in chart.checklist[0].detail


def test_dosing_is_refused_until_the_checklist_is_complete(iv_session, staff):
    bare_check_in(iv_session, staff["nurse"], weight_kg="80")

    with pytest.raises(ValidationError) as exc:
        chart_dose(iv_session, nurse=staff["nurse"], now=DOSE)

    missing = " ".join(exc.value.message_dict["checklist"])
    assert "Fasting per the protocol's rule: not done" in missing
    assert "Escort or ride home confirmed: not done" in missing
    assert "Pre-dose vitals: not done" in missing
    assert "Weight" not in missing
    assert not DoseAdministration.objects.exists()
    iv_session.refresh_from_db()
    assert iv_session.status == S.CHECKED_IN


def test_completing_the_checklist_later_lets_dosing_start(iv_session, staff):
    from scheduling.chart.services import vitals_record

    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN, pre_dose_vitals=None)
    with pytest.raises(ValidationError):
        chart_dose(iv_session, nurse=staff["nurse"], now=DOSE)

    vitals_record(
        session=iv_session, by=staff["nurse"], timepoint="pre_dose", now=DOSE, **NORMAL_VITALS
    )
    dose = chart_dose(iv_session, nurse=staff["nurse"], now=DOSE)

    assert dose.session_id == iv_session.id


def test_a_clinician_waiver_with_a_reason_lets_dosing_start(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN, fasting_confirmed=False)

    waiver = checklist_waive(
        session=iv_session,
        item=ChecklistItem.FASTING,
        by=staff["clinician"],
        reason="Small glass of water 90 minutes ago; acceptable.",
        now=CHECK_IN,
    )
    dose = chart_dose(iv_session, nurse=staff["nurse"], now=DOSE)

    assert waiver.waived_by == staff["clinician"]
    assert dose.session_id == iv_session.id
    iv_session.refresh_from_db()
    assert iv_session.status == S.IN_PROGRESS


def test_only_a_clinician_can_waive_a_checklist_item(iv_session, staff):
    bare_check_in(iv_session, staff["nurse"])
    with pytest.raises(PermissionDenied):
        checklist_waive(
            session=iv_session, item="fasting", by=staff["nurse"], reason="Fine", now=CHECK_IN
        )


def test_a_waiver_needs_a_reason(iv_session, staff):
    bare_check_in(iv_session, staff["nurse"])
    with pytest.raises(ValidationError) as exc:
        checklist_waive(
            session=iv_session, item="fasting", by=staff["clinician"], reason=" ", now=CHECK_IN
        )
    assert "reason" in exc.value.message_dict


def test_a_done_item_cannot_be_waived(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN)
    with pytest.raises(ValidationError) as exc:
        checklist_waive(
            session=iv_session, item="weight", by=staff["clinician"], reason="x", now=CHECK_IN
        )
    assert "nothing to waive" in exc.value.message_dict["item"][0]


def test_a_phq9_is_on_the_checklist_only_where_the_clinic_asks_for_one(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN)
    assert "phq9" not in [line.item for line in session_chart(session=iv_session).checklist]

    iv_session.clinic.phq9_required_at_check_in = True
    iv_session.clinic.save()
    chart = session_chart(session=iv_session, now=CHECK_IN)
    assert [line.item for line in chart.checklist_missing] == ["phq9"]
    with pytest.raises(ValidationError):
        chart_dose(iv_session, nurse=staff["nurse"], now=DOSE)

    questionnaire_submit(
        patient=iv_session.patient, kind="phq9", items=[1] * 8 + [0], by=staff["nurse"],
        session=iv_session, now=CHECK_IN,
    )  # fmt: skip
    assert session_chart(session=iv_session, now=CHECK_IN).checklist_missing == []


def test_a_phq9_from_an_earlier_week_does_not_count_for_today(iv_session, staff):
    iv_session.clinic.phq9_required_at_check_in = True
    iv_session.clinic.save()
    questionnaire_submit(
        patient=iv_session.patient, kind="phq9", items=[1] * 9, by=None,
        now=at(2026, 12, 28, 9),
    )  # fmt: skip
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN)
    chart = session_chart(session=iv_session, now=CHECK_IN)
    assert [line.item for line in chart.checklist_missing] == ["phq9"]


def test_a_phq9_taken_at_check_in_is_recorded_with_it(iv_session, staff):
    iv_session.clinic.phq9_required_at_check_in = True
    iv_session.clinic.save()
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN, phq9_items=[2] * 8 + [0])
    response = iv_session.patient.questionnaires.get()
    assert (response.total, response.band) == (16, "moderately_severe")
    assert session_chart(session=iv_session, now=CHECK_IN).checklist_missing == []


def test_a_session_already_marked_arrived_keeps_its_status_at_check_in(iv_session, staff):
    session_transition(session=iv_session, to=S.CHECKED_IN, by=staff["front_desk"], now=CHECK_IN)
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN)
    statuses = list(iv_session.status_changes.values_list("to_status", flat=True))
    assert statuses == [S.BOOKED, S.CHECKED_IN]


def test_check_in_with_an_impossible_pre_dose_vital_writes_nothing(iv_session, staff):
    with pytest.raises(ValidationError) as exc:
        chart_check_in(
            iv_session, nurse=staff["nurse"], now=CHECK_IN,
            pre_dose_vitals=dict(NORMAL_VITALS, spo2=101),
        )  # fmt: skip
    assert "spo2" in exc.value.message_dict
    assert not CheckIn.objects.exists()
    iv_session.refresh_from_db()
    assert iv_session.status == S.BOOKED


def test_check_in_on_another_day_writes_nothing(iv_session, staff):
    with pytest.raises(ValidationError) as exc:
        chart_check_in(iv_session, nurse=staff["nurse"], now=at(2027, 1, 3, 9))
    assert "only on the day" in exc.value.message_dict["status"][0]
    assert not CheckIn.objects.exists()


def test_an_escort_confirmed_without_a_name_is_refused(iv_session, staff):
    with pytest.raises(ValidationError) as exc:
        bare_check_in(iv_session, staff["nurse"], escort_confirmed=True)
    assert "escort_name" in exc.value.message_dict


def test_the_escort_defaults_to_the_one_on_the_patients_record(iv_session, staff):
    patient = iv_session.patient
    patient.escort_name = "Jo Partner"
    patient.save()
    check_in = bare_check_in(iv_session, staff["nurse"], escort_confirmed=True)
    assert check_in.escort_name == "Jo Partner"


def test_the_front_desk_cannot_record_a_check_in(iv_session, staff):
    with pytest.raises(PermissionDenied):
        bare_check_in(iv_session, staff["front_desk"])
    assert not CheckIn.objects.exists()


def test_the_in_progress_status_needs_a_recorded_dose(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN)
    with pytest.raises(ValidationError) as exc:
        session_transition(session=iv_session, to=S.IN_PROGRESS, by=staff["nurse"], now=DOSE)
    assert "Record the dose first" in exc.value.message_dict["status"][0]


def test_a_dose_cannot_start_before_check_in(iv_session, staff):
    with pytest.raises(ValidationError) as exc:
        dose_record(session=iv_session, by=staff["nurse"], now=DOSE)
    assert "after check-in" in exc.value.message_dict["status"][0]
