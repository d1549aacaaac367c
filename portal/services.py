"""The portal's own rules: its settings, signing in, and the customer's sessions.

Changes a subscriber makes go through the apps' services (subscriptions, preferences,
returns, satisfaction) with `Actor.for_customer`; this module only keeps who may sign in
and who is signed in.

Signing in (docs/decisions/0020-portal-access.md): a subscriber asks with their e-mail;
one e-mail carries a 6-digit code and a link, both good for `SIGN_IN_VALID`, once. Only
their hashes are stored. A code is checked only against the request the same browser made
(the view keeps the request's id in a signed cookie) and at most `SIGN_IN_ATTEMPTS` wrong
codes are tried on it. Requests are throttled per address and per client, counted from the
rows themselves. An unknown address gets a row too (no customer, no e-mail), so it is
answered and throttled exactly like a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import clock
from core.actors import Actor
from core.errors import ApplicationError
from crm.models import Customer, Organization
from portal import notify
from portal.models import PortalSession, PortalSettings, SignInRequest

logger = logging.getLogger(__name__)

#: How long a portal session lasts without a visit, and at most.
SESSION_IDLE = timedelta(days=14)
SESSION_MAX = timedelta(days=60)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def portal_settings_ensure(*, organization: Organization) -> PortalSettings:
    settings, _created = PortalSettings.objects.get_or_create(organization=organization)
    return settings


# --- Settings (the admin's page) ---------------------------------------------------------

#: What an organization's administrators set (PortalSettings' fields but its organization).
SETTINGS_FIELDS = (
    "enabled",
    "name",
    "primary_colour",
    "background_colour",
    "shop_account_url",
    "allow_preferences",
    "allow_address",
    "allow_skip",
    "allow_pause",
    "allow_frequency",
    "allow_swap",
    "allow_cancel",
    "allow_cases",
    "allow_surveys",
)


def portal_settings_ensure_all(*, organization_ids) -> None:
    """Settings for those of the organizations that have none yet (the admin's list)."""
    missing = Organization.objects.filter(
        pk__in=organization_ids, portal_settings__isnull=True
    ).order_by("pk")
    for organization in missing:
        portal_settings_ensure(organization=organization)


@transaction.atomic
def portal_settings_update(*, organization: Organization, actor: Actor, **values) -> PortalSettings:
    """Set what the organization's subscribers may do and how their portal looks
    (`SETTINGS_FIELDS`). A value the model refuses (a colour not written #RRGGBB, a link
    that is no URL) is refused on its field, and nothing is written."""
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Not a portal setting: {', '.join(sorted(unknown))}")
    portal_settings, _created = PortalSettings.objects.select_for_update().get_or_create(
        organization=organization
    )
    for name, value in values.items():
        setattr(portal_settings, name, value)
    try:
        portal_settings.full_clean(exclude=["organization"])
    except ValidationError as error:
        raise ApplicationError(_("Invalid input."), {"fields": error.message_dict}) from error
    portal_settings.save()
    logger.info("portal settings of organization %s changed by %s", organization.pk, actor.label)
    return portal_settings


# --- Signing in --------------------------------------------------------------------------

#: How long an e-mailed code and link are good for.
SIGN_IN_VALID = timedelta(minutes=15)
#: Wrong codes tried on one request before it is dead.
SIGN_IN_ATTEMPTS = 5
#: Requests counted over this window: at most so many per address (in one organization)
#: and per client address (in all organizations).
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_PER_ADDRESS = 3
THROTTLE_PER_CLIENT = 10

#: The one refusal for a code or link that is unknown, expired, used or dead: which of them
#: it is would tell a guesser something.
NOT_VALID = gettext_lazy("This code is not valid any more. Ask for a new one.")


def _code_hash(token_digest: str, code: str) -> str:
    # Keyed (SECRET_KEY) and bound to its request's link: a copy of the table alone does not
    # let anyone try the million codes offline.
    return salted_hmac("portal.sign-in.code", f"{token_digest}:{code}").hexdigest()


def sign_in_throttled(
    *, organization: Organization, email: str, client: str, now: datetime | None = None
) -> bool:
    """Whether a new request for `email` from `client` would be one too many."""
    since = (now or clock.now()) - THROTTLE_WINDOW
    recent = SignInRequest.objects.filter(created_at__gt=since)
    if (
        recent.filter(organization=organization, email__iexact=email).count()
        >= THROTTLE_PER_ADDRESS
    ):
        return True
    return bool(client) and recent.filter(client=client).count() >= THROTTLE_PER_CLIENT


@transaction.atomic
def sign_in_request(
    *, organization: Organization, email: str, client: str, now: datetime | None = None
) -> SignInRequest | None:
    """A subscriber asks to sign in: e-mail them a code and a link (after commit).

    An address no customer of the organization has gets a request too, but no e-mail,
    so that nothing the asker sees or can count tells them apart. Returns None when the
    throttle refuses (nothing is written or sent).
    """
    now = now or clock.now()
    email = email.strip()
    client = (client or "")[:64]
    if sign_in_throttled(organization=organization, email=email, client=client, now=now):
        return None
    # The same reads for a known and an unknown address (only the e-mail, after the commit,
    # differs): the time an answer takes tells little.
    portal_name = portal_settings_ensure(organization=organization).name or organization.name
    customer = (
        Customer.objects.select_related("organization")
        .filter(organization=organization, email__iexact=email)
        .first()
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    token = secrets.token_urlsafe(32)
    token_digest = key_hash(token)
    request = SignInRequest.objects.create(
        organization=organization,
        email=email,
        customer=customer,
        code_hash=_code_hash(token_digest, code),
        token_hash=token_digest,
        client=client,
        created_at=now,
        expires_at=now + SIGN_IN_VALID,
    )
    if customer is not None:
        link = django_settings.SITE_URL + reverse(
            "portal:sign-in-link", kwargs={"organization": organization.slug, "token": token}
        )
        notify.send(
            customer=customer,
            to=customer.email,
            template="sign_in",
            context={
                "code": code,
                "link": link,
                "minutes": int(SIGN_IN_VALID.total_seconds() // 60),
                "portal_name": portal_name,
            },
            # Never the code in the subject: subjects are kept on the customer's page.
            subject=gettext_lazy("Sign in to your space"),
        )
    return request


def _live(queryset, now: datetime):
    return queryset.filter(
        used_at__isnull=True,
        expires_at__gt=now,
        attempts__lt=SIGN_IN_ATTEMPTS,
        customer__isnull=False,
    )


def sign_in_with_code(
    *, organization: Organization, request_id: int, code: str, now: datetime | None = None
) -> Customer:
    """The code the browser's own request e-mailed: its customer, the request used up.

    A wrong code counts as an attempt (kept even though it is refused); the fifth kills
    the request. Refuses with `NOT_VALID` or "wrong code, N tries left".
    """
    now = now or clock.now()
    code = "".join(code.split())
    with transaction.atomic():
        request = (
            SignInRequest.objects.select_for_update()
            .filter(organization=organization, pk=request_id, used_at__isnull=True)
            .filter(expires_at__gt=now, attempts__lt=SIGN_IN_ATTEMPTS)
            .first()
        )
        if request is None:
            raise ApplicationError(NOT_VALID)
        right = hmac.compare_digest(request.code_hash, _code_hash(request.token_hash, code))
        if right and request.customer_id is not None:
            request.used_at = now
            request.save(update_fields=["used_at"])
            return request.customer
        SignInRequest.objects.filter(pk=request.pk).update(attempts=F("attempts") + 1)
    left = SIGN_IN_ATTEMPTS - request.attempts - 1
    if left <= 0:
        raise ApplicationError(NOT_VALID)
    raise ApplicationError(
        _("This code is not the one we sent. %(left)s tries left.") % {"left": left},
        {"fields": {"code": [_("Check the code in the e-mail.")]}},
    )


def sign_in_link_request(
    *, organization: Organization, token: str, now: datetime | None = None
) -> SignInRequest | None:
    """The live request an e-mailed link names, or None (unknown, used, expired, dead)."""
    return (
        _live(SignInRequest.objects.filter(organization=organization), now or clock.now())
        .select_related("customer")
        .filter(token_hash=key_hash(token))
        .first()
    )


@transaction.atomic
def sign_in_with_link(
    *, organization: Organization, token: str, now: datetime | None = None
) -> Customer:
    """The e-mailed link, confirmed: its customer, the request (and its code) used up."""
    now = now or clock.now()
    request = (
        _live(SignInRequest.objects.filter(organization=organization), now)
        .select_for_update()
        .filter(token_hash=key_hash(token))
        .first()
    )
    if request is None:
        raise ApplicationError(NOT_VALID)
    request.used_at = now
    request.save(update_fields=["used_at"])
    return Customer.objects.get(pk=request.customer_id)


def portal_session_start(
    *, customer: Customer, now: datetime | None = None
) -> tuple[PortalSession, str]:
    """Sign `customer` in on a new device: the session row and the key its cookie carries."""
    now = now or clock.now()
    key = secrets.token_urlsafe(32)
    session = PortalSession.objects.create(
        organization_id=customer.organization_id,
        customer=customer,
        key_hash=key_hash(key),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_IDLE,
    )
    return session, key


def portal_session_touch(*, session: PortalSession, now: datetime | None = None) -> None:
    """A visit keeps the session alive (idle limit), never past its maximum age."""
    now = now or clock.now()
    if now - session.last_seen_at < timedelta(minutes=5):
        return
    session.last_seen_at = now
    session.expires_at = min(now + SESSION_IDLE, session.created_at + SESSION_MAX)
    session.save(update_fields=["last_seen_at", "expires_at"])


def portal_session_end(*, session: PortalSession, now: datetime | None = None) -> None:
    session.ended_at = now or clock.now()
    session.save(update_fields=["ended_at"])


@transaction.atomic
def portal_sessions_end_all(*, customer: Customer, now: datetime | None = None) -> int:
    """Sign the customer out on every device."""
    return PortalSession.objects.filter(customer=customer, ended_at__isnull=True).update(
        ended_at=now or clock.now()
    )
