"""WooCommerce fixtures: a shop of organization A, signed deliveries, sample payloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.factories import WooCommerceStoreFactory
from woocommerce.models import WooCommerceStore
from woocommerce.payloads import signature

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "s3cret &amp; spice"  # WooCommerce decodes HTML entities before signing


def sample(name: str) -> Any:
    """A verbatim sample payload (a fresh copy each call)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def compact(payload: Any) -> bytes:
    """The body as WooCommerce sends it: compact JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def later(payload: dict, *, seconds: int = 60, **changes) -> dict:
    """A later version of `payload`: `date_modified_gmt` moved on, `changes` applied."""
    from datetime import datetime, timedelta

    result = copy.deepcopy(payload)
    modified = datetime.fromisoformat(result["date_modified_gmt"]) + timedelta(seconds=seconds)
    result["date_modified_gmt"] = modified.strftime("%Y-%m-%dT%H:%M:%S")
    result.update(changes)
    return result


def webhook_headers(topic: str, body: bytes, secret: str | None = SECRET, **extra) -> dict:
    resource, _, event = topic.partition(".")
    headers = {
        "HTTP_X_WC_WEBHOOK_SOURCE": "https://shop.example.com/",
        "HTTP_X_WC_WEBHOOK_TOPIC": topic,
        "HTTP_X_WC_WEBHOOK_RESOURCE": resource,
        "HTTP_X_WC_WEBHOOK_EVENT": event,
        "HTTP_X_WC_WEBHOOK_ID": "7",
        "HTTP_X_WC_WEBHOOK_DELIVERY_ID": "a1b2c3",
    }
    if secret is not None:
        headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = signature(body, secret)
    headers.update(extra)
    return headers


@pytest.fixture
def store(org_a) -> WooCommerceStore:
    return WooCommerceStoreFactory(organization=org_a, webhook_secret=SECRET)


@pytest.fixture
def deliver(store):
    """POST a payload to the store's webhook address as WooCommerce does; the response."""
    client = Client()

    def post(topic: str, payload: Any, *, to=None, secret: str | None = SECRET, raw=None, **extra):
        body = raw if raw is not None else compact(payload)
        target = to or store
        return client.post(
            target.webhook_path(),
            data=body,
            content_type="application/json",
            **webhook_headers(topic, body, secret, **extra),
        )

    return post


@pytest.fixture
def apply(deliver):
    """Deliver a payload and process it at once, as a worker would; the delivery, reloaded."""
    from woocommerce import processing
    from woocommerce.models import WebhookDelivery

    def run(topic: str, payload: Any = None, *, raw: bytes | None = None):
        before = set(WebhookDelivery.objects.values_list("pk", flat=True))
        response = deliver(topic, payload, raw=raw)
        assert response.status_code == 200, response.content
        new = WebhookDelivery.objects.exclude(pk__in=before).first()
        if new is None:  # a duplicate: nothing stored, nothing to process
            return None
        processing.process(new.pk)
        new.refresh_from_db()
        return new

    return run
