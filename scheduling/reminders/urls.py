from django.urls import path

from . import views

app_name = "reminders"

urlpatterns = [
    path("answer/<str:token>/", views.session_respond, name="respond"),
    path("sms-status/", views.sms_status, name="sms_status"),
]
