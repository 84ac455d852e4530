"""Nothing a patient receives names the drug or the diagnosis, even when the clinic's
own name and address do (issue 24, item 7).

A clinic named and addressed "Manhattan Ketamine & Depression Center", with a protocol
named with drug words: the calendar feed (its real URL), every reminder's e-mail
(subject, text, HTML, From) and text message, the page a reminder links to and the
portal say none of the words, and still show the time and the place, which reads
"Manhattan Center" (scheduling.booking.discreet.discreet).
"""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core import mail
from icalendar import Calendar

from patients.services import patient_calendar_token_reset
from scheduling.booking.models import Protocol, Session
from scheduling.booking.services import course_start
from scheduling.reminders.content import session_response_token
from scheduling.reminders.models import Reminder, ReminderPolicy
from scheduling.reminders.services import reminders_dispatch_due, reminders_send_batch
from scheduling.reminders.sms import LocmemSmsBackend

from ..conftest import make_clinic, make_ready_patient

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
NAME = "Manhattan Ketamine & Depression Center"
ADDRESS = f"{NAME}\n350 Fifth Avenue\nNew York, NY 10118"
PROTOCOL_NAME = "Ketamine infusions for depression (Spravato alternative, psychiatric referral)"
# Not the application's own list: what the issue says must never show.
WORDS = ("ketamine", "esketamine", "spravato", "depress", "psychiatr", "suicid")
NOW = dt.datetime(2026, 12, 28, 12, tzinfo=dt.UTC)  # a week before the first session
FIRST = dt.datetime(2027, 1, 4, 10, tzinfo=NEW_YORK)  # Monday 4 January 2027, 10:00


def named(text: str) -> list[str]:
    lowered = text.casefold()
    return [word for word in WORDS if word in lowered]


@pytest.fixture(autouse=True)
def _clean_sms_outbox():
    LocmemSmsBackend.outbox.clear()


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def clinic(db):
    clinic = make_clinic(slug="manhattan", tz="America/New_York")
    clinic.name = NAME
    clinic.address = ADDRESS
    clinic.phone = "+12125550100"
    clinic.save()
    return clinic


@pytest.fixture
def session(clinic) -> Session:
    protocol = Protocol.objects.get(clinic=None, code="iv-standard")
    Protocol.objects.filter(pk=protocol.pk).update(name=PROTOCOL_NAME)  # rolled back after
    protocol.refresh_from_db()
    patient = make_ready_patient(
        clinic, "MRN-NY", email="pat@example.org", phone="+12125550123", first_name="Alex"
    )
    course = course_start(
        patient=patient,
        protocol=protocol,
        start_date=FIRST.date(),
        preferred_weekdays=[0, 3],
        preferred_time=dt.time(10),
        by=None,
        now=NOW,
    )
    first = course.sessions.get(number=1)
    assert first.starts_at == FIRST
    return first


def send_first_sessions_reminders(session) -> None:
    """Sweep at each of the first session's reminders' due times, as beat would."""
    for due in sorted(
        set(Reminder.objects.filter(session=session).values_list("due_at", flat=True))
    ):
        for token in reminders_dispatch_due(now=due):
            reminders_send_batch(claim_token=token, now=due)
    statuses = set(Reminder.objects.filter(session=session).values_list("status", flat=True))
    assert statuses == {Reminder.Status.SENT}, statuses


# --- the rule ------------------------------------------------------------------------------


def test_the_filter_leaves_a_readable_name():
    from scheduling.booking.discreet import discreet  # here: the module is new

    assert discreet(NAME) == "Manhattan Center"
    assert discreet(ADDRESS) == "Manhattan Center\n350 Fifth Avenue\nNew York, NY 10118"
    assert discreet("Harbour Psychiatric Associates, Suite 4") == "Harbour Associates, Suite 4"
    assert discreet("Esketamine") == ""
    assert discreet("Harbour Clinic, 1 High Street") == "Harbour Clinic, 1 High Street"


# --- the calendar feed ---------------------------------------------------------------------


