"""Secrets encrypted at rest (shop credentials, webhook secrets).

`EncryptedTextField` stores a Fernet token (AES-128-CBC + HMAC-SHA256) and
gives the clear text back in Python. Keys come from the environment
(`ENCRYPTION_KEYS`, comma-separated Fernet keys): the first encrypts, all
decrypt, so a key is rotated by putting the new one first and re-saving the
rows (`manage.py rotate_encryption`) before dropping the old one.

Outside production, with no key set, a key derived from `SECRET_KEY` is used
so that `make run` and the tests need no set-up; production refuses to start
without `ENCRYPTION_KEYS`.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        if not secret_key:
            raise ImproperlyConfigured("Set ENCRYPTION_KEYS (or SECRET_KEY outside production).")
        derived = hashlib.sha256(b"cadence-encryption:" + secret_key.encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes)."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(getattr(settings, "ENCRYPTION_KEYS", ())), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    return PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token.startswith(PREFIX):
        raise ValueError("not an encrypted value")
    try:
        return fernet().decrypt(token[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted: is its key still in ENCRYPTION_KEYS?"
        ) from exc


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; blank stays blank (no secret set)."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
