"""Secrets at rest: encrypted in the database, clear in Python, keys rotated without loss."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from core import encryption
from woocommerce.models import WooCommerceStore


def _raw(store: WooCommerceStore, column: str) -> str:
    """What PostgreSQL holds, read without the model field."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT webhook_secret, consumer_key, consumer_secret"
            " FROM woocommerce_woocommercestore WHERE id = %s",
            [store.pk],
        )
        row = cursor.fetchone()
    return dict(zip(["webhook_secret", "consumer_key", "consumer_secret"], row, strict=True))[
        column
    ]


@pytest.mark.django_db
def test_secrets_are_stored_encrypted_and_read_back_in_clear(org_a):
    store = WooCommerceStore.objects.create(
        organization=org_a,
        name="Shop",
        base_url="https://shop.example.com",
        webhook_secret="whsec-123",
        consumer_secret="cs_abcdef",
    )

    for column, clear in [("webhook_secret", "whsec-123"), ("consumer_secret", "cs_abcdef")]:
        raw = _raw(store, column)
        assert clear not in raw
        assert raw.startswith("fernet:")
    store = WooCommerceStore.objects.get(pk=store.pk)
    assert (store.webhook_secret, store.consumer_secret, store.consumer_key) == (
        "whsec-123",
        "cs_abcdef",
        "",
    )
    assert _raw(store, "consumer_key") == ""


@pytest.mark.django_db
def test_a_key_is_rotated_by_putting_the_new_one_first(org_a, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    store = WooCommerceStore.objects.create(
        organization=org_a, name="Shop", base_url="https://s.example.com", webhook_secret="x1"
    )
    settings.ENCRYPTION_KEYS = [new, old]
    store = WooCommerceStore.objects.get(pk=store.pk)
    assert store.webhook_secret == "x1"
    call_command("rotate_encryption", stdout=StringIO())  # re-encrypted with the new key
    settings.ENCRYPTION_KEYS = [new]
    assert WooCommerceStore.objects.get(pk=store.pk).webhook_secret == "x1"


def test_a_value_encrypted_with_a_dropped_key_is_a_clear_configuration_error(settings):
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = encryption.encrypt("secret")
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(Exception, match="ENCRYPTION_KEYS"):
        encryption.decrypt(token)
