"""The portal's own rules: its settings, and the customer's sessions.

Changes a subscriber makes go through the apps' services (subscriptions, preferences,
returns, satisfaction) with `Actor.for_customer`; this module only keeps who is signed in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import transaction

from core import clock
from crm.models import Customer, Organization
from portal.models import PortalSession, PortalSettings

#: How long a portal session lasts without a visit, and at most.
SESSION_IDLE = timedelta(days=14)
SESSION_MAX = timedelta(days=60)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def portal_settings_ensure(*, organization: Organization) -> PortalSettings:
    settings, _created = PortalSettings.objects.get_or_create(organization=organization)
    return settings


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
