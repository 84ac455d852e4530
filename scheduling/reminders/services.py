"""Reminders: planned with the booking, claimed by a sweep, sent exactly once; and the
notices that tell staff what needs doing.

The life of a reminder row (one per session, kind and channel):

    pending --sweep claims--> sending --worker--> sent | skipped | failed
       ^                          |  (transient failure, with backoff; or a claim
       +--------------------------+   whose worker died, after the claim timeout)
    pending | sending --session cancelled--> cancelled (planned again if restored)

Exactly once: the sweep claims rows with a conditional UPDATE (pending and due ->
sending, with a fresh claim token), so two sweeps never claim the same row. The worker
locks each row, checks it still holds the claim and that the session is still booked
at the planned time, marks it sent and calls the transport inside that one transaction:
the commit follows the transport's success at once. A worker killed before the
transport call leaves the row "sending" with its claim; the task is redelivered (late
acknowledgement) or, failing that, the sweep takes the claim back: once the batch's
heartbeat has been silent REMINDER_STALL_SECONDS, or, for a batch that never started,
after REMINDER_CLAIM_TIMEOUT_SECONDS. The one window left is between the provider
accepting a message and the commit reaching the database; a kill exactly there sends
that message twice, with the same Message-ID (docs/reminders.md).
"""

import contextlib
import datetime as dt
import logging
import smtplib
import time
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Sequence
from email.utils import parseaddr
from functools import cache, partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from clinic.models import Clinic

from ..booking.models import Course, Protocol, Session, StaffNotice
from ..booking.services.notices import staff_notice_raise, staff_notices_raise
from .content import (
    Message,
    ReminderContentError,
    reminder_context,
    reminder_context_shared,
    reminder_from_email,
    reminder_render,
)
from .models import Reminder, ReminderChannel, ReminderPolicy, ReminderTemplate
from .selectors import (
    ReminderRuleSpec,
    courses_maintenance_to_book,
    reminder_policy,
    reminder_rules,
)
from .sms import SmsError, SmsMessage, get_sms_backend
from .timing import QuietHours, reminder_timing

logger = logging.getLogger(__name__)

R = Reminder.Status
SEND_TASK = "scheduling.tasks.reminders_send_batch"
SWEEP_TASK = "scheduling.tasks.reminders_dispatch_due"
SWEEP_INTERVAL = dt.timedelta(minutes=1)


# --- Planning ------------------------------------------------------------------------------


def _patient_quiet(patient, policy: ReminderPolicy) -> QuietHours:
    if patient.quiet_hours_start is not None and patient.quiet_hours_end is not None:
        return QuietHours(patient.quiet_hours_start, patient.quiet_hours_end)
    return QuietHours(policy.quiet_start, policy.quiet_end)


def _planned(session, rule, *, tz, quiet: QuietHours, now, catch_up=False) -> dict:
    """A rule's reminder for a session: its status, skip reason, due time and deadline."""
    timing = reminder_timing(
        session_starts_at=session.starts_at, lead=rule.lead, latest=rule.latest,
        tz=tz, quiet=quiet, now=now, catch_up=catch_up,
    )  # fmt: skip
    return {
        "status": R.SKIPPED if timing.skip_reason else R.PENDING,
        "skip_reason": timing.skip_reason,
        "due_at": timing.due_at,
        "send_by": timing.send_by,
    }


def _reset(reminder: Reminder, **fields) -> None:
    """Plan a row afresh: a new time, no claim, no record of an earlier send."""
    reminder.claim_token = None
    reminder.claimed_at = None
    reminder.attempts = 0
    reminder.sent_at = None
    reminder.provider_message_id = ""
    reminder.delivery_status = ""
    reminder.delivery_updated_at = None
    reminder.last_error = ""
    for name, value in fields.items():
        setattr(reminder, name, value)


_PLAN_FIELDS = [
    "status",
    "skip_reason",
    "due_at",
    "send_by",
    "session_starts_at",
    "claim_token",
    "claimed_at",
    "attempts",
    "sent_at",
    "provider_message_id",
    "delivery_status",
    "delivery_updated_at",
    "last_error",
    "updated_at",
]


