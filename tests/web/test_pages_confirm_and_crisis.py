"""Issue 25, items 2 and 3, through Django's test client: a PHQ-9 with thoughts of
self-harm answered at once with the clinic's phone and crisis line; two PHQ-9s the same
day both kept (the first of a course is the baseline); cancelling asks first, naming how
many sessions; every action says what it did."""

from pathlib import Path

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.contrib.staticfiles import finders
from django.urls import reverse

from scheduling.chart.selectors import course_outcomes
from scheduling.chart.services import questionnaire_submit
from scheduling.models import Alert, Course, Session

from ..conftest import NORMAL_VITALS, at, chart_check_in, force_login_verified

NOW = at(2027, 1, 4, 9)  # Monday 4 January 2027, 09:00 London; session 1 is at 10:00


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def portal_user(patient, django_user_model, client):
    patient.user = django_user_model.objects.create_user("pat", password="x")
    patient.save()
    client.force_login(patient.user)
    return patient


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


PHQ9_ITEM9 = {**{f"item{i}": "1" for i in range(8)}, "item8": "2"}


# --- item 2: PHQ-9 item 9 -------------------------------------------------------------------


def test_item_9_above_zero_shows_the_clinics_phone_and_crisis_line_at_once(
    client, clinic, portal_user
):
    clinic.phone = "+442071234567"
    clinic.crisis_line = "Samaritans: call 116 123, free, day or night"
    clinic.save()

    response = client.post(reverse("pages:phq9"), PHQ9_ITEM9, follow=True)

    page = response.content.decode()
    assert response.redirect_chain[-1][0].startswith("/portal/phq9/")
    assert "Please talk to someone today" in page
    assert '<a href="tel:+442071234567"><strong>+44 20 7123 4567</strong></a>' in page
    assert "Samaritans: call 116 123, free, day or night" in page
    assert "your answers are with your care team for your next visit" not in page
    alert = Alert.objects.get(kind=Alert.Kind.PHQ9_ITEM9)
    assert alert.message == (
        "PHQ-9 item 9 (thoughts of self-harm) scored 2 of 3: a clinician must assess the "
        "patient. The portal showed the patient, at once, the clinic's phone "
        "(+44 20 7123 4567) and the crisis line (Samaritans: call 116 123, free, day or night)."
    )


def test_without_a_crisis_line_the_page_and_the_alert_give_the_clinics_phone_only(
    client, clinic, portal_user
):
    clinic.phone = "+442071234567"
    clinic.save()
    page = client.post(reverse("pages:phq9"), PHQ9_ITEM9, follow=True).content.decode()
    assert "+44 20 7123 4567" in page and "crisis line" not in page
    assert Alert.objects.get().message.endswith(
        "The portal showed the patient, at once, the clinic's phone (+44 20 7123 4567)."
    )


def test_item_9_at_zero_is_thanked_for_the_next_visit_with_no_crisis_page(client, portal_user):
    answers = {**{f"item{i}": "1" for i in range(8)}, "item8": "0"}
    response = client.post(reverse("pages:phq9"), answers)
    assert response["Location"] == reverse("pages:portal")
    assert said(response) == [
        "Thank you: your answers are with your care team for your next visit."
    ]
    assert not Alert.objects.exists()


def test_a_phq9_entered_by_staff_does_not_claim_the_patient_was_shown_anything(patient):
    questionnaire_submit(patient=patient, kind="phq9", items=[0] * 8 + [1], by=None)
    assert "portal" not in Alert.objects.get().message


def test_another_patients_phq9_result_is_a_404(client, clinic, portal_user):
    from ..conftest import make_ready_patient

    other = make_ready_patient(clinic, "MRN-2")
    theirs = questionnaire_submit(patient=other, kind="phq9", items=[0] * 8 + [3], by=None)
    assert client.get(reverse("pages:phq9_result", args=[theirs.pk])).status_code == 404


