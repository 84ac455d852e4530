"""Writes for scheduling. Each rule lives in one function here; the admin, the API,
the pages and the Celery tasks all call these."""

from .courses import (
    course_extend_horizon,
    course_gate_check,
    course_plan,
    course_start,
    courses_extend_horizon,
)
from .placement import Placement, placements_check
from .protocols import (
    protocol_create,
    protocol_phase_specs,
    protocol_phases_replace,
    protocol_validate_phases,
)
from .sessions import (
    TRANSITIONS,
    Scope,
    session_book,
    session_cancel,
    session_move,
    session_no_show,
    session_restore,
    session_transition,
)

__all__ = [
    "TRANSITIONS",
    "Placement",
    "Scope",
    "course_extend_horizon",
    "course_gate_check",
    "course_plan",
    "course_start",
    "courses_extend_horizon",
    "placements_check",
    "protocol_create",
    "protocol_phase_specs",
    "protocol_phases_replace",
    "protocol_validate_phases",
    "session_book",
    "session_cancel",
    "session_move",
    "session_no_show",
    "session_restore",
    "session_transition",
]
