"""The reminders' pages: the patient's portal, answering for a session, reminder
settings and the calendar feed."""

from django.urls import path
from django.views.decorators.cache import never_cache

from . import portal

# Pages with a patient's record on them are never stored by the browser (Cache-Control:
# no-store): not in its cache nor its back/forward history, for the next person at a
# shared computer (docs/pages.md). The polled day board and the calendar feed are not.
private = never_cache

urlpatterns = [
    path("portal/", private(portal.portal), name="portal"),
    path("portal/sessions/<int:pk>/respond/", private(portal.respond), name="portal_respond"),
    path("portal/reminders/", private(portal.reminder_settings), name="reminder_settings"),
    path("portal/calendar/new/", private(portal.calendar_reset), name="calendar_reset"),
    path("calendar/<str:token>.ics", portal.calendar, name="calendar"),
]
