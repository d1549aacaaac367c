"""The migration that lets one order belong to several subscriptions keeps every existing link."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import ChargeFactory, SubscriptionFactory
from woocommerce.models import WooOrder, WooRelatedOrder

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("woocommerce", "0002_woopreferencemapping")]
AFTER = [("woocommerce", "0003_orders_of_several_subscriptions")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def rolled_back():
    """The database as it was before the migration; migrated to the end again afterwards."""
    old = migrate(BEFORE)
    yield old
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_existing_orders_keep_their_subscription_and_charge(rolled_back, org_a):
    # Given orders written before the migration: a paid initial order, a renewal known
    # from the order only (no subscription yet), and an order of no subscription
    subscription = SubscriptionFactory(customer__organization=org_a, source="woocommerce")
    charge = ChargeFactory(subscription=subscription, cycle=0, amount=Decimal("26.09"))
    # (the shop of the models of then: a later migration adds its columns)
    store = rolled_back.get_model("woocommerce", "WooCommerceStore").objects.create(
        organization_id=org_a.pk, name="Shop", base_url="https://shop.example.com"
    )
    OldOrder = rolled_back.get_model("woocommerce", "WooOrder")
    common = {"organization_id": org_a.pk, "store_id": store.pk, "status": "processing"}
    OldOrder.objects.create(
        woo_id=1274,
        kind="parent",
        woo_subscription_id=1275,
        subscription_id=subscription.pk,
        charge_id=charge.pk,
        total=Decimal("26.09"),
        **common,
    )
    OldOrder.objects.create(woo_id=1276, kind="renewal", woo_subscription_id=1275, **common)
    OldOrder.objects.create(woo_id=727, kind="other", **common)

    # When the migration runs
    migrate(AFTER)

    # Then each link is a row of its own, and the orders read as before
    links = {
        row.order.woo_id: (row.woo_subscription_id, row.subscription_id, row.charge_id)
        for row in WooRelatedOrder.objects.select_related("order")
    }
    assert links == {1274: (1275, subscription.pk, charge.pk), 1276: (1275, None, None)}
    initial = WooOrder.objects.get(woo_id=1274)
    assert (initial.kind, initial.total, initial.lines, initial.billing_address) == (
        "parent",
        Decimal("26.09"),
        [],
        None,
    )
    assert charge.woo_order.order == initial
    assert list(subscription.woo_orders.values_list("order__woo_id", flat=True)) == [1274]
    assert not WooOrder.objects.get(woo_id=727).links.exists()
