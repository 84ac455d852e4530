"""How long a signed-in session lasts: idle logoff, an absolute lifetime, and an end to
every session of a user whose staff roles change.

- Idle: a session ends after `idle_seconds` without activity. A staff member's limit is
  the shortest `Clinic.idle_logoff_minutes` of their clinics, anyone else's (a patient's)
  settings.SESSION_IDLE_MINUTES; it is read once, at sign-in, and kept in the session.
- Activity is any request except a page's poll: the day board refreshes itself with the
  `X-Poll: 1` header (POLL_HEADER), so a board left open still signs out. The pages'
  warning (clinic/static/clinic/idle.js) offers "stay signed in", which posts to
  `keep_alive`.
- Absolute: SESSION_ABSOLUTE_HOURS after signing in, active or not.
- A role added or taken away (a StaffMembership saved or deleted) ends that user's
  sessions: they sign in again and get a new session with their new roles. (Django
  already gives a new session key at every sign-in.)

The session ends with Django's `logout`; the request then goes on as an anonymous one, so
a page's `login_required` sends the browser to the login (keeping what a form sent) and
the API answers 401/403.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout, user_logged_in
from django.contrib.sessions.models import Session
from django.db.models import Min
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinic.models import StaffMembership

POLL_HEADER = "X-Poll"
STARTED = "_session_started"
LAST_ACTIVITY = "_session_last_activity"
IDLE_SECONDS = "_session_idle_seconds"


def idle_seconds_for(user) -> int:
    """The idle limit of `user`: the shortest of their clinics', else the site default."""
    minutes = StaffMembership.objects.filter(user=user).aggregate(
        shortest=Min("clinic__idle_logoff_minutes")
    )["shortest"]
    return (minutes or settings.SESSION_IDLE_MINUTES) * 60


@receiver(user_logged_in)
def _start(sender, request, user, **kwargs):
    now = time.time()
    request.session[STARTED] = now
    request.session[LAST_ACTIVITY] = now
    request.session[IDLE_SECONDS] = idle_seconds_for(user)


def is_poll(request) -> bool:
    return request.headers.get(POLL_HEADER) == "1"


def ended(session, now: float) -> str | None:
    """Why a signed-in session is over ("idle" or "lifetime"), or None while it lasts."""
    if now - session[LAST_ACTIVITY] > session[IDLE_SECONDS]:
        return "idle"
    if now - session[STARTED] > settings.SESSION_ABSOLUTE_HOURS * 3600:
        return "lifetime"
    return None


class SessionLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        if SESSION_KEY in session:
            now = time.time()
            if LAST_ACTIVITY not in session:  # signed in before these limits existed
                _start(None, request, request.user)
            why = ended(session, now)
            if why is not None:
                minutes = session[IDLE_SECONDS] // 60
                logout(request)
                messages.info(
                    request,
                    f"You were signed out after {minutes} minutes without activity."
                    if why == "idle"
                    else "You were signed out: a session lasts "
                    f"{settings.SESSION_ABSOLUTE_HOURS} hours at most.",
                )
            else:
                if not is_poll(request):
                    session[LAST_ACTIVITY] = now
                request.idle_logoff_seconds = session[IDLE_SECONDS]
        return self.get_response(request)


@require_POST
def keep_alive(request):
    """ "Stay signed in": a request like any other, so the middleware has counted it as
    activity. 204 while signed in; 401 once the session has ended."""
    if not request.user.is_authenticated:
        return HttpResponse(status=401)
    return HttpResponse(status=204)


def end_sessions_of(user_id: int) -> None:
    """Delete every session of `user_id`. Django's session table has no user column, so
    the live sessions are read and decoded (a role change is rare; sessions live at most
    SESSION_ABSOLUTE_HOURS)."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).iterator()
    keys = [s.session_key for s in live if s.get_decoded().get(SESSION_KEY) == str(user_id)]
    Session.objects.filter(session_key__in=keys).delete()


@receiver(post_save, sender=StaffMembership)
@receiver(post_delete, sender=StaffMembership)
def _roles_changed(sender, instance, **kwargs):
    end_sessions_of(instance.user_id)
