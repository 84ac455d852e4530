"""Booking rules: chairs, patients, calendar, gap, edit scopes, statuses and their history."""

import datetime as dt
import threading
import zoneinfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from clinic.models import Chair, Closure
from scheduling.booking.models import Course, Protocol, Session, SessionStatusChange
from scheduling.booking.selectors import slots_free
from scheduling.booking.services import (
    Scope,
    course_start,
    session_book,
    session_cancel,
    session_move,
    session_no_show,
    session_restore,
    session_transition,
)

from ..conftest import at, chart_through, make_ready_patient

LONDON = zoneinfo.ZoneInfo("Europe/London")
NOW = at(2027, 1, 1)
S = Session.Status
MON, TUE, WED, THU, FRI = range(5)


def local(month, day, hour=10, minute=0, year=2027) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON)


def start_course(
    patient, protocol_code="iv-standard", weekdays=(MON, THU), time=dt.time(10), start=None
):
    return course_start(
        patient=patient,
        protocol=Protocol.objects.get(clinic=None, code=protocol_code),
        start_date=start or dt.date(2027, 1, 4),
        preferred_weekdays=list(weekdays),
        preferred_time=time,
        by=None,
        now=NOW,
    )


@pytest.fixture
def course(patient):
    # Sessions 1-8: Jan 4, 11, 14, 18, 25, Feb 1, Mar 1, Mar 29 at 10:00 London.
    return start_course(patient)


def starts(course):
    return [s.starts_at for s in course.sessions.order_by("number")]


def session(course, number):
    return course.sessions.get(number=number)


def second_patient(clinic, mrn="MRN-2"):
    return make_ready_patient(clinic, mrn)


# --- chairs and patients -------------------------------------------------------------------


def test_overlap_in_a_chair_is_refused(clinic, course):
    other = start_course(second_patient(clinic))
    taken_chair = session(course, 4).chair

    with pytest.raises(ValidationError) as exc:
        session_move(
            session=session(other, 4),
            starts_at=local(1, 18, 11),
            chair=taken_chair,
            by=None,
            now=NOW,
        )

    assert "is booked at that time" in exc.value.message_dict["chair"][0]
    assert session(other, 4).starts_at == local(1, 18)


def test_booking_refuses_a_taken_chair_and_writes_nothing(clinic, course):
    other = start_course(second_patient(clinic))
    before = Session.objects.count()

    with pytest.raises(ValidationError) as exc:
        session_book(
            course=other,
            starts_at=local(1, 4, 11),
            chair=session(course, 1).chair,
            by=None,
            now=NOW,
        )

    assert "chair" in exc.value.message_dict
    assert Session.objects.count() == before


def test_overlap_for_a_patient_is_refused(patient, course):
    with pytest.raises(ValidationError) as exc:
        start_course(patient, "iv-six-in-twelve", weekdays=(MON, WED, FRI), time=dt.time(11))

    assert "the patient has another session at that time" in " ".join(
        exc.value.message_dict["starts_at"]
    )
    assert Course.objects.filter(patient=patient).count() == 1


def test_a_full_clinic_has_no_chair_for_a_third_patient(clinic, course):
    start_course(second_patient(clinic))
    third = second_patient(clinic, "MRN-3")

    with pytest.raises(ValidationError) as exc:
        start_course(third)

    assert "no chair is free at that time" in exc.value.message_dict["chair"][0]
    assert not Session.objects.filter(patient=third).exists()


def test_an_inactive_chair_cannot_be_booked(clinic, course):
    chair = Chair.objects.create(clinic=clinic, name="Broken", is_active=False)
    with pytest.raises(ValidationError) as exc:
        session_move(
            session=session(course, 4), starts_at=local(1, 19), chair=chair, by=None, now=NOW
        )
    assert "not an active chair" in exc.value.message_dict["chair"][0]


# --- calendar and gap ----------------------------------------------------------------------


def test_a_session_on_a_closure_is_refused(clinic, course):
    Closure.objects.create(
        clinic=clinic, start_date=dt.date(2027, 1, 19), end_date=dt.date(2027, 1, 19)
    )
    with pytest.raises(ValidationError) as exc:
        session_move(session=session(course, 4), starts_at=local(1, 19), by=None, now=NOW)
    assert "closed" in exc.value.message_dict["starts_at"][0]


@pytest.mark.parametrize(
    "when",
    [local(1, 19, 17), local(1, 19, 7), local(1, 17, 10), local(1, 16, 12)],
    ids=["ends-after-closing", "before-opening", "sunday", "saturday-afternoon"],
)
def test_a_session_outside_opening_hours_is_refused(course, when):
    with pytest.raises(ValidationError) as exc:
        session_move(session=session(course, 4), starts_at=when, by=None, now=NOW)
    assert "outside the clinic's opening hours" in exc.value.message_dict["starts_at"][0]
    assert session(course, 4).starts_at == local(1, 18)


def test_a_move_closer_than_the_minimum_gap_is_refused(course):
    # Session 3 is Thursday 14 January; Friday 15th is only 24 h later.
    with pytest.raises(ValidationError) as exc:
        session_move(session=session(course, 4), starts_at=local(1, 15), by=None, now=NOW)
    assert "less than 48 hours from another session" in exc.value.message_dict["starts_at"][0]


def test_a_session_cannot_be_moved_into_the_past(course):
    with pytest.raises(ValidationError) as exc:
        session_move(session=session(course, 1), starts_at=local(1, 4), by=None, now=at(2027, 1, 5))
    assert "in the past" in exc.value.message_dict["starts_at"][0]


def test_a_naive_time_is_refused(course):
    with pytest.raises(ValidationError) as exc:
        session_move(session=session(course, 4), starts_at=dt.datetime(2027, 1, 19, 10), by=None)
    assert "time zone" in exc.value.message_dict["starts_at"][0]


# --- the three edit scopes -----------------------------------------------------------------


def test_move_one_touches_exactly_that_session(course):
    before = starts(course)

    session_move(session=session(course, 4), starts_at=local(1, 19, 14), by=None, now=NOW)

    after = starts(course)
    assert after[3] == local(1, 19, 14)
    assert after[:3] + after[4:] == before[:3] + before[4:]


def test_move_this_and_following_touches_exactly_those(course):
    before = starts(course)

    moved = session_move(
        session=session(course, 4),
        starts_at=local(1, 19, 14),
        scope=Scope.FOLLOWING,
        by=None,
        now=NOW,
    )

    assert [s.number for s in moved] == [4, 5, 6, 7, 8]
    after = starts(course)
    assert after[:3] == before[:3]
    assert after[3:] == [
        local(1, 19, 14),
        local(1, 26, 14),
        local(2, 2, 14),
        local(3, 2, 14),
        local(3, 30, 14),
    ]


def test_move_all_touches_every_booked_session_and_spares_the_past(course):
    session_transition(session=session(course, 1), to=S.CHECKED_IN, by=None, now=local(1, 4, 9))

    moved = session_move(
        session=session(course, 4),
        starts_at=local(1, 19, 14),
        scope=Scope.ALL,
        by=None,
        now=local(1, 4, 9),
    )

    assert [s.number for s in moved] == [2, 3, 4, 5, 6, 7, 8]
    after = starts(course)
    assert after[0] == local(1, 4)  # checked in: history, not moved
    assert after[1:4] == [local(1, 12, 14), local(1, 15, 14), local(1, 19, 14)]


def test_a_series_moved_across_daylight_saving_keeps_its_local_time(course):
    session_move(
        session=session(course, 7),
        starts_at=local(2, 8, 9),
        scope=Scope.FOLLOWING,
        by=None,
        now=NOW,
    )
    # 8 March is before British Summer Time (28 March); shift both and they stay at 09:00.
    s8 = session(course, 8)
    assert s8.starts_at.astimezone(LONDON).time() == dt.time(9)


def test_a_scoped_move_is_all_or_nothing(clinic, course):
    Closure.objects.create(
        clinic=clinic, start_date=dt.date(2027, 2, 2), end_date=dt.date(2027, 2, 2)
    )
    before = starts(course)

    with pytest.raises(ValidationError) as exc:
        session_move(
            session=session(course, 4),
            starts_at=local(1, 19),
            scope=Scope.FOLLOWING,
            by=None,
            now=NOW,
        )

    assert "Session 6" in exc.value.message_dict["starts_at"][0]
    assert starts(course) == before


def test_cancel_one_touches_exactly_that_session(course):
    session_cancel(session=session(course, 4), by=None, reason="Patient unwell", now=NOW)
    statuses = list(course.sessions.order_by("number").values_list("status", flat=True))
    assert statuses == [S.BOOKED] * 3 + [S.CANCELLED] + [S.BOOKED] * 4


def test_cancel_this_and_following_touches_exactly_those(course):
    session_cancel(session=session(course, 4), scope=Scope.FOLLOWING, by=None, now=NOW)
    statuses = list(course.sessions.order_by("number").values_list("status", flat=True))
    assert statuses == [S.BOOKED] * 3 + [S.CANCELLED] * 5
    course.refresh_from_db()
    assert course.status == Course.Status.ACTIVE


def test_cancel_all_cancels_every_booked_session_and_stops_the_course(course):
    session_transition(session=session(course, 1), to=S.CHECKED_IN, by=None, now=local(1, 4, 9))

    session_cancel(session=session(course, 5), scope=Scope.ALL, by=None, now=local(1, 4, 9))

    statuses = list(course.sessions.order_by("number").values_list("status", flat=True))
    assert statuses == [S.CHECKED_IN] + [S.CANCELLED] * 7
    course.refresh_from_db()
    assert course.status == Course.Status.STOPPED


def test_a_cancelled_session_frees_its_chair(clinic, course):
    s4 = session(course, 4)
    later = start_course(second_patient(clinic), start=dt.date(2027, 3, 1))
    with pytest.raises(ValidationError):
        session_book(course=later, starts_at=s4.starts_at, chair=s4.chair, by=None, now=NOW)

    session_cancel(session=s4, by=None, now=NOW)
    booked = session_book(course=later, starts_at=s4.starts_at, chair=s4.chair, by=None, now=NOW)

    assert booked.chair_id == s4.chair_id and booked.starts_at == s4.starts_at


def test_an_unknown_scope_is_refused(course):
    with pytest.raises(ValidationError) as exc:
        session_cancel(session=session(course, 4), scope="everything", by=None)
    assert "scope" in exc.value.message_dict


# --- statuses ------------------------------------------------------------------------------


def test_a_no_show_is_recorded(course, staff):
    s1 = session_no_show(session=session(course, 1), by=staff["front_desk"], now=local(1, 4, 11))
    assert s1.status == S.NO_SHOW
    change = s1.status_changes.last()
    assert (change.from_status, change.to_status, change.changed_by) == (
        S.BOOKED, S.NO_SHOW, staff["front_desk"]
    )  # fmt: skip


def test_a_no_show_before_the_session_starts_is_refused(course):
    with pytest.raises(ValidationError):
        session_no_show(session=session(course, 1), by=None, now=local(1, 4, 9))


def test_check_in_on_another_day_is_refused(course):
    with pytest.raises(ValidationError) as exc:
        session_transition(session=session(course, 2), to=S.CHECKED_IN, by=None, now=local(1, 4, 9))
    assert "only on the day" in exc.value.message_dict["status"][0]


def test_check_in_on_the_day_in_the_clinic_time_zone_is_allowed(course):
    # 00:30 London on the 11th is still the 11th; UTC agrees here, so try late evening too.
    s2 = session_transition(
        session=session(course, 2), to=S.CHECKED_IN, by=None, now=local(1, 11, 0, 30)
    )
    assert s2.status == S.CHECKED_IN


def test_a_started_session_cannot_be_moved(course):
    session_transition(session=session(course, 1), to=S.CHECKED_IN, by=None, now=local(1, 4, 9))
    with pytest.raises(ValidationError) as exc:
        session_move(session=session(course, 1), starts_at=local(1, 5), by=None, now=local(1, 4, 9))
    assert "Only a booked session can be moved" in exc.value.message_dict["status"][0]


def test_undoing_a_cancellation_needs_a_clinician_and_a_reason(course, staff):
    s4 = session(course, 4)
    session_cancel(session=s4, by=staff["front_desk"], now=NOW)

    with pytest.raises(PermissionDenied):
        session_restore(session=s4, by=staff["nurse"], reason="Mistake", now=NOW)
    with pytest.raises(ValidationError):
        session_restore(session=s4, by=staff["clinician"], reason="  ", now=NOW)
    restored = session_restore(
        session=s4, by=staff["clinician"], reason="Cancelled in error", now=NOW
    )

    assert restored.status == S.BOOKED
    last = restored.status_changes.last()
    assert (last.from_status, last.to_status, last.changed_by, last.note) == (
        S.CANCELLED, S.BOOKED, staff["clinician"], "Cancelled in error"
    )  # fmt: skip


def test_undoing_a_no_show_is_possible_for_a_clinician(course, staff):
    s1 = session_no_show(session=session(course, 1), by=staff["front_desk"], now=local(1, 4, 11))
    restored = session_restore(
        session=s1, by=staff["clinician"], reason="Was in the waiting room", now=local(1, 4, 11)
    )
    assert restored.status == S.BOOKED


def test_undoing_a_cancellation_rechecks_the_chair_and_the_patient(clinic, course, staff):
    s4 = session(course, 4)
    session_cancel(session=s4, by=None, now=NOW)
    # Another course of the same patient now uses that time.
    session_book(course=course, starts_at=local(1, 18, 11), by=None, now=NOW)

    with pytest.raises(ValidationError):
        session_restore(session=s4, by=staff["clinician"], reason="Mistake", now=NOW)
    assert session(course, 4).status == S.CANCELLED


def test_the_status_change_history_is_complete(course, staff):
    s4 = session(course, 4)
    session_move(session=s4, starts_at=local(1, 19, 14), by=staff["front_desk"], now=NOW)
    session_cancel(session=s4, by=staff["front_desk"], reason="Unwell", now=NOW)
    session_restore(session=s4, by=staff["clinician"], reason="Feels better", now=NOW)
    nurse = staff["nurse"]
    chart_through(s4, nurse=nurse, start=local(1, 19, 13))  # check-in, dose, discharge

    rows = list(
        SessionStatusChange.objects.filter(session=s4).values_list(
            "from_status", "to_status", "changed_by"
        )
    )
    fd, cl = staff["front_desk"].id, staff["clinician"].id
    assert rows == [
        ("", S.BOOKED, None),
        (S.BOOKED, S.BOOKED, fd),  # the move
        (S.BOOKED, S.CANCELLED, fd),
        (S.CANCELLED, S.BOOKED, cl),
        (S.BOOKED, S.CHECKED_IN, nurse.id),
        (S.CHECKED_IN, S.IN_PROGRESS, nurse.id),
        (S.IN_PROGRESS, S.MONITORING, nurse.id),
        (S.MONITORING, S.DISCHARGED, nurse.id),
    ]
    assert "Moved from 2027-01-18 10:00 to 2027-01-19 14:00" in s4.status_changes.all()[1].note


# --- free slots ----------------------------------------------------------------------------


def test_free_slots_skip_closures_taken_chairs_the_gap_and_the_patient(clinic, course):
    Closure.objects.create(
        clinic=clinic, start_date=dt.date(2027, 1, 19), end_date=dt.date(2027, 1, 19)
    )
    other = start_course(second_patient(clinic))

    slots = slots_free(course=course, start=dt.date(2027, 1, 18), days=4, now=NOW, limit=500)

    days = {s.local_start.date() for s in slots}
    # 18th: the patient's own session day (gap); 19th closed; 20th is 48 h after the 18th
    # only from 10:00; 21st is the next Thursday... with no session on it.
    assert dt.date(2027, 1, 18) not in days and dt.date(2027, 1, 19) not in days
    first = slots[0]
    assert first.local_start == local(1, 20, 10)
    for slot in slots:
        for s in Session.objects.filter(chair_id=slot.chair_id, status__in=Session.HOLDING):
            assert not (s.starts_at < slot.ends_at and slot.starts_at < s.ends_at)
    # The other patient's course holds one chair at 10:00 on the 21st; ours is free then?
    # Ours has session 5 on the 25th; the 21st at 10:00 is 72 h after the 18th: allowed.
    on_21st_at_10 = [s for s in slots if s.local_start == local(1, 21, 10)]
    assert {s.chair_id for s in on_21st_at_10}.isdisjoint(
        {x.chair_id for x in other.sessions.filter(starts_at=local(1, 21, 10))}
    )


def test_every_free_slot_can_be_booked(course):
    for slot in slots_free(course=course, start=dt.date(2027, 1, 20), days=2, now=NOW, limit=3):
        with transaction.atomic():
            booked = session_book(
                course=course,
                starts_at=slot.starts_at,
                chair=Chair.objects.get(id=slot.chair_id),
                by=None,
                now=NOW,
            )
            assert booked.chair_id == slot.chair_id
            transaction.set_rollback(True)


def test_the_slot_finder_asks_the_database_the_same_number_of_times_whatever_the_load(
    clinic, course, django_assert_max_num_queries
):
    with django_assert_max_num_queries(5):
        few = slots_free(course=course, start=dt.date(2027, 1, 18), days=14, now=NOW, limit=50)
    for n in range(6):
        Chair.objects.create(clinic=clinic, name=f"Extra {n}")
    for n in range(8):
        start_course(second_patient(clinic, f"LOAD-{n}"), time=dt.time(8 + n % 8))
    with django_assert_max_num_queries(5):
        many = slots_free(course=course, start=dt.date(2027, 1, 18), days=14, now=NOW, limit=50)
    assert few and many


# --- the database enforces it (PostgreSQL) -----------------------------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="exclusion constraints are PostgreSQL's"
)


@postgres_only
def test_the_database_refuses_two_sessions_in_one_chair_at_once(clinic, course):
    s1 = session(course, 1)
    other = start_course(second_patient(clinic))
    clash = session(other, 1)
    with pytest.raises(IntegrityError, match="session_chair_no_overlap"), transaction.atomic():
        Session.objects.filter(pk=clash.pk).update(chair=s1.chair)


@postgres_only
def test_the_database_refuses_one_patient_in_two_sessions_at_once(course):
    s1, s2 = session(course, 1), session(course, 2)
    with pytest.raises(IntegrityError, match="session_patient_no_overlap"), transaction.atomic():
        Session.objects.filter(pk=s2.pk).update(
            starts_at=s1.starts_at, ends_at=s1.ends_at, chair=None
        )


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_many_bookings_of_one_chair_at_once_end_with_exactly_one(clinic):
    chair = Chair.objects.filter(clinic=clinic).first()
    # Eight patients whose courses start in February; all want chair 1 on 20 January.
    courses = [
        start_course(
            second_patient(clinic, f"RACE-{n}"), time=dt.time(8 + n), start=dt.date(2027, 2, 1)
        )
        for n in range(8)
    ]
    when = local(1, 20, 14)
    barrier = threading.Barrier(len(courses))
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(c):
        try:
            barrier.wait(timeout=10)
            session_book(course=c, starts_at=when, chair=chair, by=None, now=NOW)
            result = "booked"
        except ValidationError as exc:
            result = "refused: " + " ".join(exc.messages)
        except Exception as exc:  # a server error: the test must see it
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=book, args=(c,)) for c in courses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(outcomes) == len(courses)
    assert outcomes.count("booked") == 1, outcomes
    refused = [o for o in outcomes if o.startswith("refused: ")]
    assert len(refused) == len(courses) - 1, outcomes
    assert all("chair" in o.lower() or "Chair" in o for o in refused)
    assert Session.objects.filter(chair=chair, starts_at=when, status=S.BOOKED).count() == 1