def reminders_plan_for_sessions(*, sessions: Sequence[Session], now: dt.datetime) -> list[Reminder]:
    """Plan, re-plan or cancel the reminders of these sessions, in the caller's transaction.

    A booked session gets one row per (kind, channel) of its clinic's rules, due at the
    lead time in the patient's local time, moved out of quiet hours; a time already
    past is recorded as skipped, never sent late. A moved session's rows are planned
    afresh for the new time (and the patient's answer to the old time is cleared); a
    session no longer booked has its unsent rows cancelled. Rows already planned for the
    session's current time are left as they are, so planning twice changes nothing.
    Returns the rows created or changed.
    """
    ids = [s.pk for s in sessions]
    if not ids:
        return []
    with transaction.atomic():
        fresh = list(
            Session.objects.filter(pk__in=ids).select_related("patient", "clinic").order_by("pk")
        )
        existing: dict[tuple[int, str, str], Reminder] = {
            (r.session_id, r.kind, r.channel): r
            for r in Reminder.objects.select_for_update().filter(session_id__in=ids)
        }
        rules_by_clinic: dict[int, list] = {}
        policy_by_clinic: dict[int, ReminderPolicy] = {}
        create: list[Reminder] = []
        update: list[Reminder] = []
        moved: list[int] = []
        soon = now + SWEEP_INTERVAL
        kick = False
        for session in fresh:
            own = {key: r for key, r in existing.items() if key[0] == session.pk}
            if session.status != Session.Status.BOOKED:
                for r in own.values():
                    if r.status in (R.PENDING, R.SENDING):
                        r.status, r.skip_reason = R.CANCELLED, ""
                        r.claim_token, r.claimed_at = None, None
                        update.append(r)
                continue
            if session.clinic_id not in rules_by_clinic:
                rules_by_clinic[session.clinic_id] = reminder_rules(clinic_id=session.clinic_id)
                policy_by_clinic[session.clinic_id] = reminder_policy(clinic_id=session.clinic_id)
            patient = session.patient
            tz = zoneinfo.ZoneInfo(patient.timezone or session.clinic.timezone)
            quiet = _patient_quiet(patient, policy_by_clinic[session.clinic_id])
            if any(r.session_starts_at != session.starts_at for r in own.values()):
                moved.append(session.pk)
            wanted = set()
            for rule in rules_by_clinic[session.clinic_id]:
                plan = _planned(session, rule, tz=tz, quiet=quiet, now=now)
                plan["session_starts_at"] = session.starts_at
                for channel in rule.channels:
                    key = (session.pk, rule.kind, channel)
                    wanted.add(key)
                    row = own.get(key)
                    if row is None:
                        row = Reminder(
                            session=session,
                            clinic_id=session.clinic_id,
                            kind=rule.kind,
                            channel=channel,
                            **plan,
                        )
                        create.append(row)
                    elif row.session_starts_at != session.starts_at or row.status == R.CANCELLED:
                        _reset(row, **plan)
                        update.append(row)
                    else:
                        continue  # already planned for this time
                    kick = kick or (row.status == R.PENDING and row.due_at <= soon)
            for key, row in own.items():  # a kind or channel the clinic no longer uses
                if key not in wanted and row.status in (R.PENDING, R.SENDING):
                    row.status, row.claim_token, row.claimed_at = R.CANCELLED, None, None
                    update.append(row)
        if create:
            Reminder.objects.bulk_create(create, batch_size=1000)
        if update:
            for row in update:
                row.updated_at = now
            Reminder.objects.bulk_update(update, _PLAN_FIELDS, batch_size=1000)
        if moved:
            Session.objects.filter(pk__in=moved).update(patient_response="", responded_at=None)
            Session.objects.filter(pk__in=moved).mark_changed()
        if kick:
            # Due before the next beat sweep: start one as soon as this booking commits.
            transaction.on_commit(partial(_enqueue, SWEEP_TASK, {}))
    return create + update


def reminders_plan_for_session(*, session: Session, now: dt.datetime) -> list[Reminder]:
    return reminders_plan_for_sessions(sessions=[session], now=now)


# Skipped for a reason the patient's own settings can lift. Anything else (sent, failed,
# passed when booked, too late when its time came) is history and stays as it is.
_RETIMABLE_SKIPS = (
    Reminder.SkipReason.OPTED_OUT,
    Reminder.SkipReason.NO_CONTACT,
    Reminder.SkipReason.QUIET_HOURS_TOO_LATE,
    Reminder.SkipReason.TOO_LATE,
)
_RETIME_FIELDS = ["status", "skip_reason", "due_at", "send_by", "updated_at"]


