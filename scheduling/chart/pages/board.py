"""The front desk's day board: every chair's day with each session's state, latest
vitals and open alerts (the chart's day board), polled by each open screen."""

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clinic import conditional
from clinic.selectors import clinic_calendar
from clinic.signin import login_required
from patients.services import record_access_log
from scheduling.booking import selectors as booking_selectors
from scheduling.booking.models import Session
from scheduling.booking.pages import access
from scheduling.chart import selectors as chart_selectors
from scheduling.chart.pages.forms import BoardForm

SLOT_MINUTES = 15


def _board_grid(board, calendar) -> dict:
    """Where each session sits on the grid: chairs as rows, 15-minute columns from the
    clinic's opening to its closing time that weekday (8-18 on a day it is shut)."""
    tz = board.clinic.tz
    opens, closes = calendar.hours.get(board.day.weekday(), (dt.time(8), dt.time(18)))
    start = dt.datetime.combine(board.day, opens)
    end = dt.datetime.combine(board.day, closes)
    shown = [s for s in board.sessions if s.status != Session.Status.CANCELLED]
    for s in shown:  # widen the grid for a session outside the hours (a late move, say)
        local_start = s.starts_at.astimezone(tz).replace(tzinfo=None)
        local_end = s.ends_at.astimezone(tz).replace(tzinfo=None)
        start = min(start, local_start.replace(minute=0))
        end = max(end, local_end)
    if end.minute:
        end = end.replace(minute=0) + dt.timedelta(hours=1)
    columns = int((end - start) / dt.timedelta(minutes=SLOT_MINUTES))
    rows = {c.id: i + 2 for i, c in enumerate(board.chairs)}
    unassigned = len(board.chairs) + 2
    placed = []
    for s in shown:
        local_start = s.starts_at.astimezone(tz).replace(tzinfo=None)
        local_end = s.ends_at.astimezone(tz).replace(tzinfo=None)
        col = int((local_start - start) / dt.timedelta(minutes=SLOT_MINUTES)) + 2
        span = max(1, -(-(local_end - local_start) // dt.timedelta(minutes=SLOT_MINUTES)))
        placed.append({"s": s, "row": rows.get(s.chair_id, unassigned), "col": col, "span": span})
    hours = []
    t = start
    while t < end:
        col = int((t - start) / dt.timedelta(minutes=SLOT_MINUTES)) + 2
        hours.append({"label": f"{t:%H:%M}", "col": col})
        t += dt.timedelta(hours=1)
    return {
        "columns": columns,
        "placed": placed,
        "hours": hours,
        "has_unassigned": any(p["row"] == unassigned for p in placed),
        "unassigned_row": unassigned,
        "is_open": board.day.weekday() in calendar.hours and not calendar.is_closed(board.day),
    }


@login_required
def board(request: HttpRequest) -> HttpResponse:
    clinics = access.clinics_for(request, access.STAFF)
    form = BoardForm(request.GET or None, clinics=clinics)
    clinic, day = None, None
    if form.is_bound and form.is_valid():
        clinic, day = form.cleaned_data["clinic"], form.cleaned_data["date"]
    clinic = clinic or clinics.first()
    if clinic is None:
        return render(request, "scheduling/pages/desk/no_clinic.html", status=403)
    today = clinic.local_today()
    day = day or today

    def page():
        data = chart_selectors.day_board(clinic=clinic, day=day)
        record_access_log(
            user=request.user,
            patient_ids=[s.patient_id for s in data.sessions],
            action="page:board",
        )
        context = {
            "form": BoardForm(initial={"clinic": clinic, "date": day}, clinics=clinics),
            "board": data,
            "grid": _board_grid(data, clinic_calendar(clinic=clinic, start=day)),
            "cancelled": [s for s in data.sessions if s.status == Session.Status.CANCELLED],
            "notices": booking_selectors.staff_notices_open(clinics=[clinic])[:10],
            "prev_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "today": today,
            "can_book": access.caller(request).has(clinic.id, access.COURSE_STARTERS),
        }
        template = "_board.html" if request.htmx else "board.html"
        return render(request, f"scheduling/pages/desk/{template}", context)

    # Polled by every open board (htmx, every 45 s): unchanged, it is a 304.
    validator = chart_selectors.day_board_validator(clinic=clinic, day=day)
    return conditional.respond(request, (validator, today), page)
