"""The server-rendered pages ask the database the same number of times however many rows
they show: each page is rendered at two sizes (3 rows, then 30) through the test client,
and its query count must not grow. A relation or a deferred field read in a template
once per row shows here as a count that grows with the rows.

(The day board's and the nurse's day's sessions at two sizes: tests/chart/test_day_board.py.)
"""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clinic.models import Chair
from patients.models import QuestionnaireResponse
from patients.services import patient_calendar_token_reset
from scheduling.booking.models import Course, Session, SessionStatusChange, StaffNotice
from scheduling.chart.models import Alert, DoseAdministration, SideEffect, VitalSigns

from ..conftest import at, chart_through, make_patient

SMALL, LARGE = 3, 30
NOW = at(2027, 1, 4, 8)  # Monday 4 January 2027, 08:00 London: before the iv_session


def _get(user, url, params=None, *, htmx=False) -> tuple[int, str]:
    """(queries, page) of one GET by `user`, signed in beforehand."""
    client = Client()
    client.force_login(user)
    headers = {"HX-Request": "true"} if htmx else {}
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {}, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries), response.content.decode()


def _at_two_sizes(grow, measure) -> tuple[tuple[int, str], tuple[int, str]]:
    """Grow the data to SMALL rows and measure, then to LARGE rows and measure again."""
    grow(0, SMALL)
    small = measure()
    grow(SMALL, LARGE)
    large = measure()
    return small, large


def _assert_flat(name, small, large):
    print(f"\n{name}: {small[0]} queries at {SMALL} rows, {large[0]} at {LARGE}")
    assert large[0] == small[0], f"{name}: {small[0]} -> {large[0]} queries"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _session(course, patient, k, *, chair=None, day0=dt.date(2027, 2, 1), **extra):
    """Session number 100+k of `course` on day0 + k, 10:00 UTC (one a day: no overlap)."""
    start = dt.datetime.combine(day0 + dt.timedelta(days=k), dt.time(10), tzinfo=dt.UTC)
    return Session.objects.create(
        clinic=course.clinic, course=course, patient=patient, chair=chair, number=100 + k,
        starts_at=start, ends_at=start + dt.timedelta(hours=1), **extra,
    )  # fmt: skip


def _phq9(patient, when, *, item9=0, by=None):
    items = [1] * 8 + [item9]
    return QuestionnaireResponse.objects.create(
        patient=patient, kind="phq9", items=items, total=sum(items), band="mild",
        completed_at=when, recorded_by=by, recorded_at=when,
    )  # fmt: skip


def _phq9_alert(patient, when, *, session=None, by=None):
    q = _phq9(patient, when, item9=1, by=by)
    return Alert.objects.create(
        clinic=patient.clinic, patient=patient, session=session, kind="phq9_item9",
        questionnaire=q, message="PHQ-9 item 9 above 0.", raised_at=when,
    )  # fmt: skip


# --- front desk --------------------------------------------------------------------------


def test_patient_search_results(staff, clinic, frozen):
    def grow(a, b):
        for k in range(a, b):
            make_patient(clinic, f"SRCH-{k}", last_name="Searchable", first_name=f"N{k}")

    def measure():
        return _get(staff["front_desk"], "/desk/patients/", {"q": "Searchable"})

    small, large = _at_two_sizes(grow, measure)
    assert "Searchable, N29" in large[1] and "Searchable, N29" not in small[1]
    _assert_flat("patient search", small, large)

    # The as-you-type results (htmx), at the same two sizes.
    def measure_htmx():
        return _get(staff["front_desk"], "/desk/patients/", {"q": "Findable"}, htmx=True)

    def grow_htmx(a, b):
        for k in range(a, b):
            make_patient(clinic, f"FIND-{k}", last_name="Findable", first_name=f"F{k}")

    small, large = _at_two_sizes(grow_htmx, measure_htmx)
    assert "F29" in large[1]
    _assert_flat("patient search (htmx results)", small, large)


def test_patient_page_with_many_courses_and_sessions(staff, clinic, patient, iv_standard, frozen):
    chairs = list(Chair.objects.filter(clinic=clinic))

    def grow(a, b):
        for k in range(a, b):
            course = Course.objects.create(
                clinic=clinic, patient=patient, protocol=iv_standard,
                start_date=dt.date(2027, 2, 1) + dt.timedelta(days=k),
                preferred_weekdays=[0], preferred_time=dt.time(10),
            )  # fmt: skip
            _session(course, patient, k, chair=chairs[k % len(chairs)])

    def measure():
        return _get(staff["front_desk"], f"/desk/patients/{patient.pk}/")

    small, large = _at_two_sizes(grow, measure)
    assert large[1].count("Outcomes</a>") == LARGE and large[1].count("Chair ") == 20
    _assert_flat("patient page", small, large)