def reminders_retime_for_patient(*, patient_id: int, now: dt.datetime | None = None) -> int:
    """Re-time the unsent reminders of a patient's booked sessions, in the caller's
    transaction, after their time zone, quiet hours or channels changed: each goes at
    its lead time in the patient's (new) local time, out of their (new) quiet hours; one
    whose time has passed goes now if it can still be useful. A reminder skipped
    because the patient had opted out or had no address comes back the same way.
    Returns how many rows changed."""
    now = now or timezone.now()
    sessions = {
        s.pk: s
        for s in Session.objects.filter(
            patient_id=patient_id, status=Session.Status.BOOKED, starts_at__gt=now
        ).select_related("patient", "clinic")
    }
    if not sessions:
        return 0
    rows = Reminder.objects.select_for_update().filter(
        Q(status=R.PENDING) | Q(status=R.SKIPPED, skip_reason__in=_RETIMABLE_SKIPS),
        session_id__in=list(sessions),
    )
    rules: dict[int, dict[str, ReminderRuleSpec]] = {}
    quiet: dict[int, QuietHours] = {}
    changed: list[Reminder] = []
    for row in rows:
        session = sessions[row.session_id]
        if session.clinic_id not in rules:
            rules[session.clinic_id] = {
                r.kind: r for r in reminder_rules(clinic_id=session.clinic_id)
            }
            policy = reminder_policy(clinic_id=session.clinic_id)
            quiet[session.clinic_id] = _patient_quiet(session.patient, policy)
        rule = rules[session.clinic_id].get(row.kind)
        if rule is None or row.session_starts_at != session.starts_at:
            continue  # a kind the clinic dropped, or a move being planned: not ours
        plan = _planned(
            session, rule,
            tz=zoneinfo.ZoneInfo(session.patient.timezone or session.clinic.timezone),
            quiet=quiet[session.clinic_id], now=now, catch_up=True,
        )  # fmt: skip
        if any(getattr(row, name) != value for name, value in plan.items()):
            for name, value in plan.items():
                setattr(row, name, value)
            row.updated_at = now
            changed.append(row)
    if changed:
        Reminder.objects.bulk_update(changed, _RETIME_FIELDS, batch_size=1000)
        if any(r.status == R.PENDING and r.due_at <= now + SWEEP_INTERVAL for r in changed):
            transaction.on_commit(partial(_enqueue, SWEEP_TASK, {}))
        logger.info("patient %s: %s reminders re-timed", patient_id, len(changed))
    return len(changed)


def _patient_reminder_settings_changed(sender, *, patient, changed, **kwargs) -> None:
    """Receiver of patients.signals.reminder_settings_changed (scheduling.apps)."""
    reminders_retime_for_patient(patient_id=patient.pk)


def _sessions_changed(sender, *, sessions, now, **kwargs) -> None:
    """Receiver of booking's sessions_changed (scheduling.apps): re-plan their reminders."""
    reminders_plan_for_sessions(sessions=sessions, now=now)


def _enqueue(task_name: str, kwargs: dict) -> bool:
    """Publish a task; never raise. Runs after commit, so the data is there for the worker;
    a broker that is down loses nothing, because the rows in the database are the plan."""
    from celery import current_app

    try:
        current_app.send_task(task_name, kwargs=kwargs)
    except Exception as exc:  # noqa: BLE001 - any broker failure: log, the sweep recovers
        logger.warning("could not enqueue %s (%s): %s", task_name, kwargs, type(exc).__name__)
        return False
    return True


# --- Claiming ------------------------------------------------------------------------------


