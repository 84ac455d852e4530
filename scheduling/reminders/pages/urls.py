"""The reminders' pages: the patient's portal, answering for a session, reminder
settings and the calendar feed."""

from django.urls import path

from . import portal

urlpatterns = [
    path("portal/", portal.portal, name="portal"),
    path("portal/sessions/<int:pk>/respond/", portal.respond, name="portal_respond"),
    path("portal/reminders/", portal.reminder_settings, name="reminder_settings"),
    path("portal/calendar/new/", portal.calendar_reset, name="calendar_reset"),
    path("calendar/<str:token>.ics", portal.calendar, name="calendar"),
]
