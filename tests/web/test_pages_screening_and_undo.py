"""Screening entry and sign-off, and undoing a cancellation, on the staff pages (issue 25,
item 1): each through the Django test client, with the role that may and one that may not,
the refusal shown on the form with its reason, and another clinic's records a 404."""

import datetime as dt

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from patients.models import Contraindication, Screening, ScreeningSignOff
from scheduling.booking.models import Session
from scheduling.booking.services import course_start, session_book, session_cancel

from ..conftest import at, make_patient, make_ready_patient, make_screening

NOW = at(2027, 1, 4, 9)  # Monday 4 January 2027, 09:00 London
S = Session.Status


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def login(client, user):
    client.force_login(user)
    return client


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def answers(present=()) -> dict:
    """A POST answering every active checklist item: the codes in `present` yes."""
    data = {}
    for item in Contraindication.objects.filter(is_active=True):
        data[f"item_{item.id}"] = "yes" if item.code in present else "no"
    return data


def item(code) -> Contraindication:
    return Contraindication.objects.get(code=code)


# --- screening entry -------------------------------------------------------------------------


def test_a_nurse_records_a_screening_from_the_patient_page(client, staff, clinic, frozen):
    patient = make_patient(clinic, "NEW-1")
    login(client, staff["nurse"])
    page = client.get(reverse("pages:patient", args=[patient.id])).content.decode()
    new = reverse("pages:screening_new", args=[patient.id])
    assert f'href="{new}"' in page and "Not screened yet." in page

    form = client.get(new).content.decode()
    assert item("glaucoma").name in form and 'name="csrfmiddlewaretoken"' in form
    data = {**answers(present={"glaucoma"}), f"note_{item('glaucoma').id}": "Treated, stable"}
    response = client.post(new, {**data, "notes": "Seen with her GP's letter"})

    screening = Screening.objects.get(patient=patient)
    assert response.status_code == 302
    assert response["Location"] == reverse("pages:screening", args=[screening.id])
    assert said(response) == ["Screening recorded: 1 finding; 1 for a clinician to sign off."]
    assert (screening.screened_by, screening.screened_at, screening.notes) == (
        staff["nurse"], NOW, "Seen with her GP's letter"
    )  # fmt: skip
    found = screening.answers.get(present=True)
    assert (found.contraindication.code, found.note) == ("glaucoma", "Treated, stable")
    assert screening.answers.count() == Contraindication.objects.filter(is_active=True).count()

    page = client.get(reverse("pages:patient", args=[patient.id])).content.decode()
    assert "Glaucoma or raised pressure in the eye: needs sign-off" in page
    assert ">Sign off</a>" not in page  # a nurse does not sign off


def test_an_item_left_unanswered_is_refused_on_the_form_and_nothing_is_recorded(
    client, staff, clinic, frozen
):
    patient = make_patient(clinic, "NEW-1")
    data = answers()
    del data[f"item_{item('glaucoma').id}"]
    login(client, staff["clinician"])
    response = client.post(reverse("pages:screening_new", args=[patient.id]), data)
    assert response.status_code == 400
    assert response.context["form"].errors[f"item_{item('glaucoma').id}"]
    assert not Screening.objects.exists()


def test_the_services_refusal_is_shown_on_the_screening_form(client, staff, clinic, frozen):
    """An item retired between opening the form and sending it: the service's reason."""
    patient = make_patient(clinic, "NEW-1")
    login(client, staff["nurse"])
    data = answers()
    Contraindication.objects.create(code="new-item", name="A new question", kind="relative")
    response = client.post(reverse("pages:screening_new", args=[patient.id]), data)
    assert response.status_code == 400
    assert "A new question" in response.content.decode()
    assert not Screening.objects.exists()


def test_front_desk_may_read_screenings_but_not_record_one(client, staff, patient, frozen):
    login(client, staff["front_desk"])
    new = reverse("pages:screening_new", args=[patient.id])
    page = client.get(reverse("pages:patient", args=[patient.id])).content.decode()
    assert new not in page and "latest" in page  # the fixture's screening is listed
    assert client.get(new).status_code == 403
    assert client.post(new, answers()).status_code == 403
    assert Screening.objects.filter(patient=patient).count() == 1
    screening = Screening.objects.get(patient=patient)
    assert client.get(reverse("pages:screening", args=[screening.id])).status_code == 200


# --- sign-off --------------------------------------------------------------------------------