def test_patient_page_with_many_screenings_findings_and_sign_offs(staff, clinic, frozen):
    from patients.services import screening_sign_off

    from ..conftest import make_screening

    patient = make_patient(clinic, "SCREENED")
    clinician = staff["clinician"]

    def grow(a, b):
        for k in range(a, b):
            screening = make_screening(
                patient, present={"glaucoma", "thyroid-disease"}, by=staff["nurse"],
                now=NOW - dt.timedelta(days=k + 1),
            )  # fmt: skip
            if k % 2:  # every other one half signed off
                answer = screening.answers.get(contraindication__code="glaucoma")
                screening_sign_off(answer=answer, clinician=clinician, reason="Controlled")

    def measure():
        return _get(clinician, f"/desk/patients/{patient.pk}/")

    small, large = _at_two_sizes(grow, measure)
    assert large[1].count(">Sign off</a>") == LARGE + LARGE // 2
    _assert_flat("patient page (screenings)", small, large)


def test_screening_page_with_every_answer_signed_off_or_awaiting(staff, clinic, frozen):
    """One screening's answers grow with the checklist: as many items as rows."""
    from patients.models import Contraindication
    from patients.services import screening_sign_off

    from ..conftest import make_screening

    patient = make_patient(clinic, "SCREENED")
    clinician = staff["clinician"]
    state = {}

    def grow(a, b):
        for k in range(a, b):
            Contraindication.objects.create(code=f"extra-{k}", name=f"Extra {k}", kind="relative")
        present = {f"extra-{k}" for k in range(b)}
        state["screening"] = make_screening(patient, present=present, by=staff["nurse"], now=NOW)
        for answer in state["screening"].answers.filter(present=True)[: b // 2]:
            screening_sign_off(answer=answer, clinician=clinician, reason="Fine")

    def measure():
        return _get(clinician, f"/desk/screenings/{state['screening'].pk}/")

    small, large = _at_two_sizes(grow, measure)
    assert large[1].count("Sign off</button>") == LARGE - LARGE // 2
    _assert_flat("screening page", small, large)


def test_session_page_with_a_long_history_and_many_chairs(staff, clinic, iv_session, frozen):
    users = list(staff.values())

    def grow(a, b):
        for k in range(a, b):
            Chair.objects.create(clinic=clinic, name=f"Extra chair {k:02}")
            SessionStatusChange.objects.create(
                session=iv_session, from_status="booked", to_status="booked",
                changed_by=users[k % len(users)], changed_at=NOW - dt.timedelta(minutes=k),
                note=f"moved {k}",
            )  # fmt: skip

    def measure():
        return _get(staff["front_desk"], f"/desk/sessions/{iv_session.pk}/")

    small, large = _at_two_sizes(grow, measure)
    assert "moved 29" in large[1] and "Extra chair 29" in large[1]
    _assert_flat("session page", small, large)


def test_course_form_with_many_patients_and_protocols(staff, clinic, frozen):
    from scheduling.booking.services import protocol_create

    def grow(a, b):
        for k in range(a, b):
            make_patient(clinic, f"FORM-{k}", last_name=f"Former{k}")
            protocol_create(
                clinic=clinic, code=f"own-{k}", name=f"Own weekly {k}", drug="ketamine",
                route="iv", session_minutes=60, min_observation_minutes=30,
                phases=[{"name": "Weekly", "sessions_per_period": 1, "period_unit": "week",
                         "period_length": 1, "periods": 4}],
            )  # fmt: skip

    def measure():
        return _get(staff["front_desk"], "/desk/courses/new/")

    small, large = _at_two_sizes(grow, measure)
    assert "Former29" in large[1] and "Own weekly 29" in large[1]
    _assert_flat("start a course (form)", small, large)


def test_board_with_many_staff_notices(staff, clinic, iv_session, frozen):
    def grow(a, b):
        for k in range(a, b):
            StaffNotice.objects.create(
                clinic=clinic, kind="no_show", session=iv_session, course=iv_session.course,
                message=f"Notice {k}", dedupe_key=f"test-notice-{k}",
                created_at=NOW - dt.timedelta(minutes=k),
            )  # fmt: skip

    def measure():
        return _get(staff["front_desk"], "/desk/board/", {"date": "2027-01-04"})

    small, large = _at_two_sizes(grow, measure)
    assert large[1].count("Notice ") == 10
    _assert_flat("day board notices", small, large)


# --- nurse -------------------------------------------------------------------------------


def test_chart_with_many_readings_side_effects_and_alerts(staff, iv_session):
    nurse = staff["nurse"]
    session = chart_through(iv_session, nurse=nurse, start=at(2027, 1, 4, 9, 45), to="monitoring")
    t0 = at(2027, 1, 4, 10, 50)

    def grow(a, b):
        for k in range(a, b):
            when = t0 + dt.timedelta(minutes=k)
            v = VitalSigns.objects.create(
                session=session, timepoint="after", measured_at=when, systolic=190,
                diastolic=80 + k % 10, heart_rate=70, spo2=98, recorded_by=nurse,
                recorded_at=when,
            )  # fmt: skip
            if k % 3 == 0:  # some readings corrected
                VitalSigns.objects.create(
                    session=session, timepoint="after", measured_at=when, systolic=130,
                    diastolic=80, heart_rate=70, spo2=98, recorded_by=nurse, recorded_at=when,
                    amends=v, amendment_reason="typo",
                )  # fmt: skip
            Alert.objects.create(
                clinic=session.clinic, patient=session.patient, session=session,
                kind="vitals_threshold", vitals=v, message=f"High {k}", raised_at=when,
            )  # fmt: skip
            e = SideEffect.objects.create(
                session=session, kind="nausea", severity="mild", onset_at=when,
                notes=f"effect {k}", recorded_by=nurse, recorded_at=when,
            )  # fmt: skip
            if k % 3 == 0:
                SideEffect.objects.create(
                    session=session, kind="nausea", severity="moderate", onset_at=when,
                    notes=f"effect {k} (corrected)", recorded_by=nurse, recorded_at=when,
                    amends=e, amendment_reason="worse",
                )  # fmt: skip

    def measure():
        return _get(nurse, f"/chart/{session.pk}/")

    with time_machine.travel(at(2027, 1, 4, 11, 30), tick=False):
        small, large = _at_two_sizes(grow, measure)
    assert "High 29" in large[1] and "effect 29" in large[1]
    _assert_flat("chart page", small, large)


def test_nurse_day_across_several_clinics(staff, clinic, iv_session, iv_standard, frozen):
    """The nurse's day is a section per clinic: more clinics must not mean more queries."""
    from clinic.services import staff_membership_add

    from ..conftest import make_clinic

    nurse = staff["nurse"]

    def grow(a, b):
        for k in range(max(a, 1), b):  # the nurse's own clinic is the first
            c = make_clinic(slug=f"extra-{k}", chairs=2)
            staff_membership_add(user=nurse, clinic=c, role="nurse")
            p = make_patient(c, f"DAY-{k}", last_name=f"Today{k}")
            course = Course.objects.create(
                clinic=c, patient=p, protocol=iv_standard, start_date=dt.date(2027, 1, 4),
                preferred_weekdays=[0], preferred_time=dt.time(10),
            )  # fmt: skip
            s = _session(course, p, 0, chair=c.chairs.first(), day0=dt.date(2027, 1, 4))
            _phq9_alert(p, NOW, session=s)

    def measure():
        return _get(nurse, "/nurse/today/")

    small, large = _at_two_sizes(grow, measure)
    assert "Clinic extra-29" in large[1] and "Today29" in large[1]
    assert large[1].count("⚠ alert") == LARGE - 1
    _assert_flat("nurse's day, clinics", small, large)


# --- clinician ---------------------------------------------------------------------------


def test_clinician_course_list(staff, clinic, iv_standard, frozen):
    clinician = staff["clinician"]

    def grow(a, b):
        for k in range(a, b):
            p = make_patient(clinic, f"LIST-{k}", last_name=f"Listed{k}")
            Course.objects.create(
                clinic=clinic, patient=p, protocol=iv_standard, start_date=dt.date(2027, 1, 4),
                preferred_weekdays=[0], preferred_time=dt.time(10),
            )  # fmt: skip
            if k % 2 == 0:
                _phq9_alert(p, NOW - dt.timedelta(hours=k), by=clinician)

    def measure():
        return _get(clinician, "/clinician/courses/")

    small, large = _at_two_sizes(grow, measure)
    assert "Listed29" in large[1] and "to acknowledge" in large[1]
    _assert_flat("clinician's course list", small, large)


def test_course_page_with_many_sessions_questionnaires_and_alerts(staff, iv_session, frozen):
    clinician, nurse = staff["clinician"], staff["nurse"]
    course, patient = iv_session.course, iv_session.patient
    chairs = list(Chair.objects.filter(clinic=course.clinic))
    _phq9(patient, at(2027, 1, 3, 9), by=clinician)  # a baseline

    def grow(a, b):
        for k in range(a, b):
            # After the course's own sessions (to April 2027): PostgreSQL's exclusion
            # constraints refuse a chair or a patient in two sessions at once.
            s = _session(course, patient, k, chair=chairs[k % len(chairs)],
                         day0=dt.date(2028, 1, 3), status="discharged")  # fmt: skip
            DoseAdministration.objects.create(
                session=s, route="iv", drug="ketamine", mg_per_kg="0.50", weight_kg="80.0",
                infusion_minutes=40, total_mg="40.0", started_at=s.starts_at,
                ended_at=s.starts_at + dt.timedelta(minutes=40), administered_by=nurse,
                recorded_by=nurse, recorded_at=s.starts_at,
            )  # fmt: skip
            SideEffect.objects.create(
                session=s, kind="headache", severity="mild", onset_at=s.starts_at,
                recorded_by=nurse, recorded_at=s.starts_at,
            )  # fmt: skip
            _phq9(patient, s.ends_at, by=clinician)
            _phq9_alert(patient, s.ends_at + dt.timedelta(minutes=1), session=s, by=clinician)

    def measure():
        return _get(clinician, f"/clinician/courses/{course.pk}/")

    small, large = _at_two_sizes(grow, measure)
    assert large[1].count("Headache") == LARGE and large[1].count("Acknowledge</button>") == LARGE
    _assert_flat("course page", small, large)


# --- patient -----------------------------------------------------------------------------


def test_portal_and_calendar_feed_with_many_sessions(clinic, patient, iv_standard, frozen):
    patient.user = get_user_model().objects.create_user("pat", password="x-test-only-9")
    patient.save()
    patient_calendar_token_reset(patient=patient)
    course = Course.objects.create(
        clinic=clinic, patient=patient, protocol=iv_standard, start_date=dt.date(2027, 2, 1),
        preferred_weekdays=[0], preferred_time=dt.time(10),
    )  # fmt: skip
    chairs = list(Chair.objects.filter(clinic=clinic))

    def grow(a, b):
        for k in range(a, b):
            _session(course, patient, k, chair=chairs[k % len(chairs)],
                     patient_response="confirmed" if k % 2 else "")  # fmt: skip

    def measure():
        return _get(patient.user, "/portal/")

    small, large = _at_two_sizes(grow, measure)
    assert large[1].count("Cancel this session") == LARGE
    _assert_flat("patient portal", small, large)

    # The calendar feed (no login): the same sessions, and a protocol of its own each.
    def feed():
        client = Client()
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/calendar/{patient.calendar_token}.ics")
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    big = feed()
    assert big[1].count("BEGIN:VEVENT") == LARGE
    Session.objects.filter(course=course, number__gte=100 + SMALL).update(status="cancelled")
    _assert_flat("calendar feed", feed(), big)


def test_the_nurses_day_is_each_clinics_own_local_day(staff, iv_standard, frozen):
    """One read for every clinic still cuts each clinic's day at its own midnights."""
    from clinic.services import staff_membership_add

    from ..conftest import make_clinic

    nurse = staff["nurse"]
    ny = make_clinic(slug="ny", tz="America/New_York", chairs=1)
    staff_membership_add(user=nurse, clinic=ny, role="nurse")
    p = make_patient(ny, "NY-1")
    course = Course.objects.create(
        clinic=ny, patient=p, protocol=iv_standard, start_date=dt.date(2027, 1, 4),
        preferred_weekdays=[0], preferred_time=dt.time(10),
    )  # fmt: skip
    chair = ny.chairs.first()
    # 4 January in New York (now 03:00 there): 23:00 local is 04:00 UTC on the 5th.
    _session(course, p, 0, chair=chair, day0=dt.date(2027, 1, 4))  # 05:00 local: today
    late = dt.datetime(2027, 1, 4, 23, tzinfo=ny.tz)
    Session.objects.create(clinic=ny, course=course, patient=p, chair=chair, number=200,
                           starts_at=late, ends_at=late + dt.timedelta(minutes=30))  # fmt: skip
    early = dt.datetime(2027, 1, 3, 23, tzinfo=ny.tz)  # 04:00 UTC on the 4th: yesterday there
    Session.objects.create(clinic=ny, course=course, patient=p, chair=chair, number=201,
                           starts_at=early, ends_at=early + dt.timedelta(minutes=30))  # fmt: skip
    _, page = _get(nurse, "/nurse/today/")
    ny_part = page.split("Clinic ny")[1]
    assert "<strong>05:00</strong>" in ny_part and "<strong>23:00</strong>" in ny_part
    assert ny_part.count("Patient, Test") == 2  # not the session of 3 January, local
