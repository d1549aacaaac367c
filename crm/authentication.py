"""API authentication: `Authorization: Api-Key <key>` sets the request's organization."""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from core.queueing import enqueue_on_commit
from crm.models import ApiKey

logger = logging.getLogger(__name__)

KEYWORD = "Api-Key"


class ApiKeyUser:
    """The principal behind an API key: not a staff user, never a superuser."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _sep, key = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None  # another scheme: not ours, and not an organization
        match = ApiKey.KEY_PATTERN.match(key.strip())
        if match is None:
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        api_key = (
            ApiKey.objects.select_related("organization").filter(prefix=match["prefix"]).first()
        )
        # Compare digests in constant time even when the prefix is unknown.
        expected = api_key.hashed_key if api_key else ApiKey.hash("")
        if not hmac.compare_digest(expected, ApiKey.hash(key.strip())) or api_key is None:
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed(_("This API key has been revoked."))
        self._record_use(api_key)
        request._request.organization = api_key.organization
        return (ApiKeyUser(api_key), api_key)

    def authenticate_header(self, request):
        return f'{KEYWORD} realm="api"'

    @staticmethod
    def _record_use(api_key: ApiKey) -> None:
        """Have a worker write "last used", at most once per resolution window."""
        resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION)
        now = timezone.now()
        if api_key.last_used_at and now - api_key.last_used_at < resolution:
            return
        from crm.tasks import record_api_key_use

        # The broker being down must not refuse the request.
        enqueue_on_commit(record_api_key_use, api_key.pk, now.isoformat())


class HasOrganizationApiKey(permissions.BasePermission):
    """Refuse any request that did not authenticate with an organization's key."""

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


class ApiKeyScopeAllows(permissions.BasePermission):
    """A read-only key reads (GET, HEAD, OPTIONS); anything else needs a read-and-write key.

    After `HasOrganizationApiKey` in the default permissions, so every route enforces it.
    """

    message = _("This API key is read-only: it cannot change anything.")

    def has_permission(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True  # no key: HasOrganizationApiKey answers (401)
        return request.method in permissions.SAFE_METHODS or api_key.can_write


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "crm.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Api-Key <key>`; the key is shown once when created in the admin. A key's "
                "scope is chosen then: `read` keys may only read (GET); `read_write` keys may "
                "also write. Each operation names the scope it needs in `x-api-key-scope`; a "
                "`read` key gets 403 on a write."
            ),
        }
