"""How an API request signs in with a token (REST_FRAMEWORK DEFAULT_AUTHENTICATION_CLASSES).

A module of its own, importing no view: DRF imports it while its views load."""

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from rest_framework import exceptions

from clinic.services import api_token_mark_used


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's `Authorization: Token <token>`, in one query (the token with its user), and
    noting when the token was last used.

    knox also reads all the user's other tokens on every request, to delete the expired
    ones among them; here only the token sent is checked (an expired one is refused and
    deleted), and the owner's other expired tokens go when they next issue one."""

    def authenticate_credentials(self, token: bytes):
        # knox's tokens are hex digits (no TOKEN_PREFIX is set). Anything else is refused
        # before knox decodes it as UTF-8 (a Latin-1 header byte would be a 500) or the
        # database is asked.
        if not token.isalnum():  # bytes: ASCII letters and digits only
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
            auth_token.delete()
            return True
        return False

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        api_token_mark_used(token=token)
        return user, token


class TokenScheme(KnoxTokenScheme):
    """The token in the OpenAPI schema, as before knox (`tokenAuth`: `Authorization:
    Token <token>`). drf-spectacular's knox scheme names knox's class only, not ours."""

    target_class = TokenAuthentication
    name = "tokenAuth"