def test_two_phq9s_the_same_day_are_both_shown_and_the_first_is_the_baseline(
    client, staff, iv_session
):
    patient, course = iv_session.patient, iv_session.course
    for items, when in (([3] * 6 + [2] + [0] * 2, at(2027, 1, 4, 8)), ([1] * 9, at(2027, 1, 4, 9))):
        questionnaire_submit(
            patient=patient, kind="phq9", items=items, by=None, completed_at=when, now=when
        )
    questionnaire_submit(
        patient=patient, kind="phq9", items=[1] * 4 + [0] * 5, by=None,
        completed_at=at(2027, 1, 25, 9), now=at(2027, 1, 25, 9),
    )  # fmt: skip

    phq9 = course_outcomes(course=course)["phq9"]
    assert (phq9.baseline.total, phq9.latest.total, phq9.response) == (20, 4, True)

    client.force_login(staff["clinician"])
    page = client.get(reverse("pages:course", args=[course.id]))
    rows = [(r.completed_at, r.total) for r in page.context["o"].phq9]
    assert rows == [(at(2027, 1, 4, 8), 20), (at(2027, 1, 4, 9), 9), (at(2027, 1, 25, 9), 4)]
    series = page.context["series"]
    assert series["points"] == [
        {"x": "04 Jan 08:00", "y": 20}, {"x": "04 Jan 09:00", "y": 9}, {"x": "25 Jan", "y": 4}
    ]  # fmt: skip
    assert series["baseline"] == 20
    html = page.content.decode()
    assert '4 Jan 2027 08:00 <span class="badge">baseline</span>' in html
    assert "4 Jan 2027 09:00</td>" in html


def test_with_no_score_in_the_course_the_last_one_before_it_is_the_baseline(iv_session):
    for total_items, day in (([3] * 5 + [0] * 4, 20), ([2] * 9, 30)):
        when = at(2026, 12, day)
        questionnaire_submit(
            patient=iv_session.patient, kind="phq9", items=total_items, by=None,
            completed_at=when, now=when,
        )  # fmt: skip
    assert course_outcomes(course=iv_session.course)["phq9"].baseline.total == 18


# --- item 3: ask before cancelling, say what was done ------------------------------------------


def booked(course) -> int:
    return Session.objects.filter(course=course, status=Session.Status.BOOKED).count()


def test_cancelling_a_whole_course_at_the_desk_asks_first_naming_how_many(
    client, staff, iv_session, frozen
):
    course = iv_session.course
    n = booked(course)
    assert n > 5
    client.force_login(staff["front_desk"])
    url = reverse("pages:session_cancel", args=[iv_session.id])

    asked = client.post(url, {"scope": "all", "reason": "Moving away"})

    assert asked.status_code == 200
    page = asked.content.decode()
    assert f"<h1>Cancel {n} sessions?</h1>" in page
    assert f"Yes, cancel {n} sessions" in page
    assert f'name="confirmed" value="{n}"' in page
    assert booked(course) == n  # nothing cancelled yet

    done = client.post(url, {"scope": "all", "reason": "Moving away", "confirmed": str(n)})

    assert done["Location"] == reverse("pages:session", args=[iv_session.id])
    assert booked(course) == 0
    course.refresh_from_db()
    assert course.status == Course.Status.STOPPED
    (message,) = said(done)
    assert message.startswith(f"Cancelled {n} sessions: session 1 on Mon 04 Jan 2027, 10:00;")
    assert message.endswith(" The course is stopped.")


def test_this_and_following_names_the_count_from_that_session_on(client, staff, iv_session, frozen):
    third = iv_session.course.sessions.get(number=3)
    n = booked(iv_session.course) - 2
    client.force_login(staff["front_desk"])
    asked = client.post(reverse("pages:session_cancel", args=[third.id]), {"scope": "following"})
    assert f"<h1>Cancel {n} sessions?</h1>" in asked.content.decode()
    assert "this and the following sessions" in asked.content.decode()


def test_a_confirmation_for_another_count_is_asked_again_and_cancels_nothing(
    client, staff, iv_session, frozen
):
    n = booked(iv_session.course)
    client.force_login(staff["front_desk"])
    url = reverse("pages:session_cancel", args=[iv_session.id])
    again = client.post(url, {"scope": "all", "confirmed": str(n - 1)})
    assert again.status_code == 200
    assert f"<h1>Cancel {n} sessions?</h1>" in again.content.decode()
    assert booked(iv_session.course) == n


