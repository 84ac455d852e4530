"""Signing in again loses nothing: a form sent after the sign-in expired is kept, and the
user comes back to the page the form was on, with what they typed offered back.

Pages use `login_required` and `require_POST` from here instead of Django's. A POST from
a signed-out browser is not redirected to the login with `next` set to the POST's own URL
(which would land on a 405 after signing in, with the form gone): its fields are kept in
the browser's (anonymous) session, and `next` is the page the form came from. Django's
`login()` keeps the session's data when it rotates the key, so after signing in that page
gets the fields back (`kept_form`) and shows a message saying the form was not saved.

What was typed stays in the session only: never in the URL, never in a log. Passwords and
the CSRF token are not kept.
"""

from functools import wraps
from urllib.parse import urlsplit

from axes import helpers as axes_helpers
from axes.conf import settings as axes_settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.urls import Resolver404, get_script_prefix, resolve
from django.views.decorators import http
from django_htmx.http import HttpResponseClientRedirect

KEPT = "signin.kept_form"  # the session key: one form at a time, the last one sent
NOT_SAVED = "was not saved because you were signed out; check the values and save again."
NOT_KEPT_FIELDS = {"csrfmiddlewaretoken", REDIRECT_FIELD_NAME}


def require_POST(view):
    """Django's `require_POST`, marked so that nobody is ever sent back to this URL after
    signing in (a browser can only GET it, and would get a 405)."""
    view = http.require_POST(view)
    view.post_only = True
    return view


def is_post_only(view) -> bool:
    """Whether a resolved view refuses GET: one marked by `require_POST` above, a class-based
    view without `get` (Django's LogoutView), or a DRF viewset route without a GET action."""
    if getattr(view, "post_only", False):
        return True
    actions = getattr(view, "actions", None)  # DRF viewsets: {"get": "list", ...}
    if actions is not None:
        return "get" not in actions
    view_class = getattr(view, "view_class", None)
    return view_class is not None and "get" not in view_class.http_method_names


def _without_prefix(path: str) -> str:
    """`path` without the script prefix (if the site is not at the root), as `resolve` wants."""
    prefix = get_script_prefix()
    return "/" + path[len(prefix) :] if path.startswith(prefix) else path


def page_for(path: str) -> str | None:
    """The nearest URL at or above `path` that a browser may GET: for a POST-only URL such
    as /chart/5/vitals/, the page its form is on (/chart/5/). None if there is none."""
    path = _without_prefix(path)
    parts = path.rstrip("/").split("/")
    candidates = [path] + ["/".join(parts[:n]) + "/" for n in range(len(parts) - 1, 0, -1)]
    for candidate in candidates:
        try:
            match = resolve(candidate)
        except Resolver404:
            continue
        if not is_post_only(match.func):
            return get_script_prefix() + candidate.lstrip("/")
    return None


def _keep(request, unsaved: str) -> None:
    """Keep what a signed-out browser sent, for its page to offer back after signing in."""
    fields = {
        name: values if len(values) > 1 else values[0]
        for name, values in request.POST.lists()
        if name not in NOT_KEPT_FIELDS and "password" not in name.lower()
    }
    request.session[KEPT] = {
        "page": page_for(request.path),
        "form": request.resolver_match.view_name,
        "fields": fields,
        "message": f"{unsaved} {NOT_SAVED}",
    }


def _offer_back(request) -> None:
    """On the first page after signing in: take the kept form out of the session and, if this
    is the page it came from, say it was not saved and hand its fields to the view."""
    kept = request.session.pop(KEPT, None)
    if kept and request.method == "GET" and kept["page"] == request.path:
        messages.warning(request, kept["message"])
        request.kept_form = kept


def kept_form(request, view_name: str) -> dict | None:
    """The fields a signed-out user had sent to `view_name` (e.g. "pages:chart_vitals"),
    to pre-fill that form on its page; None if there are none."""
    kept = getattr(request, "kept_form", None)
    if kept and kept["form"] == view_name:
        return kept["fields"]
    return None


def login_required(view=None, *, unsaved: str = "What you sent"):
    """Django's `login_required` for pages, losing nothing a signed-out user sent.

    `unsaved` names what was lost in the message shown after signing in ("Your reading")."""

    def decorator(view):
        @wraps(view)
        def inner(request, *args, **kwargs):
            if request.user.is_authenticated:
                if KEPT in request.session:
                    _offer_back(request)
                return view(request, *args, **kwargs)
            if request.method == "POST":
                _keep(request, unsaved)
            if request.method == "POST" or is_post_only(view):
                next_url = page_for(request.path) or resolve_url("home")
            else:
                next_url = request.get_full_path()
            response = redirect_to_login(next_url)
            if getattr(
                request, "htmx", False
            ):  # the whole page goes to the login, not the form's fragment
                return HttpResponseClientRedirect(response["Location"])
            return response

        return inner

    return decorator if view is None else decorator(view)


class LoginView(auth_views.LoginView):
    """Django's login, never sending the user on to a URL that only takes POST: such a
    `next` is replaced by the page its form is on (or the user's home page)."""

    def get_redirect_url(self):
        url = super().get_redirect_url()  # already checked to be on this site
        if not url:
            return url
        path = urlsplit(url).path
        try:
            post_only = is_post_only(resolve(_without_prefix(path)).func)
        except Resolver404:
            return url
        return (page_for(path) or "") if post_only else url


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE): the API's
    error shape under /api/ (issuing a token by password), axes' own text elsewhere."""
    message = axes_helpers.get_lockout_message()
    status = axes_settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith("/api/"):
        body = {"status": status, "code": "locked_out", "detail": message, "errors": {}}
        return JsonResponse(body, status=status)
    return HttpResponse(message, status=status)
