from .courses import Course, Session, SessionStatusChange
from .protocols import Protocol, ProtocolPhase

__all__ = ["Course", "Protocol", "ProtocolPhase", "Session", "SessionStatusChange"]
