from django.urls import path

from . import reminder_views

app_name = "reminders"

urlpatterns = [
    path("answer/<str:token>/", reminder_views.session_respond, name="respond"),
    path("sms-status/", reminder_views.sms_status, name="sms_status"),
]
