"""The admin login in two steps, the lockout page, and a staff member's two-factor page.

1. `/admin/login/` (before the admin's own, config/urls.py): Django's login form.
   A right password for someone without a second factor, and not required to have
   one, logs in as before. Otherwise the account waits in the session (`pending`,
   for PENDING_SECONDS) and the browser goes to step 2.
2. `/admin/login/code/`: a code from the authenticator app, or a recovery code.
   `/admin/login/setup/` instead, for an admin whose organization requires a second
   factor they have not set up: the QR code, then the first code, then the
   recovery codes. Only then is the session logged in, marked verified by the device.

A wrong code counts as a failed login for the lockout (django-axes), like a wrong
password: five of either, for one username from one address, lock the login.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model, user_login_failed
from django.contrib.auth import login as auth_login
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.errors import ApplicationError
from signin import selectors, services
from signin.forms import CodeForm, PasswordForm

PENDING_KEY = "signin_pending"
SETUP_KEY = "signin_setup_device"
#: How long a right password waits for its second step.
PENDING_SECONDS = 300


# --- Step 1: the password ------------------------------------------------------------------


class PasswordStep(LoginView):
    """Django admin's login, which stops before logging in when a second factor is due."""

    authentication_form = PasswordForm
    template_name = "admin/login.html"

    def dispatch(self, request, *args, **kwargs):
        if request.method == "GET" and admin.site.has_permission(request):
            return redirect("admin:index")
        request.current_app = admin.site.name
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request = self.request
        context.update(
            admin.site.each_context(request),
            title=_("Log in"),
            subtitle=None,
            app_path=request.get_full_path(),
            username=request.user.get_username(),
        )
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index")
        return context

    def form_valid(self, form):
        user = form.get_user()
        enrolled = selectors.authenticator(user=user) is not None
        if not enrolled and not selectors.two_factor_required(user=user):
            return super().form_valid(form)
        self.request.session[PENDING_KEY] = {
            "user": user.pk,
            "backend": user.backend,
            "next": self.get_success_url(),
            "at": timezone.now().timestamp(),
        }
        self.request.session.pop(SETUP_KEY, None)
        return redirect("signin:code" if enrolled else "signin:setup_at_login")


# --- Step 2: the code ----------------------------------------------------------------------


@dataclass
class Pending:
    user: object
    backend: str
    next: str


def _pending(request) -> Pending | None:
    """The account whose password was right a moment ago in this browser, if any."""
    data = request.session.get(PENDING_KEY)
    if not data or timezone.now().timestamp() - data["at"] > PENDING_SECONDS:
        return None
    user = get_user_model().objects.filter(pk=data["user"], is_active=True).first()
    if user is None or data["backend"] not in settings.AUTHENTICATION_BACKENDS:
        return None
    next_url = data["next"]
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("admin:index")
    return Pending(user=user, backend=data["backend"], next=next_url)


def _login_page_context(request, title: str) -> dict:
    return {**admin.site.each_context(request), "title": title, "subtitle": None}


def _log_in(request, pending: Pending, device) -> None:
    request.session.pop(PENDING_KEY, None)
    request.session.pop(SETUP_KEY, None)
    auth_login(request, pending.user, backend=pending.backend)
    otp_login(request, device)