def reminder_claim(*, now: dt.datetime, limit: int) -> tuple[uuid.UUID | None, int]:
    """Claim up to `limit` due pending reminders, oldest first, in the caller's
    transaction: (claim token, how many), or (None, 0) when nothing is due.

    The rows are read FOR UPDATE SKIP LOCKED (PostgreSQL) and re-checked under their
    lock, so two sweeps running at once claim disjoint rows; then one UPDATE marks them
    sending with a fresh claim token. On SQLite the write transaction already excludes
    a second sweep."""
    ids = list(
        Reminder.objects.select_for_update(skip_locked=True)
        .filter(status=R.PENDING, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return None, 0
    token = uuid.uuid4()
    # By id alone: the rows are locked by this transaction and known to be pending.
    claimed = Reminder.objects.filter(id__in=ids).update(
        status=R.SENDING,
        claim_token=token,
        claimed_at=now,
        heartbeat_at=None,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    return token, claimed


def _release_unqueued(token: uuid.UUID) -> None:
    """A batch whose task could not be queued goes back to pending for the next sweep."""
    try:
        Reminder.objects.filter(claim_token=token, status=R.SENDING).update(
            status=R.PENDING, claim_token=None, claimed_at=None, attempts=F("attempts") - 1
        )
    except Exception as exc:  # noqa: BLE001 - the claim timeout covers this too
        logger.warning("reminder batch %s stays claimed: %s", token, type(exc).__name__)


def _enqueue_batch(token: uuid.UUID) -> None:
    if not _enqueue(SEND_TASK, {"claim_token": str(token)}):
        _release_unqueued(token)


def _reminder_claim_heartbeat(*, claim_token: uuid.UUID, now: dt.datetime) -> None:
    """The batch holding this claim is alive: one UPDATE of its rows still being sent."""
    Reminder.objects.filter(claim_token=claim_token, status=R.SENDING).update(heartbeat_at=now)


def reminders_reclaim_stuck(*, now: dt.datetime) -> int:
    """Take back claims whose worker died: a started batch silent for REMINDER_STALL_SECONDS
    (its worker was killed, or lost the database), a queued one not started within
    REMINDER_CLAIM_TIMEOUT_SECONDS (its task was lost with the broker).

    Rows locked by a sender (a message going out right now) are left alone. A row claimed
    REMINDER_MAX_ATTEMPTS times is marked failed instead, and staff told: a message that
    kills every worker that tries it must not be tried for ever."""
    stalled = now - dt.timedelta(seconds=settings.REMINDER_STALL_SECONDS)
    unstarted = now - dt.timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS)
    stuck = Reminder.objects.filter(status=R.SENDING).filter(
        Q(heartbeat_at__lt=stalled) | Q(heartbeat_at__isnull=True, claimed_at__lt=unstarted)
    )
    with transaction.atomic():
        ids = list(stuck.select_for_update(skip_locked=True).values_list("id", flat=True))
        if not ids:
            return 0
        hopeless = Reminder.objects.filter(
            id__in=ids, attempts__gte=settings.REMINDER_MAX_ATTEMPTS
        ).values_list("id", flat=True)
        for reminder_id in list(hopeless):
            _reminder_fail(
                reminder_id=reminder_id,
                claim_token=None,
                error=f"Not sent after {settings.REMINDER_MAX_ATTEMPTS} attempts (worker lost).",
                transient=False,
                now=now,
            )
        taken_back = Reminder.objects.filter(id__in=ids, status=R.SENDING).update(
            status=R.PENDING, claim_token=None, claimed_at=None, heartbeat_at=None, updated_at=now
        )
    if taken_back:
        logger.warning("took back %s reminder claims whose worker was lost", taken_back)
    return taken_back


def reminders_dispatch_due(
    *,
    now: dt.datetime | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
) -> list[uuid.UUID]:
    """The sweep (beat, every 10 seconds): claim due reminders in batches and queue a worker
    task per batch, each after its claim commits. Returns the claim tokens."""
    now = now or timezone.now()
    limit = limit or settings.REMINDER_SWEEP_LIMIT
    batch_size = batch_size or settings.REMINDER_BATCH_SIZE
    reminders_reclaim_stuck(now=now)
    tokens: list[uuid.UUID] = []
    total = 0
    while total < limit:
        with transaction.atomic():
            token, claimed = reminder_claim(now=now, limit=min(batch_size, limit - total))
            if token is not None:
                transaction.on_commit(partial(_enqueue_batch, token))
        if token is None:
            break
        tokens.append(token)
        total += claimed
        if claimed < batch_size:
            break
    if tokens:
        logger.info("claimed %s reminders in %s batches", total, len(tokens))
    return tokens


# --- Sending -------------------------------------------------------------------------------


class TransportError(Exception):
    def __init__(self, message: str, *, transient: bool):
        super().__init__(message)
        self.transient = transient


def _email_error(exc: Exception) -> TransportError:
    """Classify an SMTP failure, without the address (no patient data in records)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()] or [550]
        return TransportError(f"SMTP recipient refused ({codes[0]})", transient=codes[0] < 500)
    if isinstance(exc, smtplib.SMTPResponseException):
        return TransportError(
            f"SMTP {type(exc).__name__} ({exc.smtp_code})", transient=exc.smtp_code < 500
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return TransportError(f"SMTP unreachable: {type(exc).__name__}", transient=True)
    return TransportError(f"E-mail error: {type(exc).__name__}", transient=False)


class _Sender:
    """What one batch shares: transports opened once, clinic settings read once."""

    def __init__(self):
        self._email = None
        self._sms = None
        self._clinic: dict[int, tuple] = {}
        self._protocol: dict[int, Protocol] = {}
        self._shared: dict[tuple[int, int], dict] = {}

    def clinic_settings(self, clinic_id: int):
        """(clinic, reminder policy, templates by (kind, channel)), read once a batch."""
        if clinic_id not in self._clinic:
            clinic = Clinic.objects.get(pk=clinic_id)
            policy = reminder_policy(clinic_id=clinic_id)
            templates = {
                (t.kind, t.channel): t for t in ReminderTemplate.objects.filter(clinic_id=clinic_id)
            }
            self._clinic[clinic_id] = (clinic, policy, templates)
        return self._clinic[clinic_id]

    def protocol(self, protocol_id: int) -> Protocol:
        if protocol_id not in self._protocol:
            self._protocol[protocol_id] = Protocol.objects.get(pk=protocol_id)
        return self._protocol[protocol_id]

    def shared_context(self, clinic_id: int, protocol_id: int) -> dict:
        """The words a clinic's reminders for one protocol share, worked out once."""
        key = (clinic_id, protocol_id)
        if key not in self._shared:
            clinic, policy, _templates = self.clinic_settings(clinic_id)
            self._shared[key] = reminder_context_shared(
                clinic=clinic, sender_name=policy.sender_name, protocol=self.protocol(protocol_id)
            )
        return self._shared[key]

    def send_email(self, *, to: str, message: Message, message_id: str) -> str:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=reminder_from_email(settings.DEFAULT_FROM_EMAIL),
            to=[to],
            headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
        )
        email.attach_alternative(message.html, "text/html")
        try:
            if self._email is None:
                self._email = get_connection(fail_silently=False)
                self._email.open()
            sent = self._email.send_messages([email])
        except Exception as exc:
            self.close_email()
            raise _email_error(exc) from exc
        if not sent:
            raise TransportError("The e-mail backend sent nothing.", transient=True)
        return message_id

    def send_sms(self, *, to: str, message: Message) -> str:
        if self._sms is None:
            from django.urls import reverse

            self._sms = get_sms_backend()
            self._callback = settings.SITE_URL + reverse("reminders:sms_status")
        try:
            return self._sms.send(
                SmsMessage(to=to, body=message.text, status_callback=self._callback)
            )
        except SmsError as exc:
            raise TransportError(str(exc), transient=exc.transient) from exc

    def close_email(self) -> None:
        if self._email is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._email.close()
            self._email = None

    def close(self) -> None:
        self.close_email()


@cache
def _domain(from_email: str) -> str:
    """The sender address's domain, also when the setting has a display name."""
    return parseaddr(from_email)[1].rpartition("@")[2] or "localhost"


def _message_id(reminder: Reminder) -> str:
    """Stable per reminder and session time: a resend in the residual window carries the
    same Message-ID, which mail systems use to drop duplicates."""
    domain = _domain(settings.DEFAULT_FROM_EMAIL)
    stamp = int(reminder.session_starts_at.timestamp())
    return f"<reminder.{reminder.pk}.{stamp}@{domain}>"


def _skip_reason_at_send(reminder: Reminder, session: Session, now: dt.datetime) -> str:
    S = Reminder.SkipReason
    if session.status == Session.Status.CANCELLED:
        return S.SESSION_CANCELLED
    if session.status != Session.Status.BOOKED:
        return S.SESSION_NOT_BOOKED
    if session.starts_at != reminder.session_starts_at:
        return S.SESSION_MOVED
    if now > reminder.send_by:
        return S.TOO_LATE
    patient = session.patient
    email = reminder.channel == ReminderChannel.EMAIL
    if patient.reminders_opt_out or not (
        patient.remind_by_email if email else patient.remind_by_sms
    ):
        return S.OPTED_OUT
    if not (patient.email if email else patient.phone):
        return S.NO_CONTACT
    return ""


# Clinics and protocols are few and the same across a batch: the sender reads each once.
# Of the rest, only what sending reads: whole rows cost 40% more to read, per reminder.
# A field left out shows as a query per reminder (tests/test_reminders.py counts them).
_SEND_RELATED = ("session__patient", "session__course")
_SEND_FIELDS = (
    "id", "session_id", "kind", "channel", "status", "session_starts_at", "send_by",
    "session__id", "session__clinic_id", "session__course_id", "session__patient_id",
    "session__status", "session__starts_at",
    "session__course__id", "session__course__protocol_id",
    "session__patient__id", "session__patient__first_name", "session__patient__timezone",
    "session__patient__email", "session__patient__phone",
    "session__patient__reminders_opt_out", "session__patient__remind_by_email",
    "session__patient__remind_by_sms",
)  # fmt: skip


def _to_send(query):
    return query.select_related(*_SEND_RELATED).only(*_SEND_FIELDS)


def _claimed(reminder_id: int, claim_token: uuid.UUID):
    # The token alone says the row is being sent (a check constraint); leaving the
    # status out also keeps PostgreSQL on the primary key, not the "sending" index.
    return Reminder.objects.filter(pk=reminder_id, claim_token=claim_token)


class _Changed(Exception):
    """The row or its session changed after the batch was read."""


def _mark_sent(
    *, reminder_id: int, claim_token: uuid.UUID, now: dt.datetime, message_id: str
) -> bool:
    """Mark a claimed reminder sent, in the caller's transaction, if it still holds the
    claim and its session is still booked at the time it was planned for.

    One UPDATE: it takes the row's lock (a cancellation that comes now waits for our
    commit), and PostgreSQL re-checks the whole condition on the row's latest version if
    another transaction changed it meanwhile. The session is asked with Exists rather
    than `session__status=...`: a filter across the relation makes Django move every
    condition into a `pk IN (subquery)`, whose claim check would not be re-checked."""
    booked = Session.objects.filter(
        pk=OuterRef("session_id"),
        status=Session.Status.BOOKED,
        starts_at=OuterRef("session_starts_at"),
    )
    marked = Reminder.objects.filter(Exists(booked), pk=reminder_id, claim_token=claim_token)
    return (
        marked.update(
            status=R.SENT,
            sent_at=now,
            claim_token=None,
            provider_message_id=message_id,
            last_error="",
            updated_at=now,
        )
        == 1
    )


def _send_loaded(
    reminder: Reminder, *, claim_token: uuid.UUID, now: dt.datetime, sender: _Sender
) -> str:
    """Send one reminder read with its session, patient, clinic and protocol."""
    session = reminder.session
    reason = _skip_reason_at_send(reminder, session, now)
    if reason:
        skipped = _claimed(reminder.pk, claim_token).update(
            status=R.SKIPPED, skip_reason=reason, claim_token=None, updated_at=now
        )
        return "skipped" if skipped else "not_claimed"
    patient = session.patient
    clinic, policy, templates = sender.clinic_settings(session.clinic_id)
    try:
        message = reminder_render(
            kind=reminder.kind,
            channel=reminder.channel,
            template=templates.get((reminder.kind, reminder.channel)),
            context=reminder_context(
                kind=reminder.kind,
                clinic=clinic,
                sender_name=policy.sender_name,
                first_name=patient.first_name,
                tz=zoneinfo.ZoneInfo(patient.timezone or clinic.timezone),
                protocol=sender.protocol(session.course.protocol_id),
                session_id=session.pk,
                starts_at=session.starts_at,
                shared=sender.shared_context(session.clinic_id, session.course.protocol_id),
            ),
        )
    except ReminderContentError as exc:
        return _reminder_fail(
            reminder_id=reminder.pk,
            claim_token=claim_token,
            error=str(exc),
            transient=False,
            now=now,
        )
    email = reminder.channel == ReminderChannel.EMAIL
    message_id = _message_id(reminder) if email else ""
    try:
        # Marked sent first, committed when the transport returns: the commit is the next
        # thing after the provider accepts the message. If the transport raises, the
        # mark is rolled back with it.
        with transaction.atomic():
            if not _mark_sent(
                reminder_id=reminder.pk, claim_token=claim_token, now=now, message_id=message_id
            ):
                raise _Changed
            if email:
                sender.send_email(to=patient.email, message=message, message_id=message_id)
            else:
                provider_id = sender.send_sms(to=str(patient.phone), message=message)
                Reminder.objects.filter(pk=reminder.pk).update(provider_message_id=provider_id)
    except _Changed:
        return "changed"
    except TransportError as exc:
        return _reminder_fail(
            reminder_id=reminder.pk,
            claim_token=claim_token,
            error=str(exc),
            transient=exc.transient,
            now=now,
        )
    return "sent"


def reminder_send(
    *,
    reminder_id: int,
    claim_token: uuid.UUID,
    now: dt.datetime | None = None,
    sender: _Sender | None = None,
) -> str:
    """Send one claimed reminder, once. Returns what happened: "sent", "skipped",
    "retry", "failed" or "not_claimed" (sent, reclaimed or cancelled meanwhile)."""
    now = now or timezone.now()
    own_sender = sender is None
    sender = sender or _Sender()
    try:
        reminder = _to_send(_claimed(reminder_id, claim_token)).first()
        if reminder is None:
            return "not_claimed"
        outcome = _send_loaded(reminder, claim_token=claim_token, now=now, sender=sender)
        if outcome == "changed":
            # The session changed between the read and the mark: read it again; the
            # skip reason now shows (cancelled, moved), or the claim is gone.
            reminder = _to_send(_claimed(reminder_id, claim_token)).first()
            if reminder is None:
                return "not_claimed"
            outcome = _send_loaded(reminder, claim_token=claim_token, now=now, sender=sender)
            if outcome == "changed":  # changed again: leave it for the claim timeout
                return "not_claimed"
        return outcome
    finally:
        if own_sender:
            sender.close()


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 30))


