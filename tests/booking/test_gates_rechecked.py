"""The gates re-checked when it matters: age, screening validity and REMS enrolment at
booking, again at check-in, and when maintenance is written out to the horizon."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from scheduling.booking.models import Course, Protocol, Session, StaffNotice
from scheduling.booking.services import (
    course_extend_horizon,
    course_start,
    session_book,
    session_cancel,
    session_move,
    session_no_show,
    session_restore,
)

from ..conftest import (
    at,
    chart_check_in,
    make_clear_screening,
    make_ready_patient,
    make_screening,
)

# make_ready_patient screens on 1 December 2026, 09:00 UTC; the clinic keeps a screening
# current for 180 days: until Sunday 30 May 2027, 10:00 London.
EXPIRES = dt.datetime(2027, 5, 30, 9, tzinfo=dt.UTC)


def start(patient, protocol, day, *, now, weekdays=(0, 3)):
    return course_start(
        patient=patient, protocol=protocol, start_date=day, preferred_weekdays=list(weekdays),
        preferred_time=dt.time(10), by=None, now=now,
    )  # fmt: skip


def test_an_under_18_patient_is_refused_at_booking(clinic, iv_standard):
    teen = make_ready_patient(clinic, "TEEN", birth_date=dt.date(2009, 6, 1))  # 17 in Jan 2027
    with pytest.raises(ValidationError) as exc:
        start(teen, iv_standard, dt.date(2027, 1, 4), now=at(2027, 1, 1))
    assert (
        "The patient is 17; this clinic treats patients from 18"
        in (exc.value.message_dict["screening"][0])
    )
    assert not Course.objects.exists()

    clinic.minimum_age_years = 16  # the clinic's own rule
    clinic.save()
    assert start(teen, iv_standard, dt.date(2027, 1, 4), now=at(2027, 1, 1))


def test_an_under_18_patient_is_refused_through_the_api_naming_the_rule(clinic, iv_standard, staff):
    teen = make_ready_patient(clinic, "TEEN", birth_date=dt.date(2010, 1, 1))
    client = APIClient()
    client.force_authenticate(staff["front_desk"])
    today = clinic.local_today()
    monday = today + dt.timedelta(days=7 - today.weekday())
    response = client.post("/api/v1/courses/", {
        "patient": teen.pk, "protocol": iv_standard.pk, "start_date": monday.isoformat(),
        "preferred_weekdays": [0, 3], "preferred_time": "10:00",
    }, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "this clinic treats patients from 18" in response.json()["errors"]["screening"][0]
    assert not Course.objects.exists()


def test_a_course_with_a_session_after_the_screening_expires_is_refused(clinic, iv_standard):
    patient = make_ready_patient(clinic)
    protocol = Protocol.objects.get(clinic=None, code="iv-six-in-twelve")
    with pytest.raises(ValidationError) as exc:  # six sessions over two weeks from 24 May
        start(patient, protocol, dt.date(2027, 5, 24), now=at(2027, 5, 1), weekdays=(0, 2, 4))
    message = exc.value.message_dict["screening"][0]
    assert "would be after the patient's screening expires (Sun 30 May 2027)" in message
    assert not Session.objects.exists()


def test_screening_expiry_stops_the_horizon_booking_and_raises_a_notice(clinic, iv_standard):
    patient = make_ready_patient(clinic)
    course = start(patient, iv_standard, dt.date(2027, 1, 4), now=at(2027, 1, 1))

    course_extend_horizon(course=course, now=at(2027, 4, 1))  # horizon: 30 June

    assert not course.sessions.filter(starts_at__gte=EXPIRES).exists()
    course.refresh_from_db()
    assert course.planned_until == dt.date(2027, 5, 30)
    (notice,) = StaffNotice.objects.filter(kind=StaffNotice.Kind.SCREENING_DUE)
    assert notice.course == course and notice.due_on == dt.date(2027, 5, 30)
    assert "screening expires on Sun 30 May 2027" in notice.message
    assert patient.last_name not in notice.message

    course_extend_horizon(course=course, now=at(2027, 4, 2))
    assert StaffNotice.objects.filter(kind=StaffNotice.Kind.SCREENING_DUE).count() == 1

    make_clear_screening(patient, now=at(2027, 4, 2))  # screened again: booked beyond
    assert course_extend_horizon(course=course, now=at(2027, 4, 3)) > 0
    assert course.sessions.filter(starts_at__gte=EXPIRES).exists()


def test_an_expired_screening_stops_the_horizon_with_a_notice_naming_why(clinic, iv_standard):
    patient = make_ready_patient(clinic)
    course = start(patient, iv_standard, dt.date(2027, 1, 4), now=at(2027, 1, 1))
    before = course.sessions.count()

    assert course_extend_horizon(course=course, now=at(2027, 6, 1)) == 0
    assert course.sessions.count() == before
    (notice,) = StaffNotice.objects.filter(kind=StaffNotice.Kind.SCREENING_DUE)
    assert "expired on 2027-05-30; screen the patient again" in notice.message


def test_a_session_is_neither_booked_nor_moved_past_the_screening_expiry(clinic, iv_standard):
    patient = make_ready_patient(clinic)
    course = start(patient, iv_standard, dt.date(2027, 1, 4), now=at(2027, 1, 1))
    late = dt.datetime(2027, 6, 1, 9, tzinfo=dt.UTC)

    with pytest.raises(ValidationError) as exc:
        session_book(course=course, starts_at=late, by=None, now=at(2027, 2, 1))
    assert "after the patient's screening expires" in exc.value.message_dict["screening"][0]

    first = course.sessions.order_by("number").last()
    with pytest.raises(ValidationError) as exc:
        session_move(session=first, starts_at=late, by=None, now=at(2027, 2, 1))
    assert "after the patient's screening expires" in exc.value.message_dict["screening"][0]
    first.refresh_from_db()
    assert first.starts_at < EXPIRES


def test_check_in_is_refused_once_the_patient_no_longer_passes_the_gate(
    clinic, esketamine_trd, staff
):
    patient = make_ready_patient(clinic)
    course = start(
        patient, esketamine_trd, dt.date(2027, 1, 5), now=at(2027, 1, 1), weekdays=(1, 4)
    )
    session = course.sessions.get(number=1)
    patient.rems_patient_id, patient.rems_enrolled_on = "", None  # enrolment withdrawn
    patient.save()

    with pytest.raises(ValidationError) as exc:
        chart_check_in(
            session, nurse=staff["nurse"], now=session.starts_at - dt.timedelta(minutes=10)
        )
    assert "needs REMS enrolment" in exc.value.message_dict["screening"][0]
    session.refresh_from_db()
    assert session.status == Session.Status.BOOKED


def test_undoing_a_cancellation_is_refused_once_the_patient_no_longer_passes_the_gate(
    clinic, iv_standard, staff
):
    patient = make_ready_patient(clinic)
    course = start(patient, iv_standard, dt.date(2027, 1, 4), now=at(2027, 1, 1))
    session = course.sessions.get(number=3)
    session_cancel(session=session, by=staff["front_desk"], reason="Pregnant", now=at(2027, 1, 2))
    make_screening(patient, present={"pregnancy-or-breastfeeding"}, now=at(2027, 1, 2))

    with pytest.raises(ValidationError) as exc:
        session_restore(
            session=session, by=staff["clinician"], reason="Cancelled in error", now=at(2027, 1, 3)
        )
    assert "an absolute contraindication" in exc.value.message_dict["screening"][0]
    session.refresh_from_db()
    assert session.status == Session.Status.CANCELLED


def test_a_past_no_show_is_corrected_whatever_the_screening_says_now(clinic, iv_standard, staff):
    patient = make_ready_patient(clinic)
    course = start(patient, iv_standard, dt.date(2027, 1, 4), now=at(2027, 1, 1))
    first = course.sessions.get(number=1)
    later = at(2027, 6, 1)  # the screening expired on 30 May

    session_no_show(session=first, by=staff["front_desk"], now=at(2027, 1, 4, 11))

    restored = session_restore(
        session=first, by=staff["clinician"], reason="Was in the waiting room", now=later
    )
    assert restored.status == Session.Status.BOOKED
