"""Rate limits (django-ratelimit) on what anyone may call without being signed in: the
sign-in, and the patients' link pages (a reminder's answer page, the calendar feed). The
rates are settings (RATELIMIT_*); counts are per client address, in the default cache.

A limited request answers 429: under /api/ in the API's error shape (clinic.api.base),
elsewhere a short page that says to wait.
"""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django_ratelimit.decorators import ratelimit

RETRY_AFTER_SECONDS = 60


def _rate(name):
    """The setting `name`, read at each request (so a test may override it)."""
    return lambda group, request: getattr(settings, name)


def login_limit(view):
    """Sign-in attempts (POSTs) per address."""
    limit = ratelimit(group="login", key="ip", rate=_rate("RATELIMIT_LOGIN"), method="POST")
    return limit(view)


def public_link_limit(group: str):
    """A patient's link page (a token in the URL): every request, per address."""
    return ratelimit(
        group=group, key="ip", rate=_rate("RATELIMIT_PUBLIC_LINK"), method=ratelimit.ALL
    )


def limited(request, exception=None):
    """RATELIMIT_VIEW: the answer to a request over its limit."""
    detail = "Too many requests. Wait a minute and try again."
    if request.path.startswith("/api/"):
        body = {"status": 429, "code": "throttled", "detail": detail, "errors": {}}
        response = JsonResponse(body, status=429)
    else:
        response = render(request, "429.html", {"detail": detail}, status=429)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
