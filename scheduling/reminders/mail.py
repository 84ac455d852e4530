"""The e-mail a reminder is sent as: Django's EmailMultiAlternatives, written out to
bytes for a fraction of the cost, byte for byte the same (tests/test_reminder_mail.py).

Reminder dispatch builds one message per reminder, and the standard library's way of
building one (a tree of MIME objects, every header folded through `email.header.Header`,
a boundary proven absent by a regular expression compiled over the whole text) showed
as a fifth of a reminder's cost in its benchmark. A reminder is always the same shape:
a text part and an HTML part in UTF-8. That shape is written directly, each header set
as Django sets it and folded as the generator folds it; anything else (a line too long
for SMTP, no text body, attachments) goes through Django's own message, with two
cheaper steps kept from before: short plain headers written unfolded, and a random
boundary.
"""

import functools
import re
import secrets
import string
from email._policybase import Compat32
from email.utils import formatdate

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, forbid_multi_line_headers


class _Compat32(Compat32):
    """compat32, with short plain headers written as they are, which is what folding
    them would give; anything else (non-ASCII, long, odd spacing) is folded as before."""

    def _fold(self, name, value, sanitize):
        if isinstance(value, str) and value.isascii() and _unfolded(name, value, self):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


POLICY = _Compat32()


@functools.cache
def _policy(linesep: str) -> _Compat32:
    return POLICY.clone(linesep=linesep)


# A header is set as Django's message sets it (_header_set), then folded as the generator
# folds it (_header_bytes); both pure functions of their arguments. A batch repeats a
# clinic's sender, and its subjects come in a few shapes (see _refill): each is worked
# out once, where `email.header.Header` would otherwise run twice per message.


def _header_set(name: str, value: str) -> tuple[str, str]:
    """A header as Django's message stores it: a line break refused (BadHeaderError),
    anything not ASCII encoded, a subject passed through `Header`."""
    if name.lower() == "subject" and value.isascii() and "\n" not in value and "\r" not in value:
        if _short_plain(value):
            return name, value  # what `Header(value).encode()` gives it: itself
        return name, _refill(_subject_shape(value.translate(_SHAPE)), value)
    return _header_set_once(name, value)


@functools.lru_cache(maxsize=4096)
def _header_set_once(name: str, value: str) -> tuple[str, str]:
    return forbid_multi_line_headers(name, value, "utf-8")


def _short_plain(value: str) -> bool:
    """ASCII words separated by single spaces, short enough never to be folded."""
    return value.isascii() and len(value) <= 76 and " ".join(value.split()) == value


def _header_bytes(name: str, value: str, linesep: str) -> bytes:
    """A stored header as the generator writes it, folded by the message's policy."""
    if value.isascii() and not _unfolded(name, value, POLICY):
        head, parts = _folded_shape(name, value.translate(_SHAPE), linesep)
        return (head + _refill(parts, value)).encode("ascii")
    return _header_bytes_once(name, value, linesep)


def _unfolded(name: str, value: str, policy) -> bool:
    """A header `policy` writes as it is (_Compat32._fold): single-spaced, and short
    enough for one line."""
    fits = len(name) + 2 + len(value) <= (policy.max_line_length or 0)
    return fits and " ".join(value.split()) == value


@functools.lru_cache(maxsize=4096)
def _header_bytes_once(name: str, value: str, linesep: str) -> bytes:
    return _policy(linesep).fold_binary(name, value)


# Setting and folding a plain (ASCII) header look at its length, its spaces, tabs and line
# breaks and at its punctuation (where to break, what looks like a header's name), never
# at which letter or digit stands where. So they are worked out on the header's shape,
# every letter and digit written "a", and its own letters and digits put back in order:
# a batch's subjects differ in their day and time, but come in a handful of shapes.
_ALNUM = string.ascii_letters + string.digits
_SHAPE = str.maketrans(_ALNUM, "a" * len(_ALNUM))
_LETTER = re.compile("[A-Za-z0-9]")


def _refill(parts: tuple[str, ...], value: str) -> str:
    """The shape's result (split at each "a") with the value's letters and digits."""
    letters = _LETTER.findall(value)  # as many as the shape's "a"s (strict: else an error)
    return "".join([p + c for p, c in zip(parts[:-1], letters, strict=True)]) + parts[-1]


@functools.lru_cache(maxsize=1024)
def _subject_shape(shape: str) -> tuple[str, ...]:
    return tuple(forbid_multi_line_headers("Subject", shape, "utf-8")[1].split("a"))


@functools.lru_cache(maxsize=1024)
def _folded_shape(name: str, shape: str, linesep: str) -> tuple[str, tuple[str, ...]]:
    line = _policy(linesep).fold_binary(name, shape).decode("ascii")
    head = f"{name}: "
    if not line.startswith(head):  # cannot happen: compat32 writes the name first
        raise AssertionError("a folded header does not start with its name")
    return head, tuple(line[len(head) :].split("a"))


