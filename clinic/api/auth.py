"""API authentication: DRF's token scheme, its user read in one plain query.

Every API request authenticates, so this is on every request's path: the ORM's
`Token.objects.select_related("user").get(key=...)` cost three times as much to build as
to run (README, Performance). Same header and same answers; `request.auth` is a Token
with its key and user (its creation time is not read)."""

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from clinic.db import table


def _token_sql() -> str:
    user = get_user_model()
    pk = connection.ops.quote_name(user._meta.pk.column)
    return (
        f"SELECT u.* FROM {table(user)} u JOIN {table(Token)} t "
        f"ON t.user_id = u.{pk} WHERE t.key = %s"
    )


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        user = next(iter(get_user_model().objects.raw(_token_sql(), [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token(key=key, user=user)
        token._state.adding = False
        return user, token
