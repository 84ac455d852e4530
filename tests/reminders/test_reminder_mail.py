"""The reminder e-mail's faster writing (scheduling.mail) gives the very bytes Django's
own message gives, whatever the subject, sender name and text: written directly for a
reminder's usual shape, through Django's message otherwise."""

import string
from email.utils import formataddr
from unittest import mock

from django.core.mail import EmailMultiAlternatives
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.reminders.mail import ReminderEmail

BOUNDARY = "===============0123456789abcdef0123456789abcdef=="
# Header text: printable ASCII with runs of spaces and tabs, "=?" look-alikes, and
# letters from outside ASCII (which must be encoded, never written as they are).
header_text = (
    st.lists(
        st.sampled_from([*string.printable[:95], "\t", "  ", "=?", "?=", "é", "ß", "—", "😀"]),
        min_size=1,
        max_size=60,
    )
    .map("".join)
    .filter(lambda s: s.strip())
)
body_text = st.text(min_size=0, max_size=2000)


def _email(cls, *, subject, name, text, html, date=True):
    headers = {"Message-ID": "<reminder.1.1798185600@example.org>",
               "Auto-Submitted": "auto-generated"}  # fmt: skip
    if date:
        headers["Date"] = "Sat, 02 Jan 2027 10:00:00 -0000"
    email = cls(subject=subject, body=text, to=["ann@example.org"], headers=headers,
                from_email=formataddr((name, "reminders@example.org")))  # fmt: skip
    email.attach_alternative(html, "text/html")
    return email


def _bytes(cls, *, linesep="\r\n", **fields) -> bytes:
    if cls is ReminderEmail:  # its own boundary, as it makes them: written directly
        with mock.patch("scheduling.reminders.mail._boundary", return_value=BOUNDARY):
            return _email(cls, **fields).message().as_bytes(linesep=linesep)
    message = _email(cls, **fields).message()
    message.set_boundary(BOUNDARY)
    return message.as_bytes(linesep=linesep)


@settings(max_examples=300, deadline=None)
@given(subject=header_text, name=header_text, text=body_text, html=body_text)
def test_the_reminder_email_is_byte_for_byte_djangos(subject, name, text, html):
    mine = _bytes(ReminderEmail, subject=subject, name=name, text=text, html=html)
    django = _bytes(EmailMultiAlternatives, subject=subject, name=name, text=text, html=html)
    assert mine == django


plain_header = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + " .,:;!'()&-"),
    min_size=1,
    max_size=50,
).filter(lambda s: s.strip())
# Plain subjects around the length where a header starts to fold (kept as they are up to
# 76 characters, folded by Django's `Header` past 78).
plain_long = st.text(
    alphabet=st.sampled_from(string.ascii_letters + "  ,;"), min_size=60, max_size=110
).filter(lambda s: s.strip())
# Subjects as clinics write them, long enough to fold, with the marks folding prefers
# to break after (";" then ","), and brackets, colons and odd words.
subject_words = st.lists(
    st.sampled_from([
        "Harbour", "Clinic:", "Clinic;", "please", "confirm,", "your", "appointment", "on",
        "Wednesday", "9", "December", "2026", "at", "10:03", "(Europe/London)", "back\\slash",
        "a-very-long-hyphenated-word-with-no-space-in-it", "=?utf-8?q?x?=", "",
    ]),
    min_size=6,
    max_size=24,
).map(" ".join)  # fmt: skip
# Bodies as reminders have them, and worse: any text, line ends of every kind, long lines.
reminder_text = st.one_of(
    body_text,
    st.lists(
        st.sampled_from(["Hello Ann,", "é", "\n", "\r\n", "\r", " ", "x" * 600, "—", "😀" * 260])
    ).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(
    subject=st.one_of(plain_header, plain_long, subject_words, header_text),
    name=st.one_of(plain_header, subject_words, header_text),
    text=reminder_text,
    html=reminder_text,
    linesep=st.sampled_from(["\r\n", "\n"]),
)
def test_a_reminder_written_directly_is_byte_for_byte_djangos(subject, name, text, html, linesep):
    import time_machine

    fields = {"subject": subject, "name": name, "text": text, "html": html, "date": False}
    with time_machine.travel("2027-01-02 10:00:00Z", tick=False):  # the Date header
        mine = _bytes(ReminderEmail, linesep=linesep, **fields)
        django = _bytes(EmailMultiAlternatives, linesep=linesep, **fields)
    assert mine == django


def test_a_reminder_shaped_message_is_written_directly_and_anything_else_is_djangos():
    from scheduling.reminders.mail import _Written

    def written(**fields) -> bool:
        base = {"subject": "Your visit on Monday", "name": "Harbour Clinic",
                "text": "Hello Ann,\nsee you soon.\n", "html": "<p>Hello Ann</p>",
                "date": False}  # fmt: skip
        return isinstance(_email(ReminderEmail, **{**base, **fields}).message(), _Written)

    assert written()
    assert written(text="Hello José — à lundi\n")  # UTF-8 bodies too
    assert written(subject="Votre séance de lundi", name="Clinique Zoé")  # encoded headers
    assert written(subject="Your appointment " * 8)  # a folded one
    assert not written(text="x" * 1200)  # a line SMTP refuses: quoted-printable
    assert not written(text="")  # no text part at all
    assert not written(date=True)  # a Date of the caller's own

    import pytest
    from django.core.mail import BadHeaderError

    for cls in (ReminderEmail, EmailMultiAlternatives):  # header injection: refused alike
        with pytest.raises(BadHeaderError):
            _email(cls, subject="Hi\nBcc: x@example.org", name="C", text="t", html="h",
                   date=False).message()  # fmt: skip

    message = _email(ReminderEmail, subject="Hi", name="Clinic", text="t", html="<p>t</p>",
                     date=False).message()  # fmt: skip
    assert message["Subject"] == "Hi" and message.get_content_type() == "multipart/alternative"
    message["X-Extra"] = "1"  # a change goes into the bytes: Django's message from then on
    assert b"X-Extra: 1" in message.as_bytes()


def test_each_reminder_email_has_a_boundary_of_its_own():
    boundaries = set()
    for _ in range(3):
        email = ReminderEmail(subject="s", body="t", to=["ann@example.org"])
        email.attach_alternative("<p>t</p>", "text/html")
        message = email.message()
        boundaries.add(message.get_boundary())
        assert message.get_boundary().encode() in message.as_bytes()
    assert len(boundaries) == 3
