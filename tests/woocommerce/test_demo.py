"""The demo shop `make run` loads: shop subscriptions, their orders, a failed delivery."""

from decimal import Decimal

import pytest

from crm.models import Variant
from subscriptions.models import Charge, Subscription
from tests.helpers import load_demo
from woocommerce.models import WebhookDelivery, WooCommerceStore, WooMapping

pytestmark = pytest.mark.django_db


def test_the_demo_shop_shows_mirrored_subscriptions_and_is_loaded_once():
    output = load_demo()
    store = WooCommerceStore.objects.get(name="Boutique Purea")

    assert f"{store.webhook_path()}" in output
    assert "purea-demo-webhook-secret" in output
    active = Subscription.objects.get(
        pk=WooMapping.objects.get(store=store, resource="subscription", woo_id=5001).object_id
    )
    assert (active.source, active.status) == ("woocommerce", "active")
    assert active.customer.email == "manon.lefevre@example.fr"
    # Two sizes of the espresso: the shop's variations, linked by SKU to the CRM's variants
    assert sorted(
        (i.product.sku, i.variant.sku, i.quantity, i.unit_price) for i in active.items.all()
    ) == [
        ("PUR-ESP", "PUR-ESP-1KG", 2, Decimal("34.90")),
        ("PUR-ESP", "PUR-ESP-250", 1, Decimal("10.40")),
    ]
    for woo_id, sku in ((611, "PUR-ESP-250"), (612, "PUR-ESP-1KG")):
        mapping = WooMapping.objects.get(store=store, resource="variation", woo_id=woo_id)
        assert Variant.objects.get(pk=mapping.object_id).sku == sku
    weight = sum(i.weight_grams * i.quantity for i in active.items.all())
    assert weight == 250 + 2 * 1000
    assert active.preference.values["grind"] == "espresso"
    assert sorted(active.charges.values_list("cycle", "status")) == [
        (0, Charge.Status.PAID),
        (1, Charge.Status.PAID),
    ]
    on_hold = Subscription.objects.get(
        pk=WooMapping.objects.get(store=store, resource="subscription", woo_id=5011).object_id
    )
    assert on_hold.status == Subscription.Status.PAST_DUE
    failed = WebhookDelivery.objects.get(store=store, status=WebhookDelivery.Status.FAILED)
    assert "not valid JSON" in failed.error
    assert not WebhookDelivery.objects.exclude(
        status__in=[WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.FAILED]
    ).exists()

    deliveries = WebhookDelivery.objects.count()
    load_demo()
    assert WebhookDelivery.objects.count() == deliveries
    assert Subscription.objects.filter(source="woocommerce").count() == 2
