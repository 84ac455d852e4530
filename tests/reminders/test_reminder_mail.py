"""The reminder e-mail as it leaves: Django's EmailMultiAlternatives (a text part and an
HTML alternative) through Django's mail backend, one connection a batch. What the
receiving end reads is checked on the message's bytes, parsed back."""

import datetime as dt
import email
import smtplib
from email import policy
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import get_connection

from scheduling.booking.discreet import FORBIDDEN_WORDS
from scheduling.reminders.content import reminder_from_email
from scheduling.reminders.models import Reminder, ReminderTemplate
from scheduling.reminders.services import reminders_dispatch_due, reminders_send_batch

from ..conftest import at, make_ready_patient
from .test_reminders import first, rows, run_sweep, start

R = Reminder.Status
K = Reminder.Kind
C = Reminder.Channel


@pytest.fixture
def patient(clinic):
    return make_ready_patient(clinic, email="pat@example.org", phone="+447700900123")


def _parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.message().as_bytes(), policy=policy.default)


def test_a_reminder_e_mail_is_a_text_and_an_html_part_with_its_own_message_id(patient, settings):
    settings.DEFAULT_FROM_EMAIL = "Harbour Clinic <reminders@clinic.example>"
    start(patient)

    assert run_sweep(at(2027, 1, 2, 10)) == {"sent": 2}

    (sent,) = mail.outbox
    parsed = _parsed(sent)
    confirm = rows(first(patient.courses.get()))[K.CONFIRM, C.EMAIL]
    assert parsed["Message-ID"] == confirm.provider_message_id
    assert confirm.provider_message_id.startswith("<reminder.")
    assert confirm.provider_message_id.endswith("@clinic.example>")
    assert parsed["From"] == reminder_from_email(settings.DEFAULT_FROM_EMAIL)
    assert parsed["To"] == "pat@example.org"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert "Reply-To" not in parsed and "Cc" not in parsed and "Bcc" not in parsed
    assert parsed["Subject"] == sent.subject
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert text.get_content() == sent.body
    assert html.get_content() == sent.alternatives[0].content


def test_words_outside_ascii_reach_the_patient_as_the_clinic_wrote_them(patient, settings):
    # A long subject too, which is folded; neither may name the drug or the diagnosis.
    settings.DEFAULT_FROM_EMAIL = "Clinique Zoé — Ketamine <rappels@clinique.example>"
    subject = (
        "Votre séance du {{ date }} à {{ time }}, à la Clinique Zoé: merci de confirmer — à bientôt"
    )
    ReminderTemplate.objects.create(
        clinic=patient.clinic, kind=K.CONFIRM, channel=C.EMAIL, subject=subject,
        text="Bonjour {{ first_name }}, à très bientôt — l'équipe 😀", html="<p>Déjà là ?</p>",
    )  # fmt: skip
    start(patient)

    run_sweep(at(2027, 1, 2, 10))

    (sent,) = mail.outbox
    raw = sent.message().as_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    # Folded from its first line (Django's compat32 policy): read back with a space first.
    assert parsed["Subject"].lstrip() == sent.subject
    assert sent.subject.startswith("Votre séance du ") and len(sent.subject) > 78
    assert parsed["From"] == "Clinique Zoé <rappels@clinique.example>"
    assert parsed.get_body(("plain",)).get_content() == sent.body
    assert "à très bientôt" in sent.body
    headers = raw.split(b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n", 1)[0]
    assert headers.isascii()  # encoded, never written as they are
    folded = f"{parsed['Subject']}\n{parsed['From']}".casefold()
    assert not [w for w in FORBIDDEN_WORDS if w in folded]


def _due_e_mails(patient, now) -> int:
    course = start(patient)
    Reminder.objects.filter(channel=C.SMS).update(due_at=now + dt.timedelta(days=30))
    return Reminder.objects.filter(
        session__course=course, status=R.PENDING, channel=C.EMAIL
    ).update(due_at=now - dt.timedelta(minutes=1), send_by=now + dt.timedelta(hours=1))


def test_a_batch_sends_its_e_mails_through_one_connection(patient):
    now = at(2027, 1, 2, 10)
    due = _due_e_mails(patient, now)
    assert due >= 3
    (token,) = reminders_dispatch_due(now=now)

    with mock.patch(
        "scheduling.reminders.services.get_connection", wraps=get_connection
    ) as connect:
        assert reminders_send_batch(claim_token=token, now=now) == {"sent": due}

    assert connect.call_count == 1 and len(mail.outbox) == due


def test_a_connection_that_breaks_is_closed_and_the_batch_goes_on_with_a_new_one(patient):
    now = at(2027, 1, 2, 10)
    due = _due_e_mails(patient, now)
    (token,) = reminders_dispatch_due(now=now)
    real = mail.backends.locmem.EmailBackend.send_messages
    calls = []

    def once_broken(self, messages):
        calls.append(self)
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("gone")
        return real(self, messages)

    with (
        mock.patch.object(mail.backends.locmem.EmailBackend, "send_messages", once_broken),
        mock.patch.object(mail.backends.locmem.EmailBackend, "close") as close,
    ):
        assert reminders_send_batch(claim_token=token, now=now) == {"retry": 1, "sent": due - 1}

    assert calls[0] is not calls[1] and all(c is calls[1] for c in calls[1:])
    assert close.call_count == 2  # the broken one, and the batch's at its end
    (retry,) = Reminder.objects.filter(status=R.PENDING, channel=C.EMAIL, last_error__gt="")
    assert retry.last_error == "SMTP unreachable: SMTPServerDisconnected"
