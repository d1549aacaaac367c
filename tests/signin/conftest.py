"""Helpers for the sign-in tests: a staff member's authenticator app, its codes."""

from __future__ import annotations

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from signin import services

LOGIN = "/admin/login/"
CODE = "/admin/login/code/"
SETUP = "/admin/login/setup/"
TWO_FACTOR = "/admin/two-factor/"


def code_of(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the staff member's app shows now (or `steps_ahead` periods of 30 s later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(user) -> tuple[TOTPDevice, list[str]]:
    """Set up the app as the two-factor page does; the device and the recovery codes.

    The setup consumes the current code: the next login needs the next period's.
    """
    device = services.two_factor_setup_start(user=user)
    device, codes = services.two_factor_setup_confirm(
        user=user, device_id=device.pk, code=code_of(device)
    )
    return device, codes


#: The factories' password (tests/factories.py).
FACTORY_PASSWORD = "password"


def password_step(client, user, password=FACTORY_PASSWORD, **extra):
    return client.post(
        LOGIN, {"username": user.username, "password": password, "next": "/admin/"}, **extra
    )


@pytest.fixture
def client_fr():
    from django.test import Client

    return Client(HTTP_ACCEPT_LANGUAGE="fr")
