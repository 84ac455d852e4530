"""What reminders say, and the signed links in them. No database writes.

The words name the clinic, its address and phone, the date and time in the patient's
time zone and the preparation for the protocol (fasting, a ride home, no driving, how
long to stay), and never the drug or the diagnosis: what they take from the clinic (its
name, address, the e-mail sender's name) goes through `discreet`, the same filter the
calendar feed and the answer page use, and every rendered subject, text and HTML part
is checked for them, whoever wrote the template.
"""

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core import signing
from django.template import engines
from django.template.loader import get_template
from django.urls import get_script_prefix, get_urlconf, reverse
from phonenumbers import PhoneNumberFormat, format_number

from .booking.discreet import discreet, forbidden_words_in
from .models import Protocol, ReminderChannel, ReminderPolicy, ReminderTemplate

_LINK_SALT = "scheduling.session-response"


class ReminderContentError(Exception):
    """A message could not be written (template error, or a forbidden word in it)."""


@dataclass(frozen=True)
class Message:
    subject: str  # e-mail only
    text: str
    html: str  # e-mail only


# --- Preparation ---------------------------------------------------------------------------


def _duration(minutes: int) -> str:
    hours, mins = divmod(int(minutes), 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if mins:
        parts.append(f"{mins} minute{'s' if mins != 1 else ''}")
    return " ".join(parts) or "0 minutes"


def preparation_fasting(protocol: Protocol) -> list[str]:
    lines = []
    if protocol.fasting_food_minutes:
        lines.append(f"Do not eat for {_duration(protocol.fasting_food_minutes)} before.")
    if protocol.fasting_liquids_minutes:
        if protocol.route == Protocol.Route.IV:
            lines.append(
                f"Clear liquids only until {_duration(protocol.fasting_liquids_minutes)} "
                "before, then nothing to drink."
            )
        else:
            lines.append(
                f"Do not drink anything for {_duration(protocol.fasting_liquids_minutes)} before."
            )
    return lines


def preparation_lines(protocol: Protocol) -> list[str]:
    """The patient's checklist for one protocol (CLINICAL.md section 7), drug unnamed."""
    # The next-day driving rule is the intranasal label's; after an infusion it is the
    # rest of the day. Decided from the protocol, never written as the drug's name.
    next_day = protocol.drug == Protocol.Drug.ESKETAMINE
    return [
        *preparation_fasting(protocol),
        "Arrange for a responsible adult to take you home: you must not drive yourself.",
        "Do not drive or operate machinery until the next day, after a restful sleep."
        if next_day
        else "Do not drive or operate machinery for the rest of the day.",
        preparation_stay(protocol),
    ]


def preparation_stay(protocol: Protocol) -> str:
    stay = f"Plan to stay about {_duration(protocol.session_minutes)}"
    if protocol.min_observation_minutes:
        stay += (
            f", including at least {_duration(protocol.min_observation_minutes)} of "
            "monitoring after your treatment"
        )
    return stay + "."


# --- Signed links ------------------------------------------------------------------------


def session_response_token(*, session_id: int, starts_at: dt.datetime) -> str:
    """A signed, timestamped token for one session at one time (a move voids it)."""
    return signing.TimestampSigner(salt=_LINK_SALT).sign(
        f"{session_id}.{int(starts_at.timestamp())}"
    )


def session_response_token_read(token: str) -> tuple[int, dt.datetime]:
    """(session id, the session time the link was made for).

    Raises signing.SignatureExpired after REMINDER_LINK_MAX_AGE_DAYS, BadSignature if
    the token was not made here.
    """
    value = signing.TimestampSigner(salt=_LINK_SALT).unsign(
        token, max_age=dt.timedelta(days=settings.REMINDER_LINK_MAX_AGE_DAYS)
    )
    try:
        session_id, ts = (int(part) for part in value.split("."))
    except ValueError as exc:
        raise signing.BadSignature("Malformed token") from exc
    return session_id, dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def session_response_url(*, session_id: int, starts_at: dt.datetime) -> str:
    token = session_response_token(session_id=session_id, starts_at=starts_at)
    head, tail = _response_url_around(settings.SITE_URL, get_script_prefix(), get_urlconf())
    return head + token + tail


@functools.lru_cache(maxsize=8)
def _response_url_around(site_url: str, script_prefix: str, urlconf) -> tuple[str, str]:
    """The answer link's text before and after its token, reversed once rather than once
    a reminder. A signed token's characters are all URL-safe, so `reverse` would write
    the token as it is (tests/test_reminders.py compares the two)."""
    slot = "TOKEN"  # the last one: the site's own address may hold the word too
    url = site_url + reverse("reminders:respond", args=[slot], urlconf=urlconf)
    head, _, tail = url.rpartition(slot)
    return head, tail


# --- Rendering -----------------------------------------------------------------------------


def local_when(starts_at: dt.datetime, tz: zoneinfo.ZoneInfo) -> dict[str, str]:
    local = starts_at.astimezone(tz)
    date = f"{local:%A} {local.day} {local:%B %Y}"
    time = f"{local:%H:%M}"
    zone = local.tzname() or str(tz)
    return {"date": date, "time": time, "timezone": zone, "when": f"{date} at {time} ({zone})"}


def _phone(number) -> str:
    if not number:
        return ""
    try:
        return format_number(number, PhoneNumberFormat.INTERNATIONAL)
    except Exception:  # noqa: BLE001 - a stored but unparsable number: show it as typed
        return str(number)


# --- The clinic as patients see it ----------------------------------------------------------


def clinic_name_for_patients(clinic, sender_name: str | None = None) -> str:
    """The clinic's name in anything a patient receives: the reminder policy's sender
    name, else the clinic's name, through `discreet` ("" if nothing is left of it).

    `sender_name` is the policy's, when the caller has read it; otherwise the policy is
    read from the clinic (select_related("clinic__reminder_policy") makes that free)."""
    if sender_name is None:
        try:
            sender_name = clinic.reminder_policy.sender_name
        except ReminderPolicy.DoesNotExist:
            sender_name = ""
    return discreet(sender_name or clinic.name)


def clinic_address_lines(clinic) -> list[str]:
    """The clinic's address as patients see it, a line each, through `discreet`."""
    lines = discreet(clinic.address or "").splitlines()
    return [line.strip() for line in lines if line.strip()]


@functools.lru_cache(maxsize=8)
def reminder_from_email(from_email: str) -> str:
    """The From of a reminder e-mail (settings.DEFAULT_FROM_EMAIL): its display name
    through `discreet`, the address as it is."""
    name, address = parseaddr(from_email)
    shown = discreet(name)
    if shown == name:
        return from_email
    return formataddr((shown, address)) if shown else address


def reminder_context_shared(*, clinic, sender_name: str, protocol: Protocol) -> dict:
    """The words every reminder of one clinic and protocol shares: the clinic's name,
    address and phone, and the preparation. A batch works them out once (the sender)."""
    return {
        "clinic_name": clinic_name_for_patients(clinic, sender_name) or "Your clinic",
        "clinic_address": ", ".join(clinic_address_lines(clinic)),
        "clinic_phone": _phone(clinic.phone),
        "preparation": preparation_lines(protocol),
        "fasting": preparation_fasting(protocol),
        "stay": preparation_stay(protocol),
    }


def reminder_context(
    *,
    kind: str,
    clinic,
    sender_name: str,
    first_name: str,
    tz: zoneinfo.ZoneInfo,
    protocol: Protocol,
    session_id: int,
    starts_at: dt.datetime,
    shared: dict | None = None,
) -> dict:
    """A reminder's template context; `shared` is reminder_context_shared's for this
    clinic, sender name and protocol, when the caller already has it."""
    if shared is None:
        shared = reminder_context_shared(clinic=clinic, sender_name=sender_name, protocol=protocol)
    return {
        "kind": kind,
        **shared,
        "first_name": first_name,
        **local_when(starts_at, tz),
        "respond_url": session_response_url(session_id=session_id, starts_at=starts_at),
    }


@functools.lru_cache(maxsize=64)
def _shipped(name: str):
    return get_template(f"scheduling/reminders/{name}")


@functools.lru_cache(maxsize=256)
def _compiled(source: str, *, plain: bool):
    if plain:
        source = "{% autoescape off %}" + source + "{% endautoescape %}"
    return engines["django"].from_string(source)


def _render(custom: str, shipped_name: str, context: dict, *, plain: bool) -> str:
    try:
        template = _compiled(custom, plain=plain) if custom.strip() else _shipped(shipped_name)
        return template.render(context)
    except Exception as exc:  # a clinic's template may be broken in any way
        raise ReminderContentError(f"Template {shipped_name}: {type(exc).__name__}") from exc


def reminder_render(
    *, kind: str, channel: str, context: dict, template: ReminderTemplate | None = None
) -> Message:
    """Write one reminder from the clinic's template, or the shipped one."""
    custom_subject = template.subject if template else ""
    custom_text = template.text if template else ""
    custom_html = template.html if template else ""
    if channel == ReminderChannel.SMS:
        text = _render(custom_text, f"{kind}_sms.txt", context, plain=True)
        message = Message(subject="", text=" ".join(text.split()), html="")
    else:
        subject = _render(custom_subject, f"{kind}_subject.txt", context, plain=True)
        message = Message(
            subject=" ".join(subject.split()),
            text=_render(custom_text, f"{kind}_email.txt", context, plain=True).strip() + "\n",
            html=_render(custom_html, f"{kind}_email.html", context, plain=False),
        )
    found = forbidden_words_in(f"{message.subject}\n{message.text}\n{message.html}")
    if found:
        raise ReminderContentError(
            f"The {kind} {channel} reminder would name the drug or the diagnosis "
            f"({', '.join(found)}); change the clinic's reminder name or template."
        )
    return message
