from .courses import Course, Session, SessionStatusChange
from .protocols import Protocol, ProtocolPhase
from .reminders import (
    FORBIDDEN_WORDS,
    Reminder,
    ReminderChannel,
    ReminderKind,
    ReminderPolicy,
    ReminderRule,
    ReminderTemplate,
    StaffNotice,
)

__all__ = [
    "FORBIDDEN_WORDS",
    "Course",
    "Protocol",
    "ProtocolPhase",
    "Reminder",
    "ReminderChannel",
    "ReminderKind",
    "ReminderPolicy",
    "ReminderRule",
    "ReminderTemplate",
    "Session",
    "SessionStatusChange",
    "StaffNotice",
]