def test_a_clinician_signs_off_a_relative_finding_on_the_page(client, staff, clinic, frozen):
    patient = make_patient(clinic, "NEW-1")
    screening = make_screening(patient, present={"glaucoma"}, by=staff["nurse"], now=NOW)
    answer = screening.answers.get(present=True)
    login(client, staff["clinician"])
    page = client.get(reverse("pages:patient", args=[patient.id])).content.decode()
    detail = reverse("pages:screening", args=[screening.id])
    assert f'href="{detail}#answer-{answer.id}">Sign off</a>' in page

    sign = reverse("pages:screening_sign_off", args=[screening.id, answer.id])
    assert f'action="{sign}"' in client.get(detail).content.decode()
    empty = client.post(sign, {"reason": "  "})
    assert empty.status_code == 400 and not ScreeningSignOff.objects.exists()
    done = client.post(sign, {"reason": "Ophthalmologist: pressure controlled"})

    assert done.status_code == 302 and done["Location"] == detail
    assert said(done) == ["Signed off: Glaucoma or raised pressure in the eye."]
    sign_off = ScreeningSignOff.objects.get(answer=answer)
    assert (sign_off.clinician, sign_off.reason) == (
        staff["clinician"], "Ophthalmologist: pressure controlled"
    )  # fmt: skip
    page = client.get(detail).content.decode()
    assert "Signed off by clinician" in page and f'action="{sign}"' not in page
    again = client.post(sign, {"reason": "Twice"})
    assert again.status_code == 400 and "already signed off" in again.content.decode()


def test_a_nurse_cannot_sign_off(client, staff, clinic, frozen):
    patient = make_patient(clinic, "NEW-1")
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)
    answer = screening.answers.get(present=True)
    login(client, staff["nurse"])
    page = client.get(reverse("pages:screening", args=[screening.id])).content.decode()
    assert "Needs a clinician's sign-off" in page and "Sign off</button>" not in page
    sign = reverse("pages:screening_sign_off", args=[screening.id, answer.id])
    assert client.post(sign, {"reason": "Looks fine"}).status_code == 403
    login(client, staff["front_desk"])
    assert client.post(sign, {"reason": "Looks fine"}).status_code == 403
    assert not ScreeningSignOff.objects.exists()


def test_an_absolute_finding_cannot_be_signed_off_and_the_page_says_why(
    client, staff, clinic, frozen
):
    patient = make_patient(clinic, "NEW-1")
    screening = make_screening(patient, present={"pregnancy-or-breastfeeding"}, now=NOW)
    answer = screening.answers.get(present=True)
    login(client, staff["clinician"])
    page = client.get(reverse("pages:screening", args=[screening.id])).content.decode()
    assert "Blocks treatment" in page and "Sign off</button>" not in page
    sign = reverse("pages:screening_sign_off", args=[screening.id, answer.id])
    response = client.post(sign, {"reason": "Anyway"})  # a hand-made POST
    assert response.status_code == 400
    assert "absolute contraindication" in response.content.decode()
    assert not ScreeningSignOff.objects.exists()


def test_the_sign_off_needs_the_csrf_token(staff, clinic, frozen):
    patient = make_patient(clinic, "NEW-1")
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)
    answer = screening.answers.get(present=True)
    client = login(Client(enforce_csrf_checks=True), staff["clinician"])
    sign = reverse("pages:screening_sign_off", args=[screening.id, answer.id])
    assert client.post(sign, {"reason": "No token"}).status_code == 403
    assert not ScreeningSignOff.objects.exists()


# --- undoing a cancellation ----------------------------------------------------------------


def test_a_clinician_undoes_a_cancellation_from_the_course_page(client, staff, iv_session, frozen):
    course = iv_session.course
    s2 = course.sessions.get(number=2)  # Monday 11 January, 10:00 London
    session_cancel(session=s2, by=staff["front_desk"], reason="Unwell")
    login(client, staff["clinician"])
    page = client.get(reverse("pages:course", args=[course.id])).content.decode()
    undo = reverse("pages:course_session_restore", args=[course.id, s2.id])
    assert f'action="{undo}"' in page and "Undo the cancellation" in page
    session_page = client.get(reverse("pages:session", args=[s2.id])).content.decode()
    assert f"{reverse('pages:course', args=[course.id])}#undo-{s2.id}" in session_page

    assert client.post(undo, {"reason": ""}).status_code == 400
    done = client.post(undo, {"reason": "Feels better; called back"})

    assert done.status_code == 302
    assert done["Location"] == reverse("pages:course", args=[course.id])
    assert said(done) == ["Session 2 on Mon 11 Jan 2027, 10:00 is booked again."]
    s2.refresh_from_db()
    assert s2.status == S.BOOKED
    last = s2.status_changes.last()
    assert (last.to_status, last.changed_by, last.note) == (
        S.BOOKED, staff["clinician"], "Feels better; called back"
    )  # fmt: skip
    page = client.get(reverse("pages:course", args=[course.id])).content.decode()
    assert f'action="{undo}"' not in page


def test_undoing_is_refused_with_its_reason_when_the_chair_is_taken(
    client, staff, clinic, iv_session, iv_standard, frozen
):
    course = iv_session.course
    s2 = course.sessions.get(number=2)
    session_cancel(session=s2, by=staff["front_desk"])
    other = course_start(
        patient=make_ready_patient(clinic, "MRN-2"), protocol=iv_standard,
        start_date=dt.date(2027, 1, 18), preferred_weekdays=[0], preferred_time=dt.time(14),
        by=None,
    )  # fmt: skip
    session_book(course=other, starts_at=s2.starts_at, chair=s2.chair, by=None)  # the gap

    login(client, staff["clinician"])
    undo = reverse("pages:course_session_restore", args=[course.id, s2.id])
    response = client.post(undo, {"reason": "Cancelled in error"})

    assert response.status_code == 400
    assert f"{s2.chair.name} is booked at that time" in response.content.decode()
    assert response.context["undoable"][0]["form"].non_field_errors()
    s2.refresh_from_db()
    assert s2.status == S.CANCELLED


