"""The chart's pages: the day board, the nurse's day and chart, the clinician's courses
and alerts, and the patient's PHQ-9."""

from django.urls import path
from django.views.decorators.cache import never_cache

from . import board, chart, clinician, portal

# Pages with a patient's record on them are never stored by the browser (Cache-Control:
# no-store): not in its cache nor its back/forward history, for the next person at a
# shared computer (docs/pages.md). The polled day board and the calendar feed are not.
private = never_cache

urlpatterns = [
    # front desk
    path("desk/board/", board.board, name="board"),
    # nurse
    path("nurse/today/", private(chart.today), name="today"),
    path("chart/<int:pk>/", private(chart.chart), name="chart"),
    path("chart/<int:pk>/check-in/", private(chart.check_in), name="chart_check_in"),
    path("chart/<int:pk>/checklist/", private(chart.checklist_complete), name="chart_checklist"),
    path("chart/<int:pk>/waive/", private(chart.waive), name="chart_waive"),
    path("chart/<int:pk>/dose/", private(chart.dose), name="chart_dose"),
    path("chart/<int:pk>/dose-preview/", private(chart.dose_preview), name="chart_dose_preview"),
    path("chart/<int:pk>/vitals/", private(chart.vitals), name="chart_vitals"),
    path("chart/<int:pk>/side-effects/", private(chart.side_effect), name="chart_side_effect"),
    path(
        "chart/<int:pk>/side-effects/<int:effect>/resolve/",
        private(chart.side_effect_resolve),
        name="chart_side_effect_resolve",
    ),
    path("chart/<int:pk>/monitoring/", private(chart.monitoring), name="chart_monitoring"),
    path(
        "chart/<int:pk>/alerts/<int:alert_id>/acknowledge/",
        private(chart.acknowledge),
        name="chart_acknowledge",
    ),
    path(
        "chart/<int:pk>/ready-to-leave/", private(chart.ready_to_leave), name="chart_ready_to_leave"
    ),
    path("chart/<int:pk>/discharge/", private(chart.discharge), name="chart_discharge"),
    # clinician
    path("clinician/courses/", private(clinician.courses), name="courses"),
    path("clinician/courses/<int:pk>/", private(clinician.course), name="course"),
    path(
        "clinician/courses/<int:pk>/alerts/<int:alert_id>/acknowledge/",
        private(clinician.acknowledge),
        name="acknowledge",
    ),
    path(
        "clinician/courses/<int:pk>/sessions/<int:session_id>/restore/",
        private(clinician.session_restore),
        name="course_session_restore",
    ),
    # patient
    path("portal/phq9/", private(portal.phq9), name="phq9"),
    path("portal/phq9/<int:pk>/", private(portal.phq9_result), name="phq9_result"),
]
