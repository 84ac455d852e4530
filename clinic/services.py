"""Writes for the organisation."""

from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from .models import Clinic, StaffMembership
from .roles import ROLE_GROUPS


@transaction.atomic
def staff_membership_add(*, user: AbstractBaseUser, clinic: Clinic, role: str) -> StaffMembership:
    """Give a user a role at a clinic, and the role's group (its admin permissions)."""
    membership, _ = StaffMembership.objects.get_or_create(user=user, clinic=clinic, role=role)
    group, _ = Group.objects.get_or_create(name=ROLE_GROUPS[role])
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return membership
