"""Writes for the organisation."""

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone

from .models import ApiToken, Clinic, StaffMembership
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


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Issue a token named `name`, expiring after the set lifetime (REST_KNOX TOKEN_TTL).
    Returns the row and the token itself, which is stored only as a digest: this is the
    one time it can be shown. The owner's expired tokens are deleted on the way."""
    ApiToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
    return ApiToken.objects.create(user=user, name=name)


def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke a token: its row goes, and the token is refused from the next request on."""
    token.delete()


# How stale "last used" may be: without it, every request through a token would write.
TOKEN_LAST_USED_EVERY = dt.timedelta(minutes=1)


def api_token_mark_used(*, token: ApiToken, now: dt.datetime | None = None) -> None:
    """Note when a token was used, at most once a minute (one UPDATE, no read)."""
    now = now or timezone.now()
    if token.last_used is None or now - token.last_used >= TOKEN_LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
