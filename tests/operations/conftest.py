"""Operations fixtures: organization A's shop, served by a fake WooCommerce REST API."""

from __future__ import annotations

import pytest
import responses

from tests.factories import WooCommerceStoreFactory
from tests.woocommerce.test_reconcile import FakeShop
from woocommerce.models import WooCommerceStore


@pytest.fixture
def store(org_a) -> WooCommerceStore:
    return WooCommerceStoreFactory(organization=org_a)


@pytest.fixture
def shop():
    """The shop's REST API (`responses`: only this process's requests are answered)."""
    fake = FakeShop()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, fake.pattern, callback=fake)
        yield fake
