"""Preferences fixtures: an active subscriber of A under the roaster's coffee preferences."""

import pytest

from tests.factories import SubscriptionFactory, coffee_schema


@pytest.fixture
def subscription(org_a):
    """An active subscription of A; A's preferences are `coffee_schema`'s (grind, roast...)."""
    coffee_schema(org_a)
    return SubscriptionFactory(customer__organization=org_a, status="active")