@transaction.atomic
def _reminder_fail(
    *, reminder_id: int, claim_token: uuid.UUID | None, error: str, transient: bool, now
) -> str:
    """Record a failed attempt: retry later with backoff while that can still be useful,
    else mark it failed and tell the front desk."""
    qs = Reminder.objects.select_for_update(of=("self",)).filter(pk=reminder_id)
    if claim_token is not None:
        qs = qs.filter(claim_token=claim_token)
    reminder = qs.select_related("session").first()
    if reminder is None or reminder.status != R.SENDING:
        return "not_claimed"
    retry_at = now + _backoff(reminder.attempts)
    if (
        transient
        and reminder.attempts < settings.REMINDER_MAX_ATTEMPTS
        and retry_at <= reminder.send_by
    ):
        reminder.status, reminder.due_at = R.PENDING, retry_at
        reminder.claim_token, reminder.claimed_at, reminder.last_error = None, None, error
        reminder.save()
        logger.info("reminder %s: transient failure, retry at %s", reminder.pk, retry_at)
        return "retry"
    reminder.status, reminder.claim_token, reminder.last_error = R.FAILED, None, error
    reminder.save()
    logger.warning("reminder %s failed: %s", reminder.pk, error)
    staff_notice_raise(
        clinic_id=reminder.clinic_id,
        kind=StaffNotice.Kind.REMINDER_FAILED,
        dedupe_key=f"reminder_failed:{reminder.pk}:{int(reminder.session_starts_at.timestamp())}",
        message=f"The {reminder.get_kind_display().lower()} reminder by "
        f"{reminder.get_channel_display().lower()} for session {reminder.session.number} of "
        f"course {reminder.session.course_id} could not be sent: {error} "
        "Check the patient's contact details, or remind them another way.",
        session_id=reminder.session_id,
        reminder_id=reminder.pk,
        now=now,
    )
    return "failed"


