"""Reads: who must, and who does, sign in with a second factor."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import Membership


def _required_by_memberships(user_id):
    admin_of = Membership.objects.filter(user_id=user_id, role=Membership.Role.ADMIN)
    if settings.TWO_FACTOR_REQUIRED_FOR_ADMINS:
        return admin_of
    return admin_of.filter(organization__two_factor_required=True)


def two_factor_required(*, user) -> bool:
    """An admin of an organization that asks for it (or of any, by the site setting).

    Superusers too when `TWO_FACTOR_REQUIRED_FOR_ADMINS` is set.
    """
    if settings.TWO_FACTOR_REQUIRED_FOR_ADMINS and user.is_superuser:
        return True
    return _required_by_memberships(user.pk).exists()


def authenticator(*, user) -> TOTPDevice | None:
    """The user's confirmed authenticator app (one per person), if they set one up."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def recovery_codes_left(*, user) -> int:
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return device.token_set.count() if device is not None else 0


def second_factor_needed(*, user) -> bool:
    """Whether a session of this user must have passed a second factor: one query.

    True when they set one up, or when it is required of them (they then set it up
    at login). Read on every staff request (signin.middleware).
    """
    if settings.TWO_FACTOR_REQUIRED_FOR_ADMINS and user.is_superuser:
        return True
    enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    required = _required_by_memberships(OuterRef("pk"))
    return get_user_model().objects.filter(Exists(enrolled) | Exists(required), pk=user.pk).exists()
