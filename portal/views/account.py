"""Signing in to the portal with an e-mailed code or link, and signing out.

The answer to "e-mail me a code" is the same whatever the address (known, unknown,
throttled): a redirect to the code page, which names no address. The browser keeps the
id of its own request in a signed cookie (`SIGN_IN_COOKIE`): a code is tried only against
the request that browser made, so guessing a code needs the browser that asked. The link in
the e-mail opens a page with one button: a GET never signs in (mail scanners open links).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from portal import services
from portal.access import (
    clear_session_cookie,
    cookie_path,
    customer_required,
    organization_page,
    safe_next,
    set_session_cookie,
)

#: The browser's own sign-in request (its id, signed).
SIGN_IN_COOKIE = "cadence_portal_sign_in"
_SALT = "portal.sign-in.browser"


class EmailForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Your e-mail address"), max_length=254)


class CodeForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("The 6-digit code from the e-mail"), max_length=12)


def client_address(request) -> str:
    """The client's address as the staff login lockout reads it (TRUSTED_PROXY_COUNT)."""
    return import_string(settings.AXES_CLIENT_IP_CALLABLE)(request) or ""


def masked(email: str) -> str:
    """ "a•••@example.com": enough for the subscriber to recognise, little for anyone else."""
    local, _at, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def _with_next(url: str, request, portal) -> str:
    target = safe_next(request, portal)
    if target == portal.url("home"):
        return url
    return f"{url}?{urlencode({'next': target})}"


def _browser_request(request, portal) -> int | None:
    """The id of the sign-in request this browser made (0: a throttled one), or None."""
    value = request.COOKIES.get(SIGN_IN_COOKIE)
    if not value:
        return None
    try:
        return int(
            signing.loads(
                value,
                salt=f"{_SALT}:{portal.slug}",
                max_age=services.SIGN_IN_VALID.total_seconds(),
            )
        )
    except (signing.BadSignature, TypeError, ValueError):
        return None


def _signed_in(request, portal, customer) -> HttpResponse:
    """Start the customer's session on this browser and go where they were heading."""
    if portal.session is not None:
        services.portal_session_end(session=portal.session)
    _session, key = services.portal_session_start(customer=customer)
    response = HttpResponseRedirect(safe_next(request, portal))
    set_session_cookie(response, portal.organization, key)
    response.delete_cookie(SIGN_IN_COOKIE, path=cookie_path(portal.organization), samesite="Lax")
    messages.success(request, _("You are signed in."))
    return response


@require_http_methods(["GET", "POST"])
@organization_page
def sign_in(request):
    portal = request.portal
    if request.method == "GET" and portal.customer is not None:
        return redirect(safe_next(request, portal))
    form = EmailForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        sign_in = services.sign_in_request(
            organization=portal.organization,
            email=form.cleaned_data["email"],
            client=client_address(request),
        )
        # The same answer for a known, an unknown and a throttled address.
        response = HttpResponseRedirect(_with_next(portal.url("sign-in-code"), request, portal))
        response.set_cookie(
            SIGN_IN_COOKIE,
            signing.dumps(sign_in.pk if sign_in else 0, salt=f"{_SALT}:{portal.slug}"),
            max_age=int(services.SIGN_IN_VALID.total_seconds()),
            path=cookie_path(portal.organization),
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response
    return render(
        request,
        "portal/account/sign_in.html",
        {"form": form, "next": safe_next(request, portal)},
        status=400 if form.is_bound else 200,
    )


@require_http_methods(["GET", "POST"])
@organization_page
def enter_code(request):
    portal = request.portal
    request_id = _browser_request(request, portal)
    if request_id is None:
        return redirect(_with_next(portal.url("sign-in"), request, portal))
    form = CodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            customer = services.sign_in_with_code(
                organization=portal.organization,
                request_id=request_id,
                code=form.cleaned_data["code"],
            )
        except ApplicationError as error:
            form.add_error("code", error.message)
        else:
            return _signed_in(request, portal, customer)
    return render(
        request,
        "portal/account/code.html",
        {
            "form": form,
            "next": safe_next(request, portal),
            "minutes": int(services.SIGN_IN_VALID.total_seconds() // 60),
            "per_address": services.THROTTLE_PER_ADDRESS,
        },
        status=400 if form.is_bound else 200,
    )


@require_http_methods(["GET", "POST"])
@organization_page
def sign_in_link(request, token):
    portal = request.portal
    if request.method == "POST":
        try:
            customer = services.sign_in_with_link(organization=portal.organization, token=token)
        except ApplicationError:
            pass
        else:
            return _signed_in(request, portal, customer)
    else:
        sign_in = services.sign_in_link_request(organization=portal.organization, token=token)
        if sign_in is not None:
            return render(
                request,
                "portal/account/link.html",
                {"email": masked(sign_in.customer.email), "next": safe_next(request, portal)},
            )
    return render(request, "portal/account/link_invalid.html", status=404)


def keep_language(response) -> None:
    """The sign-in page after signing out speaks the language the customer's pages spoke
    (theirs, or the one chosen on this device), not the browser's: this device keeps it."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        translation.get_language(),
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        samesite="Lax",
    )


def _signed_out(request, message: str):
    """To the sign-in page, the cookie cleared, the language kept, with `message`."""
    response = redirect(request.portal.url("sign-in"))
    clear_session_cookie(response, request.portal.organization)
    keep_language(response)
    messages.success(request, message)
    return response


@require_http_methods(["GET", "POST"])
@customer_required
def sign_out(request):
    portal = request.portal
    if request.method == "GET":
        return render(request, "portal/account/sign_out.html")
    services.portal_session_end(session=portal.session)
    return _signed_out(request, _("You are signed out."))


@require_http_methods(["GET", "POST"])
@customer_required
def sign_out_everywhere(request):
    portal = request.portal
    if request.method == "GET":
        return render(request, "portal/account/sign_out.html")
    services.portal_sessions_end_all(customer=portal.customer)
    return _signed_out(request, _("You are signed out on every device."))
