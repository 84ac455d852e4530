"""Every list endpoint asks the database the same number of times for 5 rows as for 50."""

import datetime as dt
import itertools

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import Chair, Clinic, OpeningHours
from clinic.services import staff_membership_add
from patients.models import Contraindication, Patient, Screening, ScreeningAnswer
from scheduling.booking.models import Course, Protocol, ProtocolPhase, Session

from .api_world import build_world


@pytest.fixture
def world(db):
    return build_world(timezone.now())


SERIAL = itertools.count(1)


def grow(world, kind: str, n: int) -> None:
    """Add n rows of a kind, all visible to the clinic's clinician."""
    clinic = world.clinic
    user = world.users["clinician"]
    for i in range(n):
        base = next(SERIAL)
        tag = f"{kind}-{base}"
        if kind == "clinics":
            c = Clinic.objects.create(name=tag, slug=tag, timezone="Europe/London")
            OpeningHours.objects.create(clinic=c, weekday=0, opens=dt.time(8), closes=dt.time(18))
            staff_membership_add(user=user, clinic=c, role="clinician")
        elif kind == "chairs":
            Chair.objects.create(clinic=clinic, name=tag)
        elif kind == "patients":
            Patient.objects.create(clinic=clinic, mrn=tag, first_name="A", last_name="B",
                                   birth_date=dt.date(1990, 1, 1))  # fmt: skip
        elif kind == "contraindications":
            Contraindication.objects.create(code=tag, name=tag, kind="relative", order=100 + i)
        elif kind == "screenings":
            s = Screening.objects.create(patient=world.patient, screened_at=timezone.now())
            item = Contraindication.objects.first()
            ScreeningAnswer.objects.create(screening=s, contraindication=item, present=False)
        elif kind == "protocols":
            p = Protocol.objects.create(clinic=clinic, code=tag, name=tag, drug="ketamine",
                                        route="iv", session_minutes=60,
                                        min_observation_minutes=30)  # fmt: skip
            ProtocolPhase.objects.create(protocol=p, order=1, name="x", periods=2)
        elif kind in ("reminders", "staff-notices"):
            grow_outbox(world, kind, tag)
        elif kind in ("vitals", "side-effects", "doses", "questionnaires", "alerts"):
            grow_chart(world, kind, tag)
        elif kind in ("courses", "sessions"):
            course = world.courses["other_patient"]
            if kind == "courses":
                Course.objects.create(
                    clinic=clinic, patient=world.other_patient, protocol=course.protocol,
                    start_date=course.start_date, preferred_weekdays=[0],
                    preferred_time=dt.time(9),
                )  # fmt: skip
            else:
                # Days apart from every earlier call's: PostgreSQL refuses a patient's overlaps.
                start = timezone.now() + dt.timedelta(days=400 + base)
                Session.objects.create(clinic=clinic, course=course, patient=world.other_patient,
                                       number=1000 + base + i, starts_at=start,
                                       ends_at=start + dt.timedelta(hours=1))  # fmt: skip


def grow_chart(world, kind, tag):
    from patients.models import QuestionnaireResponse
    from scheduling.chart.models import Alert, DoseAdministration, SideEffect, VitalSigns

    nurse, now = world.users["nurse"], timezone.now()
    session = world.courses["own"].sessions.order_by("number").first()
    if kind == "vitals":
        VitalSigns.objects.create(session=session, timepoint="during", measured_at=now,
                                  systolic=120, diastolic=80, heart_rate=70, spo2=98,
                                  recorded_by=nurse, recorded_at=now)  # fmt: skip
    elif kind == "side-effects":
        SideEffect.objects.create(session=session, kind="nausea", severity="mild", onset_at=now,
                                  recorded_by=nurse, recorded_at=now)  # fmt: skip
    elif kind == "questionnaires":
        QuestionnaireResponse.objects.create(patient=world.patient, kind="gad7", items=[0] * 7,
                                             total=0, band="minimal", completed_at=now,
                                             recorded_at=now)  # fmt: skip
    elif kind == "alerts":
        vitals = VitalSigns.objects.filter(session=session).first()
        Alert.objects.create(clinic=world.clinic, patient=world.patient, session=session,
                             kind="vitals_threshold", vitals=vitals, message=tag,
                             raised_at=now)  # fmt: skip
    elif kind == "doses":
        # One dose per session: give each new one a session of its own.
        course = world.courses["own"]
        start = now + dt.timedelta(days=500 + next(SERIAL))
        extra = Session.objects.create(clinic=world.clinic, course=course, patient=world.patient,
                                       number=5000 + next(SERIAL), starts_at=start,
                                       ends_at=start + dt.timedelta(hours=1))  # fmt: skip
        DoseAdministration.objects.create(session=extra, route="iv", drug="ketamine",
                                          mg_per_kg="0.5", weight_kg="80", infusion_minutes=40,
                                          total_mg="40", started_at=start,
                                          ended_at=start + dt.timedelta(minutes=40),
                                          administered_by=nurse, recorded_by=nurse,
                                          recorded_at=start)  # fmt: skip


def grow_outbox(world, kind, tag):
    from scheduling.booking.models import StaffNotice
    from scheduling.reminders.models import Reminder

    now = timezone.now()
    session = world.courses["own"].sessions.order_by("number").last()
    if kind == "reminders":
        Reminder.objects.create(
            session=session, clinic=world.clinic, kind=f"k{next(SERIAL)}"[:20], channel="email",
            due_at=now, send_by=now, session_starts_at=session.starts_at,
        )  # fmt: skip
    else:
        StaffNotice.objects.create(clinic=world.clinic, kind="no_show", session=session,
                                   message=tag, dedupe_key=tag, created_at=now)  # fmt: skip


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 200})
    assert response.status_code == 200, response.json()
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "kind",
    ["clinics", "chairs", "patients", "contraindications", "screenings", "protocols",
     "courses", "sessions", "vitals", "side-effects", "doses", "questionnaires", "alerts",
     "reminders", "staff-notices"],
)  # fmt: skip
def test_list_queries_do_not_grow_with_the_rows(world, kind):
    client = world.client("clinician")
    url = f"/api/v1/{kind}/"
    # Frozen, and the token used once before: its last use is noted at most once a minute.
    with time_machine.travel(timezone.now(), tick=False):
        count_queries(client, url)
        grow(world, kind, 5)
        few = count_queries(client, url)
        grow(world, kind, 45)
        many = count_queries(client, url)
    assert client.get(url, {"page_size": 200}).json()["count"] >= 50
    assert many == few, f"{kind}: {few} queries for the small list, {many} for the large one"
