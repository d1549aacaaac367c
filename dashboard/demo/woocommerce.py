"""Demo data for `make run`: Purea Café's WooCommerce shop and a few deliveries from it.

The deliveries are stored and processed exactly as the receiver and a worker
would, from payloads in WooCommerce's shape (dates relative to now), each dated
when the shop sent it (the subscriptions' events and charges with it), so the
admin shows shop subscriptions, their orders as charges, mappings, and one
delivery that failed (a truncated body) for the "reprocess" action.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Max
from django.utils import timezone

from crm.models import Organization
from dashboard.demo import preferences as preferences_demo
from dashboard.demo import subscriptions as subscriptions_demo
from preferences.models import PreferenceChange, PreferenceField
from subscriptions.models import Subscription
from woocommerce import processing
from woocommerce.models import WebhookDelivery, WooCommerceStore, WooPreferenceMapping

WOOCOMMERCE = Subscription.Source.WOOCOMMERCE
DEMO_SECRET = "purea-demo-webhook-secret"  # noqa: S105 - demo data, printed on purpose

ADDRESS = {
    "first_name": "Manon",
    "last_name": "Lefèvre",
    "company": "",
    "address_1": "5 rue des Capucins",
    "address_2": "",
    "city": "Lyon",
    "state": "",
    "postcode": "69001",
    "country": "FR",
}


def _gmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


# The shop's espresso, a variable product: (variation id, SKU, option, price, weight in kg).
ESPRESSO = 601
SMALL = (611, "PUR-ESP-250", "250 g", "10.40", "0.25")
LARGE = (612, "PUR-ESP-1KG", "1 kg", "34.90", "1")
TOTAL = "80.20"  # 1 x 10.40 + 2 x 34.90


def _line(line_id: int, variation: tuple, quantity: int) -> dict:
    variation_id, sku, option, price, _weight = variation
    return {
        "id": line_id,
        "name": f"Assemblage Espresso - {option}",
        "parent_name": "Assemblage Espresso",
        "product_id": ESPRESSO,
        "variation_id": variation_id,
        "quantity": quantity,
        "sku": sku,
        "total": f"{float(price) * quantity:.2f}",
        "meta_data": [
            {
                "id": line_id,
                "key": "pa_poids",
                "value": option.replace(" ", "").lower(),
                "display_key": "Poids",
                "display_value": option,
            },
            # A product attribute the demo shop maps to the "grind" preference.
            {
                "id": line_id + 1,
                "key": "pa_mouture",
                "value": "espresso",
                "display_key": "Mouture",
                "display_value": "Espresso",
            },
        ],
    }


def _products(at: datetime) -> list[tuple[str, dict]]:
    """The espresso and its two variations as the shop sends them: each variation its own
    `product.*` (type "variation", parent_id), the parent listing their ids."""
    parent = {
        "id": ESPRESSO,
        "name": "Assemblage Espresso",
        "type": "variable",
        "status": "publish",
        "sku": "PUR-ESP",
        "price": SMALL[3],
        "regular_price": SMALL[3],
        "short_description": "Corsé, notes de cacao.",
        "weight": "",
        "variations": [SMALL[0], LARGE[0]],
        "date_modified_gmt": _gmt(at),
    }
    hooks = [("product.updated", parent)]
    for position, (variation_id, sku, option, price, weight) in enumerate((SMALL, LARGE)):
        variation = {
            "id": variation_id,
            "parent_id": ESPRESSO,
            "type": "variation",
            "name": f"Assemblage Espresso - {option}",
            "status": "publish",
            "sku": sku,
            "price": price,
            "regular_price": price,
            "weight": weight,
            "menu_order": position,
            "attributes": [{"id": 1, "name": "Poids", "option": option}],
            "date_modified_gmt": _gmt(at),
        }
        hooks.append(("product.updated", variation))
    return hooks


def _subscription(woo_id: int, *, status: str, start: datetime, now: datetime, **extra) -> dict:
    return {
        "id": woo_id,
        "parent_id": woo_id - 1,
        "status": status,
        "currency": "EUR",
        "customer_id": 501,
        "billing": {**ADDRESS, "email": "manon.lefevre@example.fr", "phone": "0600000000"},
        "shipping": ADDRESS,
        "billing_period": "month",
        "billing_interval": "1",
        "date_created_gmt": _gmt(start),
        "date_modified_gmt": _gmt(now - timedelta(hours=1)),
        "start_date_gmt": _gmt(start),
        "trial_end_date_gmt": "",
        "next_payment_date_gmt": _gmt(start + timedelta(days=61)),
        "last_payment_date_gmt": _gmt(start + timedelta(days=30)),
        "cancelled_date_gmt": "",
        "end_date_gmt": "",
        # Two sizes of one coffee: two lines, two variations of product 601.
        "line_items": [
            _line(woo_id * 10, SMALL, 1),
            _line(woo_id * 10 + 2, LARGE, 2),
        ],
        "meta_data": [{"id": 1, "key": "_billing_frequency", "value": ["monthly"]}],
        **extra,
    }


def _order(woo_id: int, *, status: str, at: datetime, renewal_of: int | None = None) -> dict:
    meta = [{"id": 2, "key": "_subscription_renewal", "value": str(renewal_of)}]
    return {
        "id": woo_id,
        "parent_id": 0,
        "number": str(woo_id),
        "status": status,
        "currency": "EUR",
        "total": TOTAL,
        "customer_id": 501,
        "billing": {**ADDRESS, "email": "manon.lefevre@example.fr"},
        "date_created_gmt": _gmt(at),
        "date_modified_gmt": _gmt(at + timedelta(minutes=2)),
        "date_paid_gmt": _gmt(at + timedelta(minutes=1)) if status == "completed" else None,
        "meta_data": meta if renewal_of else [],
    }


def deliveries(now: datetime) -> list[tuple[str, Any]]:
    """(topic, payload or raw bytes) in the order the shop would send them."""
    start = now - timedelta(days=45)
    on_hold_start = now - timedelta(days=75)
    return [
        *_products(start - timedelta(days=30)),
        (
            "customer.created",
            {
                "id": 501,
                "email": "manon.lefevre@example.fr",
                "first_name": "Manon",
                "last_name": "Lefèvre",
                "date_modified_gmt": _gmt(start),
                "billing": {**ADDRESS, "email": "manon.lefevre@example.fr", "phone": "0600000000"},
                "shipping": ADDRESS,
            },
        ),
        ("subscription.created", _subscription(5001, status="active", start=start, now=now)),
        ("order.created", _order(5000, status="completed", at=start)),
        (
            "order.created",
            _order(5002, status="completed", at=start + timedelta(days=30), renewal_of=5001),
        ),
        (
            "subscription.updated",
            _subscription(
                5011,
                status="on-hold",
                start=on_hold_start,
                # Put on hold by its renewal's attempt, the failed order below.
                now=on_hold_start + timedelta(days=61),
                next_payment_date_gmt=_gmt(on_hold_start + timedelta(days=61)),
            ),
        ),
        (
            "order.created",
            _order(5012, status="failed", at=on_hold_start + timedelta(days=61), renewal_of=5011),
        ),
        ("order.updated", b'{"id": 5013, "status": "proc'),  # truncated: fails, for "reprocess"
    ]


def load(*, organization: Organization) -> WooCommerceStore:
    """The demo shop (created or reset) with its deliveries stored and processed once."""
    store, _created = WooCommerceStore.objects.get_or_create(
        organization=organization,
        name="Boutique Purea",
        defaults={"base_url": "https://boutique.purea.example"},
    )
    if store.webhook_secret != DEMO_SECRET:
        store.webhook_secret = DEMO_SECRET
        store.save()
    grind = PreferenceField.objects.filter(organization=organization, key="grind").first()
    if grind is not None:
        WooPreferenceMapping.objects.get_or_create(
            organization=organization, store=store, woo_key="pa_mouture", defaults={"field": grind}
        )
    now = timezone.now().replace(microsecond=0)
    sent_at = now - timedelta(days=365)
    for topic, payload in deliveries(now):
        body = (
            payload
            if isinstance(payload, bytes)
            else json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        )
        resource, _, event = topic.partition(".")
        if WebhookDelivery.objects.filter(
            store=store, topic=topic, woo_id=_woo_id(payload)
        ).exists():
            continue  # already loaded by an earlier run
        delivery = WebhookDelivery.objects.create(
            organization=organization,
            store=store,
            topic=topic,
            resource=resource,
            event=event,
            webhook_id=1,
            headers={"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Source": store.base_url},
            body=body,
            body_sha256=hashlib.sha256(body).hexdigest(),
            woo_id=_woo_id(payload),
        )
        # Sent and processed when it happened in the shop, not when the demo is loaded.
        sent_at = max(sent_at, _sent_at(topic, payload, now))
        changes = PreferenceChange.objects.aggregate(latest=Max("pk"))["latest"] or 0
        with subscriptions_demo.dated(at=sent_at, organization=organization, source=WOOCOMMERCE):
            processing.process(delivery.pk)
        # The preferences the delivery changed, dated when the shop sent it, too.
        for change in PreferenceChange.objects.filter(pk__gt=changes).select_related(
            "subscription__organization"
        ):
            preferences_demo.dated_change(change, sent_at)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            received_at=sent_at, processed_at=sent_at, updated_at=sent_at
        )
    return store


def _sent_at(topic: str, payload: Any, now: datetime) -> datetime:
    """When the shop sent a delivery: as its payload dates it (the truncated one: lately)."""
    if isinstance(payload, bytes):
        return now - timedelta(minutes=30)
    field = "date_created_gmt" if topic in ("subscription.created", "order.created") else None
    value = payload.get(field or "date_modified_gmt") or payload["date_modified_gmt"]
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _woo_id(payload: Any) -> int | None:
    if isinstance(payload, dict):
        return payload["id"]
    return 5013
