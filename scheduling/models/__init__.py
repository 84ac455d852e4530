from .chart import (
    VITAL_BOUNDS,
    Alert,
    CheckIn,
    ChecklistItem,
    ChecklistWaiver,
    DeviceAdministration,
    Discharge,
    DoseAdministration,
    RemsReport,
    SideEffect,
    VitalSigns,
)
from .courses import Course, Session, SessionStatusChange
from .protocols import Protocol, ProtocolPhase

__all__ = [
    "VITAL_BOUNDS",
    "Alert",
    "CheckIn",
    "ChecklistItem",
    "ChecklistWaiver",
    "Course",
    "DeviceAdministration",
    "Discharge",
    "DoseAdministration",
    "Protocol",
    "ProtocolPhase",
    "RemsReport",
    "Session",
    "SessionStatusChange",
    "SideEffect",
    "VitalSigns",
]
