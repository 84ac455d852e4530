"""Django looks for the admin here; each room registers its own, and the session's page
is put together here: booking's, with each room's panel under the session's details."""

from django.contrib import admin

from .booking import admin as booking_admin
from .booking.models import Session
from .chart import admin as chart_admin
from .reminders import admin as reminders_admin
from .stock import admin as stock_admin  # noqa: F401 (registers the stock record's pages)


class SessionPageAdmin(booking_admin.SessionAdmin):
    panels = ("session_reminders", "chart")

    @admin.display(description="Reminders")
    def session_reminders(self, obj):
        return reminders_admin.session_reminders(obj)

    @admin.display(description="Chart")
    def chart(self, obj):
        return chart_admin.chart_panel(obj)


admin.site.unregister(Session)
admin.site.register(Session, SessionPageAdmin)
