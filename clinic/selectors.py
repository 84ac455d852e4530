import datetime as dt

from django.db.models import Q
from django.utils import timezone

from .calendar import ClinicCalendar
from .models import ApiToken, Chair, Clinic, StaffMembership


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


def staff_has_role(*, user, clinic_id: int, roles=None) -> bool:
    """Does the user work at the clinic, in one of `roles` (any role when None)?
    Superusers are not special here: a sign-off must prove a real clinician."""
    memberships = StaffMembership.objects.filter(user=user, clinic_id=clinic_id)
    if roles is not None:
        memberships = memberships.filter(role__in=list(roles))
    return memberships.exists()


def user_has_role(*, user, clinic: Clinic, roles) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    return staff_has_role(user=user, clinic_id=clinic.id, roles=roles)


def for_staff(queryset, *, user, clinic_path: str):
    """The rows of the clinics the user works at (every row for a superuser)."""
    if getattr(user, "is_superuser", False):
        return queryset
    clinic_ids = StaffMembership.objects.filter(user=user).values("clinic_id")
    return queryset.filter(**{f"{clinic_path}__in": clinic_ids})


def roles_by_clinic(rows) -> dict[int, set[str]]:
    """A user's staff roles by clinic, from (clinic id, role) rows; a row without a
    clinic (a user holding no role, from an outer join) adds nothing."""
    roles: dict[int, set[str]] = {}
    for clinic_id, role in rows:
        if clinic_id is not None:
            roles.setdefault(clinic_id, set()).add(role)
    return roles


def api_tokens_manageable(*, user, admin_clinic_ids):
    """The live tokens `user` may list and revoke: their own, and, as clinic admin of
    `admin_clinic_ids`, those of every member of staff there (a superuser: all). Never
    a patient's but their own: a patient's portal login is not the clinic's staff."""
    tokens = ApiToken.objects.filter(expiry__gt=timezone.now()).select_related("user")
    if user.is_superuser:
        return tokens
    staff = StaffMembership.objects.filter(clinic_id__in=admin_clinic_ids).values("user_id")
    return tokens.filter(Q(user=user) | Q(user__in=staff))
