"""The reconciliation's first import against the same items applied as webhook events.

In a scratch database (see `bench.renewals.scratch_database`), two organizations with
one shop each. N customers, their subscriptions' N paid initial orders and then the N
subscriptions, in the reconciliation's order (the verbatim samples with their ids moved,
as bench/webhooks.py makes them; `BENCH_FIRST_IMPORT_ORDERS=0` leaves the orders out,
and each subscription then makes its initial order empty, with no charge to sync):

- baseline, as webhooks: each payload stored as the receiver stores it
  (`WebhookDelivery`, bulk-inserted, not timed) and applied by `processing.process`,
  what a worker runs per delivery (claim, apply under the locks, record the outcome),
  in this process, without Celery (which only makes webhooks slower);
- measured, the first import: the same payloads in pages of 100, as the REST API lists
  them, applied by `reconcile.apply_page` into the other shop (a page in
  bulk, what `upsert_page` leaves through the handlers; the first subscription's product,
  seen for the first time, made as a webhook makes it); the HTTP reads are left out.

Rows: items per second of the first import against items per second as webhook events,
customers, orders and subscriptions apart (the issue's target: at least 1x, "no less than the
webhook rate per item"). Not part of `make test`. N defaults to 2000:
`BENCH_FIRST_IMPORT_N=500 make bench`, or this module alone, under config.embedded:
`python -m bench.first_import 200`.
"""

from __future__ import annotations

import copy
import os
import sys
import time
import uuid

from bench import Row
from bench.renewals import scratch_database
from bench.webhooks import customer_payload, sample, stored_delivery, subscription_payload

DEFAULT_N = 2000
PAGE = 100
TARGET = 1.0
SECRET = "bench-first-import-secret"  # noqa: S105 (a scratch shop)


def _shop(name: str):
    from crm.models import Organization
    from woocommerce.models import WooCommerceStore

    organization = Organization.objects.create(
        name=name, slug=f"bench-import-{uuid.uuid4().hex[:12]}", timezone="Europe/Paris"
    )
    return WooCommerceStore.objects.create(
        organization=organization,
        name=name,
        base_url="https://shop.example.com",
        webhook_secret=SECRET,
    )


def as_webhooks(store, topic: str, payloads: list[dict]) -> float:
    """Seconds to process `payloads` stored as deliveries, one by one as a worker does."""
    from bench.webhooks import compact
    from woocommerce import processing
    from woocommerce.models import WebhookDelivery

    deliveries = WebhookDelivery.objects.bulk_create(
        stored_delivery(store, topic, compact(payload), SECRET) for payload in payloads
    )
    started = time.perf_counter()
    for delivery in deliveries:
        processing.process(delivery.pk)
    seconds = time.perf_counter() - started
    statuses = set(WebhookDelivery.objects.filter(store=store).values_list("status", flat=True))
    assert statuses == {"processed"}, statuses
    return seconds


def as_first_import(store, resource: str, payloads: list[dict]) -> float:
    """Seconds to apply `payloads` page by page, as the reconciliation's first import."""
    from woocommerce.reconcile import apply_page

    started = time.perf_counter()
    for first in range(0, len(payloads), PAGE):
        outcomes = apply_page(store, resource, payloads[first : first + PAGE])
        assert set(outcomes) == {"processed"}, set(outcomes)
    return time.perf_counter() - started


def order_payload(template: dict, subscription: dict) -> dict:
    """The paid initial order of `subscription` (its `parent_id`), of the same customer."""
    payload = copy.deepcopy(template)
    payload.update(
        id=subscription["parent_id"],
        number=str(subscription["parent_id"]),
        status="completed",
        customer_id=subscription["customer_id"],
        billing=copy.deepcopy(subscription["billing"]),
        date_modified_gmt=subscription["date_modified_gmt"],
    )
    return payload


def measure(n: int, *, orders: bool = True) -> dict[str, float]:
    """Customers, then (`orders`) the subscriptions' paid initial orders, then the
    subscriptions, as the reconciliation reads them; without the orders, each subscription
    creates its initial order empty and no charge is synced."""
    customers = [customer_payload(sample("customer"), i) for i in range(n)]
    subscriptions = [subscription_payload(sample("subscription"), i) for i in range(n)]
    webhooks, first_import = _shop("Bench webhooks"), _shop("Bench first import")
    numbers = {
        "customers_webhooks": as_webhooks(webhooks, "customer.created", customers),
        "customers_import": as_first_import(first_import, "customer", customers),
    }
    if orders:
        initial = [order_payload(sample("order"), s) for s in subscriptions]
        numbers["orders_webhooks"] = as_webhooks(webhooks, "order.created", initial)
        numbers["orders_import"] = as_first_import(first_import, "order", initial)
    numbers["subscriptions_webhooks"] = as_webhooks(webhooks, "subscription.created", subscriptions)
    numbers["subscriptions_import"] = as_first_import(first_import, "subscription", subscriptions)
    return numbers


def rows(n: int, numbers: dict[str, float]) -> list[Row]:
    return [
        Row(
            f"first import: {what} against webhooks, {n}",
            n / numbers[f"{what}_import"],
            n / numbers[f"{what}_webhooks"],
            "items/s",
            target=TARGET,
        )
        for what in ("customers", "orders", "subscriptions")
        if f"{what}_import" in numbers
    ]


def run(n: int | None = None) -> list[Row]:
    n = n or int(os.environ.get("BENCH_FIRST_IMPORT_N", DEFAULT_N))
    with scratch_database():
        numbers = measure(n, orders=os.environ.get("BENCH_FIRST_IMPORT_ORDERS", "1") != "0")
    print(
        f"first import: N={n}; "
        + ", ".join(f"{key} {seconds:.2f} s" for key, seconds in numbers.items()),
        file=sys.stderr,
    )
    return rows(n, numbers)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else None):
        numbers = f"{row.value:>10.1f} {row.baseline:>10.1f} {row.unit:<8} {row.ratio:>6.2f}"
        print(f"{row.name:<48} {numbers}")
