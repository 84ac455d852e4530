"""The chart page shows each refusal of a safety gate next to the form refused: every
reason, each with what unblocks it; where only a clinician may unblock it, a clinician
gets a link to the place on the chart where it is done and a nurse reads "A clinician
must ..." (issue 18, item 7)."""

import datetime as dt
import html
import re

import pytest
import time_machine
from django.urls import reverse

from scheduling.booking.models import Session
from scheduling.booking.services import session_transition
from scheduling.chart.models import DoseAdministration, VitalSigns
from scheduling.chart.services import side_effect_record, vitals_record

from ..conftest import NORMAL_VITALS, at, chart_check_in, chart_dose

pytestmark = pytest.mark.django_db
NOW = at(2027, 1, 4, 9)  # Monday 4 January 2027, 09:00 London
MINUTE = dt.timedelta(minutes=1)
IV_DOSE = {"mg_per_kg": "0.50", "infusion_minutes": "40"}


def refusal(response, box: str) -> tuple[str, str]:
    """The refusal box `box` (its text, and its HTML) of a 400 page."""
    assert response.status_code == 400
    found = re.search(rf'<div[^>]*id="{box}">(.*?)</div>', response.content.decode(), re.S)
    assert found, f"no #{box} on the page"
    return html.unescape(re.sub(r"<[^>]+>", " ", found[1])), found[1]


def squeeze(text: str) -> str:
    return " ".join(text.split())


def post(client, user, name, session, data):
    client.force_login(user)
    return client.post(reverse(name, args=[session.id]), data)


# --- the dose ----------------------------------------------------------------------------


@pytest.fixture
def caution(iv_session, staff):
    """Checked in, with a pre-dose reading past the clinic's caution (165/100) and its
    alert open."""
    with time_machine.travel(NOW, tick=False):
        chart_check_in(iv_session, nurse=staff["nurse"], now=NOW)
        vitals_record(
            session=iv_session, by=staff["nurse"], timepoint="pre_dose", now=NOW,
            **{**NORMAL_VITALS, "systolic": 165, "diastolic": 100},
        )  # fmt: skip
        yield iv_session


def test_a_nurse_refused_a_dose_over_an_open_caution_reads_that_a_clinician_must_act(
    client, staff, caution
):
    text, markup = refusal(
        post(client, staff["nurse"], "pages:chart_dose", caution, IV_DOSE), "dose-refused"
    )
    text = squeeze(text)
    assert text.startswith("Dose refused:")
    assert "Pre-dose blood pressure caution" in text and "systolic 165 mmHg is above 140" in text
    assert (
        "A clinician must acknowledge the alert with a note, or sign off the dose with a reason."
        in text
    )
    assert "href" not in markup  # nothing for a nurse to click: it is a clinician's
    assert "A clinician acknowledges the alert" not in text  # said once, the page's way
    assert not DoseAdministration.objects.exists()


def test_a_clinician_refused_a_dose_over_an_open_caution_gets_links_to_acknowledge_or_sign(
    client, staff, caution
):
    response = post(client, staff["clinician"], "pages:chart_dose", caution, IV_DOSE)
    text, markup = refusal(response, "dose-refused")
    text = squeeze(text)
    assert "Pre-dose blood pressure caution" in text
    assert "Write why this dose is right for the patient in the sign-off reason, or first " in text
    assert 'href="#id_sign_off_reason"' in markup
    page = response.content.decode()
    assert 'id="alerts"' in page and "Acknowledge</button>" in page  # where the link leads
    assert 'id="id_sign_off_reason"' in page


def test_a_nurse_refused_a_dose_outside_the_range_reads_that_a_clinician_must_sign_it_off(
    client, staff, iv_session
):
    with time_machine.travel(NOW, tick=False):
        chart_check_in(iv_session, nurse=staff["nurse"], now=NOW)
        data = {**IV_DOSE, "mg_per_kg": "1.50"}
        response = post(client, staff["nurse"], "pages:chart_dose", iv_session, data)
    text, markup = refusal(response, "dose-refused")
    text = squeeze(text)
    assert "1.0" in text  # the protocol's range, named
    assert "A clinician must sign off the dose with a reason: a clinician records it." in text
    assert "href" not in markup


def test_a_dose_refused_for_an_unfinished_checklist_says_how_to_finish_it(
    client, staff, iv_session
):
    with time_machine.travel(NOW, tick=False):
        chart_check_in(iv_session, nurse=staff["nurse"], now=NOW, fasting_confirmed=False)
        nurse = post(client, staff["nurse"], "pages:chart_dose", iv_session, IV_DOSE)
        clinician = post(client, staff["clinician"], "pages:chart_dose", iv_session, IV_DOSE)
    text, markup = refusal(nurse, "dose-refused")
    assert "Fasting" in text and "not done." in text
    assert (
        "Complete it in the check-in checklist, or a clinician must waive it with a reason."
        in squeeze(text)
    )
    assert 'href="#checklist-title"' in markup  # the nurse completes it there
    text, markup = refusal(clinician, "dose-refused")
    assert "Complete it in the check-in checklist, or waive it there with a reason." in squeeze(
        text
    )
    assert 'href="#checklist-title"' in markup
    assert "Waive</button>" in clinician.content.decode()


