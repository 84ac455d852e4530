"""API authentication: DRF's token scheme, its user and the user's roles read in one
plain query.

Every API request authenticates and then asks the caller's roles (clinic.api.base.Caller),
so this is on every request's path: the ORM's `Token.objects.select_related("user")`
and a second query for the roles cost several times as much to build as to run
(docs/performance.md). Same header and same answers; `request.auth` is a Token with its
key and user (its creation time is not read)."""

from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from clinic.db import Columns, table
from clinic.models import StaffMembership
from clinic.selectors import roles_by_clinic


@cache
def _users() -> Columns:
    return Columns(get_user_model(), "u")


def _token_sql() -> str:
    users = _users()
    pk = connection.ops.quote_name(users.model._meta.pk.column)
    # One row per staff role the user holds (one row with no role for a patient).
    return (
        f"SELECT {users.sql}, m.clinic_id, m.role FROM {table(Token)} t "
        f"JOIN {table(users.model)} u ON u.{pk} = t.user_id "
        f"LEFT JOIN {table(StaffMembership)} m ON m.user_id = u.{pk} WHERE t.key = %s"
    )


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        with connection.cursor() as cursor:
            cursor.execute(_token_sql(), [key])
            rows = cursor.fetchall()
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = _users().build(rows[0])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # Read by Caller instead of asking again.
        user.clinic_roles = roles_by_clinic(row[-2:] for row in rows)
        token = Token(key=key, user=user)
        token._state.adding = False
        return user, token