_NEWLINE = re.compile(r"\r\n|\r|\n")  # the generator's own (email.generator.NLCRE)
# Headers the direct writing sets itself, or that Django's message treats specially.
_OWN = {"from", "to", "cc", "reply-to", "date", "content-type", "mime-version"}


def _boundary() -> str:
    # 128 random bits: a boundary that cannot occur in the text by chance.
    return f"==============={secrets.token_hex(16)}=="


def _plain_body(text) -> bool:
    """UTF-8 as it is (Django's choice): no line SMTP would refuse, which Django would
    send quoted-printable instead, and nothing that does not encode."""
    if not isinstance(text, str):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    lines = text.splitlines()
    if max(map(len, lines), default=0) * 4 <= RFC5322_EMAIL_LINE_LENGTH_LIMIT:
        return True  # a character is at most 4 bytes: no line can be too long
    return not any(
        len(line.encode(errors="surrogateescape")) > RFC5322_EMAIL_LINE_LENGTH_LIMIT
        for line in lines
    )


class _Written:
    """What `ReminderEmail.message()` returns for a reminder-shaped message: `as_bytes`
    writes it directly. Anything else asked of it is answered by Django's own message,
    built on first use, which `as_bytes` then writes too."""

    def __init__(self, email: "ReminderEmail", headers: list[tuple[str, str]], parts):
        # Headers as Django stores them (its own checks and encoding already applied).
        self._email, self._headers, self._parts = email, headers, parts
        self._boundary = _boundary()  # always this length: its header folds as below
        self._full = None

    def _message(self):
        if self._full is None:
            self._full = EmailMultiAlternatives.message(self._email)
            self._full.policy = POLICY
            self._full.set_boundary(self._boundary)
        return self._full

    def set_boundary(self, boundary: str) -> None:
        self._boundary = boundary
        self._message().set_boundary(boundary)

    def get_boundary(self, failobj=None):
        return self._boundary

    def is_multipart(self) -> bool:
        return True

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        if self._full is not None or unixfrom:
            return self._message().as_bytes(unixfrom=unixfrom, linesep=linesep)
        nl, boundary = linesep, self._boundary
        head = (
            f'Content-Type: multipart/alternative;{nl} boundary="{boundary}"{nl}'
            f"MIME-Version: 1.0{nl}"
        )
        out = [head.encode(), *(_header_bytes(n, v, nl) for n, v in self._headers)]
        for subtype, text in self._parts:
            cte = "7bit" if text.isascii() else "8bit"
            out.append(
                f"{nl}--{boundary}{nl}"
                f'Content-Type: text/{subtype}; charset="utf-8"{nl}MIME-Version: 1.0{nl}'
                f"Content-Transfer-Encoding: {cte}{nl}{nl}".encode()
            )
            out.append(_NEWLINE.sub(nl, text).encode())
        out.append(f"{nl}--{boundary}--{nl}".encode())
        return b"".join(out)

    def __getattr__(self, name):
        if name.startswith("_"):  # our own state, or a protocol probe (copy, pickle)
            raise AttributeError(name)
        return getattr(self._message(), name)

    def __getitem__(self, name):
        return self._message()[name]

    def __setitem__(self, name, value):
        self._message()[name] = value

    def __delitem__(self, name):
        del self._message()[name]

    def __contains__(self, name):
        return name in self._message()

    def __len__(self):
        return len(self._message())

    def __iter__(self):
        return iter(self._message())

    def __str__(self):
        return self._message().as_string()


class ReminderEmail(EmailMultiAlternatives):
    def _written(self) -> _Written | None:
        """The headers and parts to write directly, or None for Django's own message."""
        extra = {name.lower(): name for name in self.extra_headers}
        if (
            self.cc or self.reply_to or self.attachments or not self.to or not self.body
            or (self.encoding or settings.DEFAULT_CHARSET) != "utf-8"
            or self.content_subtype != "plain" or self.alternative_subtype != "alternative"
            or len(self.alternatives) != 1 or self.alternatives[0].mimetype != "text/html"
            or "message-id" not in extra or _OWN & extra.keys()
        ):  # fmt: skip
            return None
        html = self.alternatives[0].content
        if not (_plain_body(self.body) and _plain_body(html)):
            return None
        headers = [
            ("Subject", self.subject),
            ("From", self.from_email),
            ("To", ", ".join(str(v) for v in self.to)),
            ("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)),
            *self.extra_headers.items(),
        ]
        # What Django's message does to each header as it is set: refuse a line break,
        # encode what is not ASCII, and pass a subject through `Header`.
        headers = [_header_set(name, str(value)) for name, value in headers]
        return _Written(self, headers, [("plain", self.body), ("html", html)])

    def message(self):
        written = self._written()
        if written is not None:
            return written
        msg = super().message()
        msg.policy = POLICY
        if msg.is_multipart():
            msg.set_boundary(_boundary())
        return msg