def _refuse_code(request, credentials: dict, form: CodeForm, message: str) -> None:
    """A wrong code is a failed login: counted by django-axes like a wrong password."""
    user_login_failed.send(sender=__name__, credentials=credentials, request=request)
    form.add_error("code", message)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def code_step(request):
    pending = _pending(request)
    if pending is None:
        return redirect("admin:login")
    user = pending.user
    if selectors.authenticator(user=user) is None:
        return redirect("signin:setup_at_login")
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        return locked_out(request, None, credentials)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.second_factor_verify(user=user, code=form.cleaned_data["code"])
        if device is not None:
            _log_in(request, pending, device)
            if isinstance(device, StaticDevice):
                left = selectors.recovery_codes_left(user=user)
                messages.warning(
                    request,
                    ngettext(
                        "You signed in with a recovery code: %(count)d is left. "
                        "Make new ones on your two-factor page.",
                        "You signed in with a recovery code: %(count)d are left. "
                        "Make new ones on your two-factor page.",
                        left,
                    )
                    % {"count": left},
                )
            return redirect(pending.next)
        _refuse_code(
            request,
            credentials,
            form,
            _("This code is not valid: enter the code your app shows now, or a recovery code."),
        )
    return render(
        request,
        "signin/code.html",
        {**_login_page_context(request, _("Two-factor sign-in")), "form": form},
    )


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def setup_at_login(request):
    """An admin who must use a second factor and has none sets it up before entering."""
    pending = _pending(request)
    if pending is None:
        return redirect("admin:login")
    user = pending.user
    if selectors.authenticator(user=user) is not None:
        return redirect("signin:code")
    if not selectors.two_factor_required(user=user):
        return redirect("admin:login")
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        return locked_out(request, None, credentials)
    device = _setup_device(request, user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = services.two_factor_setup_confirm(
                user=user, device_id=device.pk, code=form.cleaned_data["code"]
            )
        except ApplicationError as error:
            _refuse_code(request, credentials, form, error.message)
        else:
            _log_in(request, pending, device)
            return _recovery_codes_page(request, codes, next_url=pending.next)
    return render(
        request,
        "signin/setup.html",
        {
            **_login_page_context(request, _("Set up two-factor sign-in")),
            **_setup_context(device),
            "form": form,
            "at_login": True,
        },
    )


def _setup_device(request, user) -> TOTPDevice:
    """The secret being set up in this session (a new one if none, or if it went)."""
    device_id = request.session.get(SETUP_KEY)
    device = (
        TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
        if device_id
        else None
    )
    if device is None:
        device = services.two_factor_setup_start(user=user)
        request.session[SETUP_KEY] = device.pk
    return device


def _setup_context(device: TOTPDevice) -> dict:
    secret = base64.b32encode(device.bin_key).decode()
    return {
        # segno's own SVG markup of our otpauth:// address: no user input in it.
        "qr_code": mark_safe(segno.make(device.config_url, error="m").svg_inline(scale=4)),  # noqa: S308
        # In groups of four, as the apps show it when typed by hand.
        "secret": " ".join(secret[index : index + 4] for index in range(0, len(secret), 4)),
        "secret_raw": secret,
    }


def _recovery_codes_page(request, codes: list[str], *, next_url: str):
    """Shown once, in this answer only (never in a cookie, a message or the database)."""
    return render(
        request,
        "signin/recovery_codes.html",
        {
            **admin.site.each_context(request),
            "title": _("Your recovery codes"),
            "codes": codes,
            "next_url": next_url,
        },
    )


# --- The lockout ---------------------------------------------------------------------------


def locked_out(request, response=None, credentials=None):
    """django-axes' answer once a username failed too often from one address (429)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "signin/locked_out.html",
        {**_login_page_context(request, _("Too many failed attempts")), "minutes": minutes},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


# --- A staff member's own page -------------------------------------------------------------


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor(request):
    """Any staff member: turn two-factor sign-in on or off, make new recovery codes.

    Reached through `admin.site.admin_view` (signin/urls.py): logged-in staff only.
    """
    user = request.user
    action = request.POST.get("action", "")
    page = reverse("signin:two_factor")
    context = {
        **admin.site.each_context(request),
        "title": _("Two-factor sign-in"),
        "required": selectors.two_factor_required(user=user),
    }
    form = CodeForm(request.POST if action in {"confirm", "disable", "renew"} else None)
    enabled = selectors.authenticator(user=user) is not None
    try:
        if action == "start" and not enabled:
            device = _setup_device(request, user)
            return render(
                request,
                "signin/setup.html",
                {**context, **_setup_context(device), "form": CodeForm(), "at_login": False},
            )
        if action == "confirm" and not enabled:
            device = _setup_device(request, user)
            if not form.is_valid():
                raise ApplicationError(_("Enter the code your app shows."))
            device, codes = services.two_factor_setup_confirm(
                user=user, device_id=device.pk, code=form.cleaned_data["code"]
            )
            request.session.pop(SETUP_KEY, None)
            otp_login(request, device)  # this session is now verified by it
            return _recovery_codes_page(request, codes, next_url=page)
        if action in {"renew", "disable"} and enabled:
            # Changing them asks for a current code: a session left open is not enough.
            # The app's code only: a recovery code typed here would be used up for nothing.
            code = form.cleaned_data.get("code", "").strip() if form.is_valid() else ""
            if not code.isdigit() or services.second_factor_verify(user=user, code=code) is None:
                raise ApplicationError(_("This code is not the one your app shows now."))
            if action == "renew":
                return _recovery_codes_page(
                    request, services.recovery_codes_renew(user=user), next_url=page
                )
            services.two_factor_disable(user=user)
            messages.success(request, _("Two-factor sign-in is off for your account."))
            return redirect(page)
    except ApplicationError as error:
        if action == "confirm":
            device = _setup_device(request, user)
            if form.is_valid():  # the code was well formed, but not the app's
                form.add_error("code", error.message)
            return render(
                request,
                "signin/setup.html",
                {**context, **_setup_context(device), "form": form, "at_login": False},
            )
        messages.error(request, error.message)
        return redirect(page)
    return render(
        request,
        "signin/two_factor.html",
        {
            **context,
            "enabled": enabled,
            "recovery_codes_left": selectors.recovery_codes_left(user=user) if enabled else 0,
            "form": CodeForm(),
        },
    )
