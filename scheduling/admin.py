"""Django looks for the admin here; each room registers its own (booking first: the
chart extends booking's session page with the chart)."""

from .booking import admin as booking_admin  # noqa: F401
from .chart import admin as chart_admin  # noqa: F401
from .reminders import admin as reminders_admin  # noqa: F401
