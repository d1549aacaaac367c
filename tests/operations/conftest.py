"""Operations fixtures: organization A's shop, served by a fake WooCommerce REST API."""

from __future__ import annotations

import pytest
import responses

from tests.woocommerce.test_reconcile import FakeShop
from woocommerce.models import WooCommerceStore


@pytest.fixture
def store(org_a) -> WooCommerceStore:
    return WooCommerceStore.objects.create(
        organization=org_a,
        name="Purea shop",
        base_url="https://shop.example.com",
        webhook_secret="s3cret",
        consumer_key="ck_test",
        consumer_secret="cs_test",
    )


@pytest.fixture
def shop():
    """The shop's REST API (`responses`: only this process's requests are answered)."""
    fake = FakeShop()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, fake.pattern, callback=fake)
        yield fake
