from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import DefaultRouter

from clinic import sessions, signin, two_factor
from clinic.api.tokens import ApiTokenViewSet
from clinic.api.views import ChairViewSet, ClinicViewSet
from clinic.ratelimits import login_limit
from patients.api import ContraindicationViewSet, PatientViewSet, ScreeningViewSet
from scheduling import views as scheduling_views
from scheduling.booking.api import CourseViewSet, ProtocolViewSet, StaffNoticeViewSet
from scheduling.booking.pages import urls as booking_pages
from scheduling.chart.api import (
    AlertViewSet,
    DayBoardViewSet,
    DoseViewSet,
    QuestionnaireViewSet,
    SessionChartViewSet,
    SideEffectViewSet,
    VitalSignsViewSet,
)
from scheduling.chart.pages import urls as chart_pages
from scheduling.reminders.api import ReminderViewSet
from scheduling.reminders.pages import urls as reminders_pages
from scheduling.stock import api as stock_api

PAGES = booking_pages.urlpatterns + chart_pages.urlpatterns + reminders_pages.urlpatterns

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
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("stock/products", stock_api.ProductViewSet, basename="stock-product")
router.register("stock/locations", stock_api.LocationViewSet, basename="stock-location")
router.register("stock/lots", stock_api.LotViewSet, basename="stock-lot")
router.register("stock/entries", stock_api.EntryViewSet, basename="stock-entry")
router.register("stock/counts", stock_api.CountViewSet, basename="stock-count")

handler404 = "clinic.api.base.not_found"
API_DOCS_CSP = {"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]}

urlpatterns = [
    path("", scheduling_views.home, name="home"),
    path("accounts/login/", login_limit(signin.LoginView.as_view()), name="login"),
    path("accounts/keep-alive/", sessions.keep_alive, name="keep_alive"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", two_factor.verify, name="two_factor_verify"),
    path("accounts/two-factor/enrol/", two_factor.enrol, name="two_factor_enrol"),
    path(
        "accounts/two-factor/recovery-codes/",
        two_factor.recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("healthz", scheduling_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((router.urls, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    # Swagger UI with its set-up script as a file (no inline script); both viewers style
    # themselves inline and ReDoc runs a worker from a blob, so their pages allow that.
    path(
        "api/docs/",
        csp_update(API_DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
    path(
        "api/redoc/",
        csp_update(API_DOCS_CSP)(SpectacularRedocView.as_view(url_name="schema")),
        name="redoc",
    ),
    path("reminders/", include("scheduling.reminders.urls")),
    path("fhir/", include("scheduling.fhir.urls")),
    # The web pages, each room's own, under one namespace ("pages:board", "pages:chart").
    path("", include((PAGES, "pages"))),
]