def reminders_send_batch(
    *, claim_token: uuid.UUID, now: dt.datetime | None = None
) -> dict[str, int]:
    """Send the reminders of one claimed batch (a worker task): one query reads them all
    with their sessions, one SMTP connection sends them, one UPDATE per message marks
    each sent. Safe to run twice: only the holder of a row's claim sends it."""
    batch = list(
        _to_send(Reminder.objects.filter(claim_token=claim_token, status=R.SENDING)).order_by(
            "due_at", "id"
        )
    )
    sender = _Sender()
    outcomes: Counter[str] = Counter()
    beat_every = settings.REMINDER_STALL_SECONDS / 3
    next_beat = 0.0
    try:
        for reminder in batch:
            at = now or timezone.now()
            if time.monotonic() >= next_beat:  # at the start, then every few seconds
                _reminder_claim_heartbeat(claim_token=claim_token, now=at)
                next_beat = time.monotonic() + beat_every
            outcome = _send_loaded(reminder, claim_token=claim_token, now=at, sender=sender)
            if outcome == "changed":
                outcome = reminder_send(
                    reminder_id=reminder.pk, claim_token=claim_token, now=at, sender=sender
                )
            outcomes[outcome] += 1
    finally:
        sender.close()
    if batch:
        logger.info("reminder batch %s: %s", claim_token, dict(outcomes))
    return dict(outcomes)


