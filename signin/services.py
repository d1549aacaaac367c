"""Writes: setting up, using and removing a staff member's second factor.

A staff member's second factor is one authenticator app (a TOTP device, the
RFC 6238 codes of Google Authenticator, FreeOTP, 1Password...) and a set of
single-use recovery codes (a static device) for the day the phone is lost.
Both are django-otp's models; the setup is ours.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.errors import ApplicationError, ConflictError
from signin.selectors import two_factor_required

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"


@transaction.atomic
def two_factor_setup_start(*, user) -> TOTPDevice:
    """A new secret, not used until confirmed by a code (a previous unconfirmed one goes)."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ConflictError(_("Two-factor sign-in is already on for this account."))
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


@transaction.atomic
def two_factor_setup_confirm(*, user, device_id: int, code: str) -> tuple[TOTPDevice, list[str]]:
    """The first code from the app turns the secret on; new recovery codes, shown once."""
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(pk=device_id, user=user, confirmed=False)
        .first()
    )
    if device is None:
        raise ApplicationError(_("This setup has expired: start again."))
    if not device.verify_token(_digits(code)):
        raise ApplicationError(
            _("This code is not the one the app shows: check the phone's time and try again."),
            {"fields": {"code": [_("Wrong code.")]}},
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return device, _new_recovery_codes(user)


@transaction.atomic
def recovery_codes_renew(*, user) -> list[str]:
    """A new set of recovery codes; the previous ones stop working."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ConflictError(_("Two-factor sign-in is not on for this account."))
    return _new_recovery_codes(user)


@transaction.atomic
def two_factor_disable(*, user) -> None:
    """Removes the app and the recovery codes, unless an organization requires them."""
    if two_factor_required(user=user):
        raise ConflictError(
            _("Your organization requires two-factor sign-in for its administrators.")
        )
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def second_factor_verify(*, user, code: str):
    """The device that accepts this code (the app's or a recovery code, used up), or None.

    Each device throttles its own failures (django-otp: a growing delay); the login
    also counts them as failed logins (signin.views).
    """
    code = code.strip().replace(" ", "").replace("-", "").lower()
    if not code:
        return None
    # Six digits are the app's; anything else is a recovery code. Trying a code on the
    # wrong kind of device would count a failure against it (and throttle it).
    kind = TOTPDevice if code.isdigit() else StaticDevice
    with transaction.atomic():
        for device in devices_for_user(user, for_verify=True):
            if isinstance(device, kind) and device.verify_token(code):
                return device
    return None


def _digits(code: str) -> str:
    return "".join(character for character in code if not character.isspace())


def _new_recovery_codes(user) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _index in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes
