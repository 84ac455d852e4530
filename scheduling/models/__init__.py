from ..discreet import FORBIDDEN_WORDS
from .chart import (
    VITAL_BOUNDS,
    Alert,
    CheckIn,
    ChecklistItem,
    ChecklistWaiver,
    DeviceAdministration,
    Discharge,
    DoseAdministration,
    ReadyToLeave,
    RemsReport,
    SideEffect,
    VitalSigns,
)
from .courses import Course, Session, SessionStatusChange
from .protocols import Protocol, ProtocolPhase
from .reminders import (
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
    "VITAL_BOUNDS",
    "Alert",
    "CheckIn",
    "ChecklistItem",
    "ChecklistWaiver",
    "Course",
    "DeviceAdministration",
    "Discharge",
    "ReadyToLeave",
    "DoseAdministration",
    "Protocol",
    "ProtocolPhase",
    "Reminder",
    "ReminderChannel",
    "ReminderKind",
    "ReminderPolicy",
    "ReminderRule",
    "ReminderTemplate",
    "RemsReport",
    "Session",
    "SessionStatusChange",
    "SideEffect",
    "StaffNotice",
    "VitalSigns",
]
