"""Who a portal request is for: the organization in its URL, the customer of its cookie.

Every portal view is decorated with `organization_page` (sign-in pages) or
`customer_required` (everything else). Both take the URL's `organization` slug (the
portal lives under /p/<slug>/) and answer 404 for an unknown slug or a closed portal.
`customer_required` reads the portal cookie: a live session of a customer of *that*
organization, else a redirect to the sign-in page. Views then read `request.portal`
and look every object up through it (`request.portal.customer`), so another customer's
or organization's id is a 404 (tests/portal/test_isolation.py sweeps every route).

The portal cookie is not Django's session: nothing here reads `request.user`, and a
staff session gives no portal access nor the other way round.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme

from core import clock
from crm.models import Customer, Organization
from portal.models import PortalSession, PortalSettings
from portal.services import key_hash, portal_session_touch, portal_settings_ensure

COOKIE = "cadence_portal"


@dataclass
class Portal:
    organization: Organization
    settings: PortalSettings
    customer: Customer | None = None
    session: PortalSession | None = None

    @property
    def slug(self) -> str:
        return self.organization.slug

    def url(self, name: str, **kwargs) -> str:
        return reverse(f"portal:{name}", kwargs={"organization": self.slug, **kwargs})


def cookie_path(organization: Organization) -> str:
    return reverse("portal:home", kwargs={"organization": organization.slug})


def set_session_cookie(response: HttpResponse, organization: Organization, key: str) -> None:
    response.set_cookie(
        COOKIE,
        key,
        max_age=None,  # a browser session cookie; the row decides how long it lives
        path=cookie_path(organization),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: HttpResponse, organization: Organization) -> None:
    response.delete_cookie(COOKIE, path=cookie_path(organization), samesite="Lax")


def _portal(slug: str) -> Portal:
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        raise Http404
    portal_settings = portal_settings_ensure(organization=organization)
    if not portal_settings.enabled:
        raise Http404
    return Portal(organization=organization, settings=portal_settings)


def current_session(request: HttpRequest, organization: Organization) -> PortalSession | None:
    key = request.COOKIES.get(COOKIE)
    if not key:
        return None
    return (
        PortalSession.objects.select_related("customer")
        .filter(
            key_hash=key_hash(key),
            organization=organization,
            ended_at__isnull=True,
            expires_at__gt=clock.now(),
        )
        .first()
    )


def safe_next(request: HttpRequest, portal: Portal) -> str:
    """Where to go after signing in: a path inside this portal, else its home."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    home = portal.url("home")
    if target.startswith(home) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return target
    return home


def organization_page(view):
    """A portal page anyone may open (sign-in): `request.portal` without a customer."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, organization: str, **kwargs):
        request.portal = _portal(organization)
        session = current_session(request, request.portal.organization)
        if session is not None:
            request.portal.customer, request.portal.session = session.customer, session
        return view(request, **kwargs)

    return wrapped


def customer_required(view):
    """A signed-in customer's page, in their language; else the sign-in page."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, organization: str, **kwargs):
        portal = _portal(organization)
        session = current_session(request, portal.organization)
        if session is None:
            sign_in = portal.url("sign-in")
            response = HttpResponseRedirect(f"{sign_in}?next={request.path}")
            if COOKIE in request.COOKIES:
                clear_session_cookie(response, portal.organization)
            return response
        portal_session_touch(session=session)
        portal.customer, portal.session = session.customer, session
        request.portal = portal
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) or session.customer.language
        with translation.override(language):
            request.LANGUAGE_CODE = translation.get_language()
            response = view(request, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        return response

    return wrapped
