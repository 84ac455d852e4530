"""Two-factor sign-in (django-otp): an authenticator app's code (TOTP) after the password,
or one of ten single-use recovery codes.

Who must pass it (`second_factor_required`) is decided when the user signs in and kept in
the session: a superuser, a staff member of a clinic with `staff_two_factor_required`, or
anyone (a patient too) who has enrolled an authenticator. Until the session is verified,
`SecondFactorMiddleware` lets such a user reach only the sign-in, sign-out, verify and
enrol pages: every other page and the admin send them to the verify step (or to enrolment
if they have no authenticator yet), and the API answers 403. A clinic's change of the
setting reaches its staff at their next sign-in.

Verifying rotates the session key (a privilege change) and remembers the device in the
session (`django_otp.login`). django-otp throttles wrong codes per device.
"""

import base64

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django_htmx.http import HttpResponseClientRedirect
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic import signin
from clinic.models import StaffMembership

REQUIRED = "two_factor.required"  # the session key: decided at sign-in
RECOVERY_CODES = 10
# Pages a signed-in user who has not passed the second factor may still reach.
OPEN_VIEWS = {"login", "logout", "two_factor_verify", "two_factor_enrol", "healthz"}


def second_factor_required(user) -> bool:
    """Must `user` pass a second factor after the password? A superuser (who sees every
    clinic), staff of a clinic that requires it, and anyone who has enrolled a device."""
    if user.is_superuser:
        return True
    at_requiring_clinic = StaffMembership.objects.filter(
        user=user, clinic__staff_two_factor_required=True
    )
    return at_requiring_clinic.exists() or user_has_device(user)


@receiver(user_logged_in, dispatch_uid="two_factor.decide")
def _decide_at_sign_in(sender, request, user, **kwargs):
    request.session[REQUIRED] = second_factor_required(user)


def passed(request) -> bool:
    """Has this session's user passed the second factor, or need not? (An API token is
    issued only when this holds.)"""
    if request.session.get(REQUIRED) is None:
        request.session[REQUIRED] = second_factor_required(request.user)
    return not request.session[REQUIRED] or request.user.is_verified()


def passed_for(request, user) -> bool:
    """May `user` be issued an API token on `request`? When signed in on it, as `passed`
    says; named by username and password alone, they have passed no second factor, so
    only one who need not pass it."""
    if request.user.is_authenticated and request.user.pk == user.pk:
        return passed(request)
    return not second_factor_required(user)


class SecondFactorMiddleware:
    """After django-otp's OTPMiddleware: a signed-in user who must pass the second factor
    and has not reaches only OPEN_VIEWS."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.user.is_authenticated or request.resolver_match.view_name in OPEN_VIEWS:
            return None
        if passed(request):
            return None
        if request.resolver_match.namespace == "v1":
            body = {
                "status": 403,
                "code": "second_factor_required",
                "detail": "Pass the second factor at /accounts/two-factor/ first.",
                "errors": {},
            }
            return JsonResponse(body, status=403)
        if request.resolver_match.namespace == "fhir":  # FHIR's own error shape
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "forbidden",
                           "diagnostics": "Pass the second factor first."}],
            }  # fmt: skip
            return JsonResponse(outcome, status=403, content_type="application/fhir+json")
        if request.method == "GET" and not signin.is_post_only(view_func):
            back = request.get_full_path()
        else:
            back = signin.page_for(request.path) or resolve_url("home")
        url = f"{reverse('two_factor_verify')}?{urlencode({REDIRECT_FIELD_NAME: back})}"
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(url)
        return redirect(url)


def _next(request) -> str:
    """Where to go once verified: `next` if it is on this site, else the home page."""
    url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    safe = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if safe else resolve_url("home")


def _with_next(name: str, request) -> str:
    return f"{reverse(name)}?{urlencode({REDIRECT_FIELD_NAME: _next(request)})}"


def recovery_codes_issue(user) -> list[str]:
    """Ten new single-use recovery codes for `user`, replacing any left: shown once."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.select_for_update().get_or_create(
            user=user, defaults={"name": "Recovery codes"}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def _verified(request, device) -> None:
    request.session.cycle_key()  # a privilege change: a new session key
    otp_login(request, device)
    request.session[REQUIRED] = True


def device_for_code(user, code: str):
    """The user's confirmed device that accepts `code`: six digits are an authenticator
    app's, anything else a recovery code (used up by this). None if none accepts it."""
    code = code.strip().replace(" ", "").lower()
    kind = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    with transaction.atomic():
        for device in devices_for_user(user, for_verify=True):
            if isinstance(device, kind) and device.verify_token(code):
                return device
    return None


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


@signin.login_required
def verify(request):
    """The step after the password: a code from the authenticator app, or a recovery code."""
    if request.user.is_verified():
        return redirect(_next(request))
    if not user_has_device(request.user):
        return redirect(_with_next("two_factor_enrol", request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = device_for_code(request.user, form.cleaned_data["code"])
        if device is not None:
            _verified(request, device)
            if isinstance(device, StaticDevice):
                left = device.token_set.count()
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. "
                    "Issue new ones on the two-factor page when you run low.",
                )
            return redirect(_next(request))
        form.add_error(
            "code", "That code did not match. Wait a few seconds, then try the newest code."
        )
    status = 400 if form.errors else 200
    context = {"form": form, "next": _next(request)}
    return render(request, "registration/two_factor_verify.html", context, status=status)


def _unconfirmed_totp(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


@signin.login_required
def enrol(request):
    """Add an authenticator app: its secret as a QR code (and as text), confirmed by one
    of its codes; then ten recovery codes, shown once. A user who already has a device
    must pass it first (the password alone never adds a device)."""
    user = request.user
    if user_has_device(user) and not user.is_verified():
        return redirect(_with_next("two_factor_verify", request))
    device = _unconfirmed_totp(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"].strip()):
            with transaction.atomic():
                TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            codes = recovery_codes_issue(user)
            _verified(request, device)
            context = {"codes": codes, "next": _next(request)}
            return render(request, "registration/two_factor_codes.html", context)
        form.add_error("code", "That code did not match. Check the phone's clock and try again.")
    uri = device.config_url
    context = {
        "form": form,
        "next": _next(request),
        "qr": mark_safe(segno.make(uri, error="m").svg_inline(scale=4)),  # segno's own SVG
        "uri": uri,
        "secret": base64.b32encode(device.bin_key).decode(),
        "enrolled": user_has_device(user),
        "codes_left": StaticToken.objects.filter(device__user=user).count(),
    }
    status = 400 if form.errors else 200
    return render(request, "registration/two_factor_enrol.html", context, status=status)


@signin.require_POST
@signin.login_required
def recovery_codes(request):
    """Ten new recovery codes (the old ones stop working), for a verified session only."""
    if not request.user.is_verified():
        return redirect(_with_next("two_factor_verify", request))
    codes = recovery_codes_issue(request.user)
    context = {"codes": codes, "next": resolve_url("two_factor_enrol")}
    return render(request, "registration/two_factor_codes.html", context)
