"""The staff member's own language and their organization's time zone, on staff pages."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from crm.current import TIMEZONE_SESSION_KEY, current_organization
from crm.models import StaffProfile

#: The profile's language ("" for the browser's), read once per session.
LANGUAGE_SESSION_KEY = "staff_language"


class StaffLocaleMiddleware:
    """After `AuthenticationMiddleware`, on staff pages (the admin and the packing room's):

    - the language of the staff member's profile, if they chose one, wins over
      the browser's (LocaleMiddleware picked that one, or the switch's cookie);
    - times are shown in the time zone of the organization they work in.

    Both are read once per session and kept there: the language switch
    (`crm.views.set_language`) and the dashboard's organization picker update them.
    The API is left alone: it speaks ISO 8601 with offsets and Accept-Language.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefixes = None

    def __call__(self, request):
        if not self._is_staff_page(request):
            return self.get_response(request)
        self._activate(request)
        try:
            return self.get_response(request)
        finally:
            # The thread serves other requests next (the API among them).
            timezone.deactivate()

    def _is_staff_page(self, request) -> bool:
        if self.prefixes is None:
            self.prefixes = (reverse("admin:index"), *settings.STAFF_PAGE_PREFIXES)
        user = getattr(request, "user", None)
        return (
            user is not None
            and user.is_authenticated
            and user.is_staff
            and request.path.startswith(self.prefixes)
        )

    def _activate(self, request) -> None:
        session = request.session
        if LANGUAGE_SESSION_KEY not in session or TIMEZONE_SESSION_KEY not in session:
            remember_staff_locale(request, request.user)
        language = session[LANGUAGE_SESSION_KEY]
        if language and language != request.LANGUAGE_CODE:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        if session[TIMEZONE_SESSION_KEY]:
            timezone.activate(zoneinfo.ZoneInfo(session[TIMEZONE_SESSION_KEY]))


def remember_staff_locale(request, user, **_signal) -> None:
    """Keep the profile's language and the organization's time zone in the session.

    Connected to `user_logged_in` (crm.apps), so it is read once, at login; the
    middleware falls back on it for a session opened before.
    """
    if request is None or not getattr(user, "is_staff", False):
        return
    session = request.session
    session[LANGUAGE_SESSION_KEY] = (
        StaffProfile.objects.filter(user=user).values_list("language", flat=True).first() or ""
    )
    # Login sets request.user after the signal when the request has none (the test
    # client's); roles read earlier in this request were the anonymous visitor's.
    request.user = user
    request.__dict__.pop("_organization_roles", None)
    organization = current_organization(request)
    session[TIMEZONE_SESSION_KEY] = organization.timezone if organization else ""
