"""The chart's pages: the day board, the nurse's day and chart, the clinician's courses
and alerts, and the patient's PHQ-9."""

from django.urls import path

from . import board, chart, clinician, portal

urlpatterns = [
    # front desk
    path("desk/board/", board.board, name="board"),
    # nurse
    path("nurse/today/", chart.today, name="today"),
    path("chart/<int:pk>/", chart.chart, name="chart"),
    path("chart/<int:pk>/check-in/", chart.check_in, name="chart_check_in"),
    path("chart/<int:pk>/checklist/", chart.checklist_complete, name="chart_checklist"),
    path("chart/<int:pk>/waive/", chart.waive, name="chart_waive"),
    path("chart/<int:pk>/dose/", chart.dose, name="chart_dose"),
    path("chart/<int:pk>/dose-preview/", chart.dose_preview, name="chart_dose_preview"),
    path("chart/<int:pk>/vitals/", chart.vitals, name="chart_vitals"),
    path("chart/<int:pk>/side-effects/", chart.side_effect, name="chart_side_effect"),
    path(
        "chart/<int:pk>/side-effects/<int:effect>/resolve/",
        chart.side_effect_resolve,
        name="chart_side_effect_resolve",
    ),
    path("chart/<int:pk>/monitoring/", chart.monitoring, name="chart_monitoring"),
    path(
        "chart/<int:pk>/alerts/<int:alert_id>/acknowledge/",
        chart.acknowledge,
        name="chart_acknowledge",
    ),
    path("chart/<int:pk>/ready-to-leave/", chart.ready_to_leave, name="chart_ready_to_leave"),
    path("chart/<int:pk>/discharge/", chart.discharge, name="chart_discharge"),
    # clinician
    path("clinician/courses/", clinician.courses, name="courses"),
    path("clinician/courses/<int:pk>/", clinician.course, name="course"),
    path(
        "clinician/courses/<int:pk>/alerts/<int:alert_id>/acknowledge/",
        clinician.acknowledge,
        name="acknowledge",
    ),
    path(
        "clinician/courses/<int:pk>/sessions/<int:session_id>/restore/",
        clinician.session_restore,
        name="course_session_restore",
    ),
    # patient
    path("portal/phq9/", portal.phq9, name="phq9"),
    path("portal/phq9/<int:pk>/", portal.phq9_result, name="phq9_result"),
]
