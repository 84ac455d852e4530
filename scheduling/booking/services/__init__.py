"""Booking's writes. Each rule lives in one function here; the admin, the API, the pages,
the Celery tasks and the rooms built on booking (the chart, the reminders) call these."""

from .courses import (
    course_extend_horizon,
    course_maintenance_frequency_set,
    course_plan,
    course_start,
    courses_extend_horizon,
)
from .gates import course_gate_check
from .notices import (
    no_show_notices_raise_due,
    staff_notice_raise,
    staff_notice_resolve,
    staff_notices_raise,
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
    sessions_in_scope,
)

__all__ = [
    "no_show_notices_raise_due",
    "Placement",
    "Scope",
    "TRANSITIONS",
    "course_extend_horizon",
    "course_gate_check",
    "course_maintenance_frequency_set",
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
    "sessions_in_scope",
    "staff_notice_raise",
    "staff_notice_resolve",
    "staff_notices_raise",
]