# --- discharge ---------------------------------------------------------------------------


@pytest.fixture
def unrecovered(iv_session, staff):
    """Past the minimum observation, but sedated (MOAA/S 3), dissociated (CADSS 20), with
    a last reading past the alert threshold and its alert open."""
    nurse = staff["nurse"]
    with time_machine.travel(NOW, tick=False):
        chart_check_in(iv_session, nurse=nurse, now=NOW)
        dose = chart_dose(iv_session, nurse=nurse, now=NOW)
    session_transition(
        session=iv_session, to=Session.Status.MONITORING, by=nurse, now=dose.ended_at
    )
    later = dose.ended_at + 10 * MINUTE
    side_effect_record(
        session=iv_session, by=nurse, kind="sedation", severity="moderate", moaa_s=3, now=later
    )
    side_effect_record(
        session=iv_session, by=nurse, kind="dissociation", severity="mild", cadss=20, now=later
    )
    vitals_record(
        session=iv_session, by=nurse, timepoint=VitalSigns.Timepoint.POST_DOSE_40,
        now=later, **{**NORMAL_VITALS, "systolic": 185},
    )  # fmt: skip
    with time_machine.travel(dose.ended_at + 90 * MINUTE, tick=False):
        yield iv_session


def test_a_nurse_refused_at_discharge_reads_every_reason_and_what_unblocks_each(
    client, staff, unrecovered
):
    response = post(client, staff["nurse"], "pages:chart_discharge", unrecovered, {})
    text, markup = refusal(response, "discharge-refused")
    text = squeeze(text)
    for reason, unblock in [
        (
            "Sedation since",
            "Mark it resolved under Side effects, with the MOAA/S or CADSS found then.",
        ),
        ("Dissociation since", "Mark it resolved under Side effects"),
        ("The last MOAA/S is 3", "Record the MOAA/S found now under Side effects"),
        ("The last CADSS total is 20", "Record the CADSS found now under Side effects"),
        ("are past the clinic's thresholds and not signed off", "Record the reading under Vitals;"),
        (
            "not yet acknowledged by a clinician",
            "A clinician must acknowledge each alert with a note.",
        ),
    ]:
        assert reason in text and unblock in text, (reason, unblock)
    assert 'href="#se-title"' in markup and 'href="#vitals-title"' in markup
    assert 'href="#alerts"' not in markup  # the nurse cannot acknowledge
    assert Session.objects.get(pk=unrecovered.pk).status == Session.Status.MONITORING


def test_a_clinician_refused_at_discharge_gets_a_link_to_acknowledge_the_alert(
    client, staff, unrecovered
):
    response = post(client, staff["clinician"], "pages:chart_discharge", unrecovered, {})
    text, markup = refusal(response, "discharge-refused")
    assert "Acknowledge each alert with a note." in squeeze(text)
    assert 'href="#alerts"' in markup


@pytest.fixture
def esketamine_monitoring(esketamine_session, staff):
    """Esketamine past its 2 hours, normal at 40 minutes, without the pre-discharge blood
    pressure or a clinician's ready-to-leave time."""
    nurse, start = staff["nurse"], at(2027, 1, 5, 9)
    with time_machine.travel(start, tick=False):
        chart_check_in(esketamine_session, nurse=nurse, now=start)
        dose = chart_dose(esketamine_session, nurse=nurse, now=start)
    session_transition(
        session=esketamine_session, to=Session.Status.MONITORING, by=nurse, now=dose.ended_at
    )
    vitals_record(
        session=esketamine_session, by=nurse, timepoint=VitalSigns.Timepoint.POST_DOSE_40,
        now=start + 40 * MINUTE, **NORMAL_VITALS,
    )  # fmt: skip
    with time_machine.travel(start + 130 * MINUTE, tick=False):
        yield esketamine_session


def test_esketamine_discharge_refused_names_the_missing_reading_and_who_records_ready_to_leave(
    client, staff, esketamine_monitoring
):
    nurse = post(client, staff["nurse"], "pages:chart_discharge", esketamine_monitoring, {})
    text, markup = refusal(nurse, "discharge-refused")
    text = squeeze(text)
    assert "Record the pre-discharge blood pressure (the REMS form asks for it)." in text
    assert "Record the reading under Vitals;" in text and 'href="#vitals-title"' in markup
    assert "A clinician records the time the patient was ready to leave" in text
    assert "A clinician must record the time the patient was ready to leave." in text
    assert 'href="#ready-to-leave-form"' not in markup

    clinician = post(client, staff["clinician"], "pages:chart_discharge", esketamine_monitoring, {})
    text, markup = refusal(clinician, "discharge-refused")
    assert "Record it: Ready to leave now." in squeeze(text)
    assert 'href="#ready-to-leave-form"' in markup
    assert 'id="ready-to-leave-form"' in clinician.content.decode()  # where the link leads
