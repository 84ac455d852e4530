"""Booking's pages: the front desk's patients, screenings, courses and sessions."""

from django.urls import path

from . import desk, screening

urlpatterns = [
    path("desk/patients/", desk.patients, name="patients"),
    path("desk/patients/new/", desk.patient_new, name="patient_new"),
    path("desk/patients/<int:pk>/", desk.patient, name="patient"),
    path("desk/patients/<int:pk>/screenings/new/", screening.screening_new, name="screening_new"),
    path("desk/screenings/<int:pk>/", screening.screening, name="screening"),
    path(
        "desk/screenings/<int:pk>/answers/<int:answer_id>/sign-off/",
        screening.sign_off,
        name="screening_sign_off",
    ),
    path("desk/courses/new/", desk.course_new, name="course_new"),
    path("desk/sessions/<int:pk>/", desk.session_detail, name="session"),
    path("desk/sessions/<int:pk>/move/", desk.session_move, name="session_move"),
    path("desk/sessions/<int:pk>/cancel/", desk.session_cancel, name="session_cancel"),
    path("desk/sessions/<int:pk>/slot/", desk.session_slot, name="session_slot"),
]