# --- Delivery reports ----------------------------------------------------------------------

_DELIVERY_ORDER = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3}
_DELIVERY_FINAL = {"delivered", "undelivered", "failed", "read"}


def reminder_delivery_record(
    *, provider_message_id: str, status: str, error_code: str = "", now: dt.datetime
) -> Reminder | None:
    """Record the provider's delivery report on the reminder it is about.

    Reports can arrive out of order; a final status is never overwritten by an earlier
    one. An undelivered text tells the front desk."""
    status = status.strip().lower()
    if not provider_message_id or not status:
        raise ValidationError({"status": "A delivery report needs a message id and a status."})
    with transaction.atomic():
        reminder = (
            Reminder.objects.select_for_update()
            .select_related("session")
            .filter(provider_message_id=provider_message_id)
            .first()
        )
        if reminder is None:
            return None
        current = reminder.delivery_status
        if current in _DELIVERY_FINAL or _DELIVERY_ORDER.get(current, -1) > _DELIVERY_ORDER.get(
            status, 99
        ):
            return reminder
        reminder.delivery_status, reminder.delivery_updated_at = status, now
        if status in ("undelivered", "failed"):
            reminder.last_error = f"Provider reports {status}" + (
                f" (error {error_code})" if error_code else ""
            )
        reminder.save(
            update_fields=["delivery_status", "delivery_updated_at", "last_error", "updated_at"]
        )
        if status in ("undelivered", "failed"):
            staff_notice_raise(
                clinic_id=reminder.clinic_id,
                kind=StaffNotice.Kind.REMINDER_FAILED,
                dedupe_key=f"reminder_undelivered:{reminder.pk}:{provider_message_id}",
                message=f"The {reminder.get_kind_display().lower()} text message for session "
                f"{reminder.session.number} of course {reminder.session.course_id} was not "
                f"delivered ({reminder.last_error}). Check the number, or call the patient.",
                session_id=reminder.session_id,
                reminder_id=reminder.pk,
                now=now,
            )
    return reminder