def test_the_calendar_feed_names_no_drug_or_diagnosis_and_shows_the_time_and_place(
    client, session, frozen
):
    token = patient_calendar_token_reset(patient=session.patient)

    response = client.get(f"/calendar/{token}.ics")

    assert response.status_code == 200
    unfolded = response.content.decode().replace("\r\n ", "")  # RFC 5545 line folding
    assert named(unfolded) == [], unfolded
    events = {str(e["uid"]): e for e in Calendar.from_ical(response.content).walk("VEVENT")}
    event = next(e for uid, e in events.items() if uid.startswith(f"session-{session.pk}@"))
    assert event.decoded("dtstart") == FIRST
    assert str(event["summary"]) == "Appointment at Manhattan Center"
    assert str(event["location"]) == "Manhattan Center, 350 Fifth Avenue, New York, NY 10118"
    assert "responsible adult" in str(event["description"])
    for e in events.values():
        fields = [str(e.get(name, "")) for name in ("summary", "location", "description")]
        assert named("\n".join(fields)) == []


def test_a_neutral_name_the_clinic_sets_is_the_feeds_and_the_pages_name(
    client, clinic, session, frozen
):
    ReminderPolicy.objects.create(clinic=clinic, sender_name="Fifth Avenue Practice")
    token = patient_calendar_token_reset(patient=session.patient)

    feed = Calendar.from_ical(client.get(f"/calendar/{token}.ics").content)
    page = client.get(answer_link(session)).content.decode()

    summaries = {str(e["summary"]) for e in feed.walk("VEVENT")}
    assert summaries == {"Appointment at Fifth Avenue Practice"}
    assert "<h1>Fifth Avenue Practice</h1>" in page and named(page) == []


# --- reminders -----------------------------------------------------------------------------


def test_every_reminder_e_mail_names_no_drug_or_diagnosis_and_shows_the_time_and_place(session):
    send_first_sessions_reminders(session)

    assert len(mail.outbox) == 3  # confirm, prepare, ride
    for email in mail.outbox:
        (html, mime), *_ = email.alternatives
        raw = email.message().as_bytes().decode()
        for text in (email.subject, email.body, html, raw):
            assert named(text) == [], text
        assert "10:00" in email.subject + email.body
        assert "Manhattan Center" in email.subject
        assert "Manhattan Center, 350 Fifth Avenue, New York, NY 10118" in email.body
        assert "350 Fifth Avenue" in html


def test_the_from_header_names_no_drug_or_diagnosis(session, settings):
    settings.DEFAULT_FROM_EMAIL = f"{NAME} <reminders@clinic.example>"

    send_first_sessions_reminders(session)

    assert mail.outbox
    for email in mail.outbox:
        assert email.from_email == "Manhattan Center <reminders@clinic.example>"
        message = email.message()
        assert message["From"] == "Manhattan Center <reminders@clinic.example>"
        assert message["Message-ID"].endswith("@clinic.example>")
        assert named(message.as_bytes().decode()) == []


def test_every_text_message_names_no_drug_or_diagnosis_and_shows_the_time_and_place(session):
    send_first_sessions_reminders(session)

    texts = [m.body for m in LocmemSmsBackend.outbox]
    assert len(texts) == 3
    for text in texts:
        assert named(text) == [], text
        assert text.startswith("Manhattan Center: ")
        assert "10:00" in text
    assert any("350 Fifth Avenue" in text for text in texts)  # the ride reminder


# --- the pages a patient opens ---------------------------------------------------------------


def answer_link(session) -> str:
    token = session_response_token(session_id=session.pk, starts_at=session.starts_at)
    return f"/reminders/answer/{token}/"


def test_the_answer_page_names_no_drug_or_diagnosis_and_shows_the_time_and_place(
    client, session, frozen
):
    page = client.get(answer_link(session))

    assert page.status_code == 200
    html = page.content.decode()
    assert named(html) == [], html
    assert "Monday 4 January 2027 at 10:00" in html
    assert "<h1>Manhattan Center</h1>" in html
    assert "350 Fifth Avenue" in html and "Confirm: I will come" in html

    data = {"answer": "confirm", "csrfmiddlewaretoken": page.context["csrf_token"]}
    done = client.post(answer_link(session), data).content.decode()
    assert "your appointment is confirmed" in done and named(done) == []


def test_the_portal_names_no_drug_or_diagnosis(client, session, frozen, django_user_model):
    patient = session.patient
    patient.user = django_user_model.objects.create_user("alex", password="x")
    patient.save()
    client.force_login(patient.user)

    html = client.get("/portal/").content.decode()

    assert "Manhattan Center" in html and "350 Fifth Avenue" in html
    # The PHQ-9 link names the questionnaire, not a diagnosis; nothing else may.
    assert named(html) == [], html
