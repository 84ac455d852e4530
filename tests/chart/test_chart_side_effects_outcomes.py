"""Side effects (serious ones alert) and outcomes: PHQ-9 / GAD-7 items, totals, bands,
the item 9 alert, and response and remission over a course."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from patients.models import QuestionnaireResponse
from scheduling.chart.models import Alert, SideEffect
from scheduling.chart.selectors import course_outcomes, session_chart
from scheduling.chart.services import questionnaire_submit, side_effect_record, side_effect_resolve

from ..conftest import at, chart_check_in, chart_dose

MIN = dt.timedelta(minutes=1)
CHECK_IN, DOSE = at(2027, 1, 4, 9, 30), at(2027, 1, 4, 9, 35)
LATER = DOSE + 20 * MIN


@pytest.fixture
def dosing(iv_session, staff):
    chart_check_in(iv_session, nurse=staff["nurse"], now=CHECK_IN)
    chart_dose(iv_session, nurse=staff["nurse"], now=DOSE)
    return iv_session


def effect(session, nurse, **extra):
    fields = dict(kind="dissociation", severity="moderate", onset_at=DOSE + 10 * MIN)
    fields.update(extra)
    return side_effect_record(session=session, by=nurse, now=LATER, **fields)


# --- side effects ------------------------------------------------------------------------


def test_a_serious_side_effect_raises_an_alert(dosing, staff):
    e = effect(
        dosing, staff["nurse"], kind="respiratory_depression", severity="severe", serious=True
    )
    alert = Alert.objects.get(side_effect=e)
    assert (alert.kind, alert.session_id) == (Alert.Kind.SERIOUS_SIDE_EFFECT, dosing.id)
    assert "Respiratory depression (severe)" in alert.message


def test_a_side_effect_that_is_not_serious_raises_no_alert(dosing, staff):
    effect(dosing, staff["nurse"], cadss=18, moaa_s=4, notes="Floating feeling")
    assert not Alert.objects.exists()


def test_side_effect_records_scales_and_times(dosing, staff):
    e = effect(dosing, staff["nurse"], cadss=18, moaa_s=4, resolved_at=LATER)
    assert (e.cadss, e.moaa_s, e.onset_at, e.resolved_at) == (18, 4, DOSE + 10 * MIN, LATER)


def test_a_side_effect_cannot_resolve_before_its_onset(dosing, staff):
    with pytest.raises(ValidationError) as exc:
        effect(dosing, staff["nurse"], resolved_at=DOSE + 5 * MIN)
    assert "resolved_at" in exc.value.message_dict
    assert not SideEffect.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("cadss", 93), ("moaa_s", 6)])
def test_scale_scores_outside_their_scale_are_refused(dosing, staff, field, value):
    with pytest.raises(ValidationError) as exc:
        effect(dosing, staff["nurse"], **{field: value})
    assert field in exc.value.message_dict
    assert not SideEffect.objects.exists()


def test_an_unknown_kind_or_severity_is_refused(dosing, staff):
    with pytest.raises(ValidationError) as exc:
        effect(dosing, staff["nurse"], kind="hiccups", severity="extreme")
    assert set(exc.value.message_dict) == {"kind", "severity"}


def test_resolving_a_side_effect_amends_it_and_keeps_the_original(dosing, staff):
    original = effect(dosing, staff["nurse"])
    resolved = side_effect_resolve(
        side_effect=original, by=staff["nurse"], resolved_at=LATER, now=LATER
    )
    original.refresh_from_db()
    assert original.resolved_at is None
    assert (resolved.amends, resolved.resolved_at) == (original, LATER)
    chart = session_chart(session=dosing, now=LATER)
    assert chart.current_side_effects == [resolved]
    assert len(chart.side_effects) == 2


def test_amending_a_serious_side_effect_raises_no_second_alert(dosing, staff):
    original = effect(dosing, staff["nurse"], serious=True)
    side_effect_resolve(side_effect=original, by=staff["nurse"], now=LATER)
    assert Alert.objects.count() == 1


# --- questionnaires ----------------------------------------------------------------------


def submit(patient, items, kind="phq9", when=None, session=None):
    return questionnaire_submit(
        patient=patient, kind=kind, items=items, by=None, session=session,
        completed_at=when, now=when or at(2027, 1, 4, 9),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([0] * 8, "items"),  # eight items
        ([0] * 10, "items"),
        ([0] * 8 + [4], "items[8]"),
        ([0, -1] + [0] * 7, "items[1]"),
        ([0, 0, "2"] + [0] * 6, "items[2]"),
        ([True] + [0] * 8, "items[0]"),
    ],
)
def test_phq9_items_are_validated_and_the_bad_one_named(patient, items, field):
    with pytest.raises(ValidationError) as exc:
        submit(patient, items)
    assert field in exc.value.message_dict
    assert not QuestionnaireResponse.objects.exists()


def test_a_gad7_has_seven_items(patient):
    with pytest.raises(ValidationError) as exc:
        submit(patient, [1] * 9, kind="gad7")
    assert "exactly 7 items" in exc.value.message_dict["items"][0]
    assert submit(patient, [1] * 7, kind="gad7").total == 7


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_total_and_band_follow_kroenke(patient, total, band):
    items = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    items = (items + [0] * 9)[:9]
    response = submit(patient, items)
    assert (response.total, response.band) == (total, band)


@pytest.mark.parametrize(
    ("total", "band"),
    [(4, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe"), (21, "severe")],
)
def test_gad7_bands(patient, total, band):
    items = ([3] * (total // 3) + ([total % 3] if total % 3 else []) + [0] * 7)[:7]
    assert submit(patient, items, kind="gad7").band == band


def test_phq9_item_9_above_zero_raises_an_alert(iv_session):
    response = submit(iv_session.patient, [0] * 8 + [1], session=iv_session)
    alert = Alert.objects.get(questionnaire=response)
    assert (alert.kind, alert.session_id, alert.patient_id) == (
        Alert.Kind.PHQ9_ITEM9, iv_session.id, iv_session.patient_id
    )  # fmt: skip
    assert "item 9" in alert.message


def test_phq9_item_9_at_zero_raises_no_alert(patient):
    submit(patient, [3] * 8 + [0])
    assert not Alert.objects.exists()


# --- outcomes over a course --------------------------------------------------------------


def test_response_and_remission_are_computed_over_a_course(iv_session):
    patient, course = iv_session.patient, iv_session.course
    submit(patient, [3] * 5 + [0] * 4, when=at(2026, 12, 1))  # old screening score: not baseline
    submit(patient, [3] * 6 + [2] + [0] * 2, when=at(2027, 1, 4, 9, 30))  # 20, at session 1
    submit(patient, [2] * 7 + [0] * 2, when=at(2027, 1, 14, 9))  # 14
    submit(patient, [1] * 4 + [0] * 5, when=at(2027, 2, 1, 9))  # 4

    phq9 = course_outcomes(course=course)["phq9"]

    assert (phq9.baseline.total, phq9.latest.total, phq9.change) == (20, 4, -16)
    assert str(phq9.percent_change) == "-80.0"
    assert phq9.response is True
    assert phq9.remission is True


@pytest.mark.parametrize(("latest", "response"), [(10, True), (11, False)])
def test_response_is_a_drop_of_at_least_half(iv_session, latest, response):
    patient = iv_session.patient
    submit(patient, [3] * 6 + [2] + [0] * 2, when=at(2027, 1, 4, 9, 30))  # 20
    items = ([3] * (latest // 3) + ([latest % 3] if latest % 3 else []) + [0] * 9)[:9]
    submit(patient, items, when=at(2027, 1, 25, 9))
    phq9 = course_outcomes(course=iv_session.course)["phq9"]
    assert phq9.response is response
    assert phq9.remission is False


def test_gad7_response_is_computed_and_remission_left_undefined(iv_session):
    patient = iv_session.patient
    submit(patient, [2] * 7, kind="gad7", when=at(2027, 1, 4, 9, 30))  # 14
    submit(patient, [1] * 6 + [0], kind="gad7", when=at(2027, 1, 25, 9))  # 6
    gad7 = course_outcomes(course=iv_session.course)["gad7"]
    assert (gad7.change, gad7.response, gad7.remission) == (-8, True, None)


def test_outcomes_without_a_follow_up_score_are_unknown(iv_session):
    submit(iv_session.patient, [2] * 9, when=at(2027, 1, 4, 9, 30))
    phq9 = course_outcomes(course=iv_session.course)["phq9"]
    assert phq9.baseline.total == 18
    assert (phq9.latest, phq9.response, phq9.remission) == (None, None, None)
