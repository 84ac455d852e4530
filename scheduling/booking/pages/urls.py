"""Booking's pages: the front desk's patients, screenings, courses and sessions."""

from django.urls import path
from django.views.decorators.cache import never_cache

from . import desk, screening

# Pages with a patient's record on them are never stored by the browser (Cache-Control:
# no-store): not in its cache nor its back/forward history, for the next person at a
# shared computer (docs/pages.md). The polled day board and the calendar feed are not.
private = never_cache

urlpatterns = [
    path("desk/patients/", private(desk.patients), name="patients"),
    path("desk/patients/new/", private(desk.patient_new), name="patient_new"),
    path("desk/patients/<int:pk>/", private(desk.patient), name="patient"),
    path(
        "desk/patients/<int:pk>/screenings/new/",
        private(screening.screening_new),
        name="screening_new",
    ),
    path("desk/screenings/<int:pk>/", private(screening.screening), name="screening"),
    path(
        "desk/screenings/<int:pk>/answers/<int:answer_id>/sign-off/",
        private(screening.sign_off),
        name="screening_sign_off",
    ),
    path("desk/courses/new/", desk.course_new, name="course_new"),
    path("desk/sessions/<int:pk>/", desk.session_detail, name="session"),
    path("desk/sessions/<int:pk>/move/", desk.session_move, name="session_move"),
    path("desk/sessions/<int:pk>/cancel/", desk.session_cancel, name="session_cancel"),
    path("desk/sessions/<int:pk>/slot/", desk.session_slot, name="session_slot"),
]
