"""The e-mail a reminder is sent as: Django's EmailMultiAlternatives, written out to
bytes at half the cost, byte for byte the same (tests/test_reminder_mail.py).

Two costs of the standard library's `compat32` generator are per message and avoidable:
every header goes through `email.header.Header` to be folded, even a short ASCII one
that needs no folding; and a multipart message's boundary is made by compiling a regular
expression over the whole text (never cached: each boundary is new) to prove it absent.
Reminder dispatch builds one message per reminder, so both showed in its benchmark.
"""

import secrets
from email._policybase import Compat32

from django.core.mail import EmailMultiAlternatives


class _Compat32(Compat32):
    """compat32, with short plain headers written as they are, which is what folding
    them would give; anything else (non-ASCII, long, odd spacing) is folded as before."""

    def _fold(self, name, value, sanitize):
        if (
            isinstance(value, str)
            and value.isascii()
            and " ".join(value.split()) == value
            and len(name) + 2 + len(value) <= (self.max_line_length or 0)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


POLICY = _Compat32()


class ReminderEmail(EmailMultiAlternatives):
    def message(self):
        msg = super().message()
        msg.policy = POLICY
        if msg.is_multipart():
            # 128 random bits: a boundary that cannot occur in the text by chance.
            msg.set_boundary(f"==============={secrets.token_hex(16)}==")
        return msg
