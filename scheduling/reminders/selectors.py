"""The reminders' reads: each clinic's rules and policy, a session's reminders, and the
courses whose booked maintenance runs out within the policy's notice period."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Max, Q, QuerySet

from ..booking.models import Course, Protocol, Session
from .models import DEFAULT_RULES, Reminder, ReminderChannel, ReminderPolicy, ReminderRule


@dataclass(frozen=True)
class ReminderRuleSpec:
    kind: str
    lead: dt.timedelta
    latest: dt.timedelta
    channels: tuple[str, ...]


def reminder_rules(*, clinic_id: int) -> list[ReminderRuleSpec]:
    """The kinds of reminder a clinic sends: its own rules over the defaults."""
    own = {r.kind: r for r in ReminderRule.objects.filter(clinic_id=clinic_id)}
    specs = []
    for kind, (lead, latest) in DEFAULT_RULES.items():
        rule = own.get(kind)
        if rule is None:
            channels = tuple(ReminderChannel.values)
        elif not rule.is_active:
            continue
        else:
            lead, latest = rule.lead_minutes, rule.latest_minutes
            channels = tuple(
                c
                for c, on in (
                    (ReminderChannel.EMAIL, rule.by_email),
                    (ReminderChannel.SMS, rule.by_sms),
                )
                if on
            )
        specs.append(
            ReminderRuleSpec(
                kind=kind,
                lead=dt.timedelta(minutes=lead),
                latest=dt.timedelta(minutes=latest),
                channels=channels,
            )
        )
    return specs


def reminder_policy(*, clinic_id: int) -> ReminderPolicy:
    """The clinic's reminder policy, or an unsaved one holding the defaults."""
    policy = ReminderPolicy.objects.filter(clinic_id=clinic_id).first()
    return policy or ReminderPolicy(clinic_id=clinic_id)


def reminders_for_session(*, session: Session) -> QuerySet[Reminder]:
    return Reminder.objects.filter(session=session).order_by("due_at", "kind", "channel")


def courses_maintenance_to_book(*, now: dt.datetime) -> list[tuple[Course, dt.datetime | None]]:
    """Active open-ended courses whose booked sessions run out within the clinic's notice
    period (ReminderPolicy.maintenance_notice_days): nothing is booked after that, because
    the horizon could not be extended (a clash) or nobody booked the next one.

    Returns (course, start of its last booked session or None)."""
    open_ended = Protocol.objects.filter(phases__periods__isnull=True).values("id")
    courses = (
        Course.objects.filter(status=Course.Status.ACTIVE, protocol_id__in=open_ended)
        .annotate(
            last_booked=Max("sessions__starts_at", filter=Q(sessions__status=Session.Status.BOOKED))
        )
        .select_related("clinic")
    )
    notice_days = dict(ReminderPolicy.objects.values_list("clinic_id", "maintenance_notice_days"))
    default_days = ReminderPolicy._meta.get_field("maintenance_notice_days").default
    due = []
    for course in courses:
        days = notice_days.get(course.clinic_id, default_days)
        if course.last_booked is None or course.last_booked <= now + dt.timedelta(days=days):
            due.append((course, course.last_booked))
    return due
