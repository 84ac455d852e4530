"""A small world for API tests: two clinics, staff of every role, patients, courses."""

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from clinic.models import Chair, Clinic, StaffMembership
from clinic.services import staff_membership_add
from patients.models import Patient, Screening
from scheduling.booking.models import Course, Protocol, Session
from scheduling.booking.services import course_start

from .conftest import api_token, make_clinic, make_ready_patient

ROLES = [r.value for r in StaffMembership.Role]


def _chart_kinds():
    from patients.models import QuestionnaireResponse
    from scheduling.chart.models import Alert, DoseAdministration, SideEffect, VitalSigns
    from scheduling.reminders.models import Reminder

    return {
        "vitals": (VitalSigns, "session__patient"),
        "side-effects": (SideEffect, "session__patient"),
        "doses": (DoseAdministration, "session__patient"),
        "questionnaires": (QuestionnaireResponse, "patient"),
        "alerts": (Alert, "patient"),
        "reminders": (Reminder, "session__patient"),
    }


@dataclass
class World:
    clinic: Clinic
    other_clinic: Clinic
    users: dict[str, object] = field(default_factory=dict)
    patient: Patient | None = None  # has the portal login "patient"
    other_patient: Patient | None = None  # same clinic, no login
    foreign_patient: Patient | None = None  # the other clinic's
    courses: dict[str, Course] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # one per caller, issued on first use

    def client(self, who: str) -> APIClient:
        client = APIClient()
        if who != "anonymous":
            if who not in self.tokens:
                self.tokens[who] = api_token(self.users[who])
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.tokens[who]}")
        return client

    # One object of each kind: of the caller's own, of another patient, of another clinic.
    def objects(self, kind: str) -> dict[str, object]:
        p, o, f = self.patient, self.other_patient, self.foreign_patient
        if kind == "clinics":
            return {"own": self.clinic, "foreign": self.other_clinic}
        if kind == "chairs":
            return {
                "own": Chair.objects.filter(clinic=self.clinic).first(),
                "foreign": Chair.objects.filter(clinic=self.other_clinic).first(),
            }
        if kind == "patients":
            return {"own": p, "other_patient": o, "foreign": f}
        if kind == "screenings":
            return {
                "own": Screening.objects.filter(patient=p).first(),
                "other_patient": Screening.objects.filter(patient=o).first(),
                "foreign": Screening.objects.filter(patient=f).first(),
            }
        if kind == "protocols":
            return {
                "own": Protocol.objects.get(clinic=self.clinic, code="own"),
                "foreign": Protocol.objects.get(clinic=self.other_clinic, code="own"),
            }
        if kind == "courses":
            return {"own": self.courses["own"], "other_patient": self.courses["other_patient"],
                    "foreign": self.courses["foreign"]}  # fmt: skip
        if kind == "sessions":
            return {
                key: Session.objects.filter(course=course).order_by("number").first()
                for key, course in self.courses.items()
            }
        chart_kinds = _chart_kinds()
        if kind in chart_kinds:
            model, path = chart_kinds[kind]
            return {
                key: model.objects.filter(**{path: patient}).order_by("id").first()
                for key, patient in (("own", p), ("other_patient", o), ("foreign", f))
            }
        if kind == "contraindications":
            from patients.models import Contraindication

            return {"own": Contraindication.objects.first()}
        raise KeyError(kind)


def build_world(now: dt.datetime) -> World:
    from scheduling.booking.services import protocol_create

    User = get_user_model()
    clinic = make_clinic(slug="a", chairs=3)
    other = make_clinic(slug="b", tz="America/New_York", chairs=2)
    world = World(clinic=clinic, other_clinic=other)
    for role in ROLES:
        user = User.objects.create_user(username=role, password="x-test-only-9")
        staff_membership_add(user=user, clinic=clinic, role=role)
        world.users[role] = user
    outsider = User.objects.create_user(username="outsider", password="x-test-only-9")
    staff_membership_add(user=outsider, clinic=other, role="clinician")
    world.users["other_clinic_clinician"] = outsider
    world.patient = make_ready_patient(clinic, "P-1")
    world.patient.user = User.objects.create_user(username="patient", password="x-test-only-9")
    world.patient.save()
    world.users["patient"] = world.patient.user
    world.other_patient = make_ready_patient(clinic, "P-2")
    world.foreign_patient = make_ready_patient(other, "Q-1")
    for c in (clinic, other):
        protocol_create(
            clinic=c, code="own", name=f"Own weekly {c.slug}", drug="ketamine", route="iv",
            session_minutes=60, min_observation_minutes=30,
            phases=[{"name": "Weekly", "sessions_per_period": 1, "period_unit": "week",
                     "period_length": 1, "periods": 4}],
        )  # fmt: skip
    iv = Protocol.objects.get(clinic=None, code="iv-standard")
    start = (now + dt.timedelta(days=7)).date()
    for key, patient, time in (
        ("own", world.patient, dt.time(9)),
        ("other_patient", world.other_patient, dt.time(12)),
        ("foreign", world.foreign_patient, dt.time(9)),
    ):
        world.courses[key] = course_start(
            patient=patient, protocol=iv, start_date=start, preferred_weekdays=[0, 3],
            preferred_time=time, by=None, now=now,
        )  # fmt: skip
    _chart_first_sessions(world)
    return world


def _chart_first_sessions(world: World) -> None:
    """Each course's first session charted to monitoring, with a high reading (an alert),
    a side effect and a PHQ-9: chart records of every owner for the access tests."""
    from scheduling.chart.services import questionnaire_submit, side_effect_record, vitals_record

    from .conftest import NORMAL_VITALS, chart_through

    carers = {"own": "nurse", "other_patient": "nurse", "foreign": "other_clinic_clinician"}
    for key, course in world.courses.items():
        session = course.sessions.order_by("number").first()
        nurse = world.users[carers[key]]
        start = session.starts_at - dt.timedelta(minutes=15)
        chart_through(session, nurse=nurse, start=start, to="monitoring")
        later = session.starts_at + dt.timedelta(minutes=30)
        vitals_record(session=session, by=nurse, timepoint="during", now=later,
                      **{**NORMAL_VITALS, "systolic": 190})  # fmt: skip
        side_effect_record(session=session, by=nurse, kind="nausea", severity="mild", now=later)
        questionnaire_submit(patient=session.patient, kind="phq9", items=[0] * 9, by=nurse,
                             session=session, now=later)  # fmt: skip