def test_one_session_at_the_desk_is_confirmed_then_said(client, staff, iv_session, frozen):
    client.force_login(staff["front_desk"])
    url = reverse("pages:session_cancel", args=[iv_session.id])
    assert "<h1>Cancel 1 session?</h1>" in client.post(url, {"scope": "one"}).content.decode()
    done = client.post(url, {"scope": "one", "confirmed": "1"}, follow=True)
    iv_session.refresh_from_db()
    assert iv_session.status == Session.Status.CANCELLED
    assert "Cancelled 1 session: session 1 on Mon 04 Jan 2027, 10:00." in done.content.decode()


def test_the_portal_asks_before_cancelling_and_says_what_it_did(
    frozen, client, iv_session, portal_user
):
    url = reverse("pages:portal_respond", args=[iv_session.id])
    planned = int(iv_session.starts_at.timestamp())

    asked = client.post(url, {"answer": "cancel", "planned": planned})

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "<h1>Cancel 1 session?</h1>" in page
    assert "Monday 4 January 2027 at 10:00 (GMT)" in page
    iv_session.refresh_from_db()
    assert iv_session.patient_response != Session.Response.CANCELLED

    done = client.post(url, {"answer": "cancel", "planned": planned, "confirmed": "1"})

    assert done["Location"] == reverse("pages:portal")
    iv_session.refresh_from_db()
    assert iv_session.patient_response == Session.Response.CANCELLED
    assert said(done) == [
        "Thank you: your appointment on Monday 4 January 2027 at 10:00 (GMT) is cancelled."
    ]


def test_confirming_from_the_portal_needs_no_extra_step(frozen, client, iv_session, portal_user):
    done = client.post(
        reverse("pages:portal_respond", args=[iv_session.id]),
        {"answer": "confirm", "planned": int(iv_session.starts_at.timestamp())},
    )
    assert done.status_code == 302
    assert said(done)[0].endswith("is confirmed.")


def test_moving_a_session_says_where_it_went(client, staff, iv_session, frozen):
    client.force_login(staff["front_desk"])
    done = client.post(
        reverse("pages:session_move", args=[iv_session.id]),
        {"date": "2027-01-04", "time": "14:00", "scope": "one"},
    )
    assert done.status_code == 302
    assert said(done) == ["Moved 1 session: now session 1 on Mon 04 Jan 2027, 14:00."]


def test_a_chart_action_sent_by_htmx_carries_its_message_in_the_redrawn_chart(
    client, staff, iv_session, frozen
):
    chart_check_in(iv_session, nurse=staff["nurse"], now=NOW)
    client.force_login(staff["nurse"])
    response = client.post(
        reverse("pages:chart_vitals", args=[iv_session.id]),
        {**NORMAL_VITALS, "timepoint": "pre_dose"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert '<p class="msg msg-success">Vital signs recorded.</p>' in response.content.decode()


def test_acknowledging_on_the_course_page_says_so(client, staff, iv_session, frozen):
    alert_response = questionnaire_submit(
        patient=iv_session.patient, kind="phq9", items=[0] * 8 + [1], by=None
    )
    alert = Alert.objects.get(questionnaire=alert_response)
    client.force_login(staff["clinician"])
    done = client.post(
        reverse("pages:acknowledge", args=[iv_session.course_id, alert.id]),
        {"note": "Called the patient; safe, plan agreed."},
    )
    assert said(done) == ["Acknowledged: PHQ-9 item 9 (thoughts of self-harm)."]


def test_the_pages_load_the_busy_button_script(client, portal_user):
    page = client.get(reverse("pages:portal")).content.decode()
    assert 'src="/static/clinic/busy.js"' in page
    script = Path(finders.find("clinic/busy.js")).read_text()
    assert "htmx:beforeRequest" in script and "evt.preventDefault()" in script


def test_the_crisis_line_is_set_in_the_clinics_admin(client, clinic, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="x-9")
    force_login_verified(client, root)  # a superuser always passes the second factor
    url = reverse("admin:clinic_clinic_change", args=[clinic.id])
    assert 'name="crisis_line"' in client.get(url).content.decode()
