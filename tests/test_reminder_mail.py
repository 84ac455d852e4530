"""The reminder e-mail's faster writing (scheduling.mail) gives the very bytes Django's
own message gives, whatever the subject, sender name and text."""

import string
from email.utils import formataddr

from django.core.mail import EmailMultiAlternatives
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.mail import ReminderEmail

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


def _bytes(cls, *, subject, name, text, html, boundary=BOUNDARY) -> bytes:
    email = cls(
        subject=subject, body=text, from_email=formataddr((name, "reminders@example.org")),
        to=["ann@example.org"],
        headers={"Message-ID": "<reminder.1.1798185600@example.org>",
                 "Auto-Submitted": "auto-generated", "Date": "Sat, 02 Jan 2027 10:00:00 -0000"},
    )  # fmt: skip
    email.attach_alternative(html, "text/html")
    message = email.message()
    message.set_boundary(boundary)
    return message.as_bytes(linesep="\r\n")


@settings(max_examples=300, deadline=None)
@given(subject=header_text, name=header_text, text=body_text, html=body_text)
def test_the_reminder_email_is_byte_for_byte_djangos(subject, name, text, html):
    mine = _bytes(ReminderEmail, subject=subject, name=name, text=text, html=html)
    django = _bytes(EmailMultiAlternatives, subject=subject, name=name, text=text, html=html)
    assert mine == django


def test_each_reminder_email_has_a_boundary_of_its_own():
    boundaries = set()
    for _ in range(3):
        email = ReminderEmail(subject="s", body="t", to=["ann@example.org"])
        email.attach_alternative("<p>t</p>", "text/html")
        message = email.message()
        boundaries.add(message.get_boundary())
        assert message.get_boundary().encode() in message.as_bytes()
    assert len(boundaries) == 3