# --- The patient's answer ------------------------------------------------------------------


@transaction.atomic
def session_respond(
    *, session: Session, planned_starts_at: dt.datetime, answer: str, now: dt.datetime
) -> Session:
    """Record a patient's answer from a reminder link: confirm, or cancel (which frees the
    chair through session_cancel and tells the front desk)."""
    from ..booking.services.sessions import session_cancel

    if answer not in Session.Response.values:
        raise ValidationError({"answer": "Choose confirm or cancel."})
    if answer == Session.Response.CANCELLED:
        # Cancelling writes the session more than once (the answer, then session_cancel),
        # so PostgreSQL checks its foreign keys at COMMIT, the course's among them: the
        # course is locked first, in the order its other writers take (course, sessions).
        list(Course.objects.select_for_update(no_key=True).filter(pk=session.course_id))
    # The session's row alone (`of`): a lock on the clinic's and the patient's rows would
    # hold up every booking of theirs at its COMMIT (tests/test_reminder_answer_race.py).
    session = (
        Session.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient")
        .get(pk=session.pk)
    )
    if session.starts_at != planned_starts_at:
        raise ValidationError(
            {
                "session": "This appointment has changed since the message was sent: see your "
                "latest message, or call the clinic."
            }  # fmt: skip
        )
    if session.status != Session.Status.BOOKED:
        raise ValidationError({"session": "This appointment is no longer booked."})
    if now >= session.starts_at:
        raise ValidationError({"session": "This appointment has already started."})
    # One UPDATE, the version moved on with the answer (mark_changed's rule, exact under
    # this row's lock). A second UPDATE of a row this transaction wrote has PostgreSQL
    # check its foreign keys again at COMMIT, waiting on any course a booking or a
    # clinician's change has locked while they wait on this session: a deadlock.
    session.patient_response, session.responded_at = answer, now
    session.version += 1
    session.save(update_fields=["patient_response", "responded_at", "version"])
    if answer == Session.Response.CANCELLED:
        session_cancel(
            session=session, by=None, reason="Cancelled by the patient from a reminder.", now=now
        )
        tz = session.clinic.tz
        staff_notice_raise(
            clinic_id=session.clinic_id,
            kind=StaffNotice.Kind.PATIENT_CANCELLED,
            dedupe_key=f"patient_cancelled:{session.pk}:{int(session.starts_at.timestamp())}",
            message=f"Session {session.number} of course {session.course_id} on "
            f"{session.starts_at.astimezone(tz):%a %d %b %Y %H:%M} was cancelled by the "
            "patient from a reminder. The chair is free; offer the patient a new time.",
            session_id=session.pk,
            course_id=session.course_id,
            due_on=session.starts_at.astimezone(tz).date(),
            now=now,
        )
    logger.info("session %s: patient answered %s", session.pk, answer)
    return session


__all__ = [
    "TransportError",
    "reminder_claim",
    "reminder_delivery_record",
    "reminder_send",
    "reminders_dispatch_due",
    "reminders_plan_for_session",
    "reminders_plan_for_sessions",
    "reminders_reclaim_stuck",
    "reminders_send_batch",
    "session_respond",
]


def maintenance_notices_raise_due(*, now: dt.datetime | None = None) -> int:
    """The periodic check: a notice for each open-ended course whose booked maintenance
    runs out within its clinic's notice period (ReminderPolicy), once per fact."""
    now = now or timezone.now()
    due: list[dict] = []
    for course, last in courses_maintenance_to_book(now=now):
        local = last.astimezone(course.clinic.tz) if last else None
        when = f"{local:%a %d %b %Y}" if local else "none"
        due.append(dict(
            clinic_id=course.clinic_id,
            kind=StaffNotice.Kind.MAINTENANCE_DUE,
            dedupe_key=f"maintenance_due:{course.pk}:{local.date() if local else 'none'}",
            message=f"Course {course.pk} needs its next maintenance sessions booked (last "
            f"booked session: {when}).",
            course_id=course.pk,
            due_on=local.date() if local else now.date(),
        ))  # fmt: skip
    return staff_notices_raise(due, now=now)
