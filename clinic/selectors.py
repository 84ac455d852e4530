import datetime as dt

from .calendar import ClinicCalendar
from .models import Chair, Clinic, StaffMembership


def clinic_calendar(*, clinic: Clinic, start: dt.date | None = None) -> ClinicCalendar:
    """The clinic's hours and its closures ending on or after `start`."""
    closures = clinic.closures.all()
    if start is not None:
        closures = closures.filter(end_date__gte=start)
    return ClinicCalendar(
        tz=clinic.tz,
        hours={h.weekday: (h.opens, h.closes) for h in clinic.opening_hours.all()},
        closures=tuple(closures.values_list("start_date", "end_date")),
    )


def chairs_active(*, clinic: Clinic):
    return Chair.objects.filter(clinic=clinic, is_active=True).order_by("name", "id")


def user_has_role(*, user, clinic: Clinic, roles) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    return StaffMembership.objects.filter(user=user, clinic=clinic, role__in=list(roles)).exists()
