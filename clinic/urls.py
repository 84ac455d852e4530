from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from clinic import signin
from clinic.api.views import ChairViewSet, ClinicViewSet
from patients.api import ContraindicationViewSet, PatientViewSet, ScreeningViewSet
from scheduling import views as scheduling_views
from scheduling.booking.api import CourseViewSet, ProtocolViewSet, StaffNoticeViewSet
from scheduling.chart.api import (
    AlertViewSet,
    DayBoardViewSet,
    DoseViewSet,
    QuestionnaireViewSet,
    SessionChartViewSet,
    SideEffectViewSet,
    VitalSignsViewSet,
)
from scheduling.reminders.api import ReminderViewSet

admin.site.site_header = "Infusion tracker administration"
admin.site.site_title = "Infusion tracker"

router = DefaultRouter()
# One URL per resource: no "/api/v1/vitals.json" twin of each route. Each request's URL
# is matched against every route before its own, and the twins doubled that work.
router.include_format_suffixes = False
router.register("clinics", ClinicViewSet, basename="clinic")
router.register("chairs", ChairViewSet, basename="chair")
router.register("patients", PatientViewSet, basename="patient")
router.register("contraindications", ContraindicationViewSet, basename="contraindication")
router.register("screenings", ScreeningViewSet, basename="screening")
router.register("protocols", ProtocolViewSet, basename="protocol")
router.register("courses", CourseViewSet, basename="course")
router.register("sessions", SessionChartViewSet, basename="session")
router.register("day-board", DayBoardViewSet, basename="day-board")
router.register("vitals", VitalSignsViewSet, basename="vitals")
router.register("side-effects", SideEffectViewSet, basename="side-effect")
router.register("doses", DoseViewSet, basename="dose")
router.register("questionnaires", QuestionnaireViewSet, basename="questionnaire")
router.register("alerts", AlertViewSet, basename="alert")
router.register("reminders", ReminderViewSet, basename="reminder")
router.register("staff-notices", StaffNoticeViewSet, basename="staff-notice")

handler404 = "clinic.api.base.not_found"

urlpatterns = [
    path("", scheduling_views.home, name="home"),
    path("accounts/login/", signin.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", scheduling_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((router.urls, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("reminders/", include("scheduling.reminders.urls")),
    path("fhir/", include("scheduling.fhir.urls")),
    path("", include("scheduling.pages.urls")),
]