def test_undoing_is_refused_when_the_screening_no_longer_clears_the_patient(
    client, staff, iv_session, frozen
):
    course = iv_session.course
    s2 = course.sessions.get(number=2)
    session_cancel(session=s2, by=staff["front_desk"], reason="Pregnant")
    make_screening(iv_session.patient, present={"pregnancy-or-breastfeeding"}, now=NOW)
    login(client, staff["clinician"])
    undo = reverse("pages:course_session_restore", args=[course.id, s2.id])
    response = client.post(undo, {"reason": "Cancelled in error"})
    assert response.status_code == 400
    assert "an absolute contraindication; this course is refused" in response.content.decode()
    s2.refresh_from_db()
    assert s2.status == S.CANCELLED


def test_a_nurse_or_the_front_desk_cannot_undo_a_cancellation(client, staff, iv_session, frozen):
    course = iv_session.course
    s2 = course.sessions.get(number=2)
    session_cancel(session=s2, by=staff["front_desk"])
    undo = reverse("pages:course_session_restore", args=[course.id, s2.id])
    for role in ("nurse", "front_desk"):
        login(client, staff[role])
        assert client.post(undo, {"reason": "Mistake"}).status_code == 403
        page = client.get(reverse("pages:session", args=[s2.id])).content.decode()
        assert "A clinician can undo the cancellation, with a reason." in page  # no link to follow
    s2.refresh_from_db()
    assert s2.status == S.CANCELLED


# --- another clinic's records ----------------------------------------------------------------


def test_another_clinics_patient_screening_and_course_are_a_404(
    client, staff, other_clinic, iv_standard
):
    elsewhere = make_ready_patient(other_clinic, "OTHER-1")
    course = course_start(
        patient=elsewhere, protocol=iv_standard, start_date=dt.date(2027, 1, 4),
        preferred_weekdays=[0, 3], preferred_time=dt.time(10), by=None, now=at(2027, 1, 1),
    )  # fmt: skip
    s = course.sessions.get(number=2)
    session_cancel(session=s, by=None, now=at(2027, 1, 1))
    screening = make_screening(elsewhere, present={"glaucoma"}, now=at(2027, 1, 2))
    answer = screening.answers.get(present=True)

    login(client, staff["nurse"])
    assert client.get(reverse("pages:screening_new", args=[elsewhere.id])).status_code == 404
    assert client.post(reverse("pages:screening_new", args=[elsewhere.id]), {}).status_code == 404
    login(client, staff["clinician"])
    assert client.get(reverse("pages:patient", args=[elsewhere.id])).status_code == 404
    assert client.get(reverse("pages:screening", args=[screening.id])).status_code == 404
    sign = reverse("pages:screening_sign_off", args=[screening.id, answer.id])
    assert client.post(sign, {"reason": "Fine"}).status_code == 404
    undo = reverse("pages:course_session_restore", args=[course.id, s.id])
    assert client.post(undo, {"reason": "Mistake"}).status_code == 404
    assert not ScreeningSignOff.objects.exists()
    s.refresh_from_db()
    assert s.status == S.CANCELLED


def test_an_answer_of_another_screening_is_a_404_on_this_ones_sign_off(
    client, staff, clinic, frozen
):
    patient = make_patient(clinic, "NEW-1")
    first = make_screening(patient, present={"glaucoma"}, now=at(2026, 12, 1))
    second = make_screening(patient, present={"glaucoma"}, now=NOW)
    answer = first.answers.get(present=True)
    login(client, staff["clinician"])
    sign = reverse("pages:screening_sign_off", args=[second.id, answer.id])
    assert client.post(sign, {"reason": "Fine"}).status_code == 404


def test_a_screening_sent_while_signed_out_is_offered_back_after_signing_in(
    client, staff, clinic, frozen
):
    from .test_expired_signin import next_of, post_signed_out, sign_in

    patient = make_patient(clinic, "NEW-1")
    new = reverse("pages:screening_new", args=[patient.id])
    glaucoma = f"item_{item('glaucoma').id}"
    sent = post_signed_out(client, new, {**answers(present={"glaucoma"}), "notes": "By phone"})
    assert next_of(sent["Location"]) == new and not Screening.objects.exists()

    back = sign_in(client, staff["nurse"], new)
    page = client.get(back["Location"])
    assert said(page) == [
        "The screening was not saved because you were signed out; check the values and save again."
    ]
    form = page.context["form"]
    assert (form[glaucoma].value(), form["notes"].value()) == ("yes", "By phone")
