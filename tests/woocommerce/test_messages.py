"""A message of several deliveries (the relay's) is applied in bulk where a page can take it
(issue 26): the same CRM rows and the same outcome on each delivery as the deliveries applied
one by one, as many statements for ten deliveries as for three, and a page that fails
applied one by one."""

from __future__ import annotations

import copy

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Customer
from subscriptions.models import Subscription
from tests.woocommerce import test_reconcile_orders as order_pages
from tests.woocommerce import test_reconcile_pages as customer_pages
from tests.woocommerce import test_reconcile_subscriptions as subscription_pages
from tests.woocommerce.conftest import sample
from woocommerce import handlers, processing
from woocommerce.models import WebhookDelivery

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status
store_b = subscription_pages.store_b


def delivered(deliver, store, topic: str, payloads: list) -> list[int]:
    """The payloads posted to `store`'s address as WooCommerce does (bytes: a raw body);
    the deliveries' ids, in order."""
    for payload in payloads:
        if isinstance(payload, bytes):
            deliver(topic, None, to=store, raw=payload)
        else:
            deliver(topic, payload, to=store)
    return list(
        WebhookDelivery.objects.filter(store=store).order_by("pk").values_list("pk", flat=True)
    )


def outcomes(ids: list[int]) -> list[tuple]:
    by_id = {
        d.pk: (d.topic, d.status, d.reason, d.woo_id, d.attempts)
        for d in WebhookDelivery.objects.filter(pk__in=ids)
    }
    return [by_id[pk] for pk in ids]


def one_by_one(ids: list[int]) -> None:
    for pk in ids:
        processing.process(pk)


def known_customers(store) -> None:
    """A customer the CRM has by e-mail only, four imported, and one a subscription made
    before the customer's own payload came (mapped, with no modification time)."""
    Customer.objects.create(organization=store.organization, email="known@example.com")
    with transaction.atomic():
        for n in range(20, 24):
            handlers.apply(store, "customer", "reconciled", customer_pages.customer_payload(n))
        subscription = subscription_pages.subscription_payload(90, customer_id=1090, parent_id=0)
        subscription["billing"] = {**subscription["billing"], "email": "first.comer@example.com"}
        handlers.apply(store, "subscription", "reconciled", subscription)


def customer_updates() -> list:
    """The first import's mixed page, and updates of the customers `known_customers` made."""
    later = "2025-04-01T00:00:00"
    renamed = customer_pages.customer_payload(20, first_name="Renée", date_modified_gmt=later)
    renamed["shipping"] = {**renamed["shipping"], "address_1": "1 quai Neuf"}
    phone = customer_pages.customer_payload(23, date_modified_gmt=later)
    phone["billing"] = {**phone["billing"], "phone": "0700000000"}
    first_comer = customer_pages.customer_payload(90, id=1090, email="first.comer@example.com")
    return [
        *customer_pages.mixed_page(),
        renamed,
        customer_pages.customer_payload(21, date_modified_gmt=later),  # nothing changes
        customer_pages.customer_payload(22, email="new.22@example.com", date_modified_gmt=later),
        phone,
        first_comer,
        customer_pages.customer_payload(21),  # older than what is applied
    ]


# (resource, the module of its first-import tests, what the shop has before, the payloads,
# the ids the page leaves to the handler, in order)
PAGES = {
    "customer": (
        customer_pages,
        known_customers,
        customer_updates,
        # An e-mail seen before in the page, one the CRM has, an id twice, a changed e-mail,
        # an id twice (older).
        [1007, 1008, 1003, 1022, 1021],
    ),
    "order": (
        order_pages,
        order_pages.known_shop,
        order_pages.mixed_page,
        [6007, 6008, 6009, 6010, 6500, 6001],
    ),
    "subscription": (
        subscription_pages,
        subscription_pages.known_shop,
        subscription_pages.mixed_page,
        [5003, 5006, 5007, 5013, 5009, 5010],
    ),
}


@pytest.mark.parametrize("resource", list(PAGES))
def test_a_message_gives_what_its_deliveries_one_by_one_give(
    deliver, store, store_b, org_a, org_b, resource, monkeypatch
):
    """The first import's mixed page (new entities, and what the page leaves to the handler
    or refuses), plus a body cut short and a coupon, as one message and one by one."""
    pages, known_shop, payloads, left = PAGES[resource]
    known_shop(store)
    known_shop(store_b)
    page = [*payloads(), b'{"id": 5020, "status": "act']  # cut short
    topic = f"{resource}.updated"

    bulk_ids = delivered(deliver, store, topic, copy.deepcopy(page))
    bulk_ids += delivered(deliver, store, "coupon.updated", [sample("coupon")])[-1:]
    single_ids = delivered(deliver, store_b, topic, copy.deepcopy(page))
    single_ids += delivered(deliver, store_b, "coupon.updated", [sample("coupon")])[-1:]

    by_handler = []
    module = handlers.HANDLERS[resource]
    upsert = module.upsert

    def counted(store, payload, event):
        by_handler.append(payload["id"])
        return upsert(store, payload, event)

    monkeypatch.setattr(module, "upsert", counted)
    results = processing.process_many(bulk_ids)
    monkeypatch.undo()
    one_by_one(single_ids)

    assert by_handler == left

    assert outcomes(bulk_ids) == outcomes(single_ids)
    assert list(results.values()) == [o[1] for o in outcomes(bulk_ids)]
    assert {o[1] for o in outcomes(bulk_ids)} >= {Status.PROCESSED, Status.FAILED}
    bulk_rows = pages.crm_rows(org_a)
    for key, rows in pages.crm_rows(org_b).items():
        assert bulk_rows[key] == rows, key


def statements(ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as captured:
        results = processing.process_many(ids)
    assert set(results.values()) == {Status.PROCESSED}, results
    return len(captured.captured_queries)


def test_a_message_costs_the_same_statements_for_three_deliveries_or_ten(deliver, store):
    subscription_pages.known_shop(store)
    counts = {}
    first = 0

    def new_ids(topic: str, payloads: list) -> list[int]:
        before = set(WebhookDelivery.objects.values_list("pk", flat=True))
        return [i for i in delivered(deliver, store, topic, payloads) if i not in before]

    for size in (3, 10):
        numbers = range(first, first + size)
        first += size
        customers = [customer_pages.customer_payload(100 + n) for n in numbers]
        counts["customers", size] = statements(new_ids("customer.updated", customers))
        subscriptions = [
            subscription_pages.subscription_payload(n, line_count=3, parent_id=20_000 + n)
            for n in numbers
        ]
        counts["subscriptions", size] = statements(new_ids("subscription.updated", subscriptions))
        # Subscriptions before their customers: each customer made from the billing details.
        first_comers = []
        for n in numbers:
            payload = subscription_pages.subscription_payload(
                100 + n, line_count=3, parent_id=20_100 + n, customer_id=3000 + n
            )
            payload["billing"] = {**payload["billing"], "email": f"first.{n}@example.com"}
            first_comers.append(payload)
        counts["first comers", size] = statements(new_ids("subscription.updated", first_comers))

    for kind in ("customers", "subscriptions", "first comers"):
        assert counts[kind, 3] == counts[kind, 10], counts
    # The claim, the deliveries' lock, the page's own (6 and 15, 4 more for the customers it
    # makes), the outcomes, and the savepoint's two (a transaction's in the worker): against
    # about 21 a new subscription one by one.
    assert counts["customers", 10] <= 11, counts
    assert counts["subscriptions", 10] <= 20, counts
    assert counts["first comers", 10] <= 24, counts
    assert Subscription.objects.filter(organization=store.organization).count() == 1 + 26
    assert Customer.objects.filter(email__startswith="first.").count() == 13


def test_a_message_of_updates_costs_little_more_than_one_by_one(deliver, store, store_b):
    """Updates of subscriptions the CRM mirrors are the handler's, one by one: the page only
    finds out, for a few statements a message, not a few a delivery."""
    counts = []
    for shop in (store, store_b):
        subscription_pages.known_shop(shop)
        first = [subscription_pages.subscription_payload(n) for n in range(10)]
        processing.process_many(delivered(deliver, shop, "subscription.updated", first))
        updates = [
            subscription_pages.subscription_payload(
                n, status="cancelled", date_modified_gmt="2025-04-01T00:00:00"
            )
            for n in range(10)
        ]
        before = set(WebhookDelivery.objects.values_list("pk", flat=True))
        ids = [
            i for i in delivered(deliver, shop, "subscription.updated", updates) if i not in before
        ]
        with CaptureQueriesContext(connection) as captured:
            if shop is store:
                processing.process_many(ids)
            else:
                one_by_one(ids)
        counts.append(len(captured.captured_queries))
        assert {o[1] for o in outcomes(ids)} == {Status.PROCESSED}

    many, single = counts
    assert many <= single + 6, counts
    assert Subscription.objects.filter(status="canceled").count() == 20


def test_a_short_message_is_topped_up_with_what_waits_in_its_queue(deliver, store):
    """A worker behind takes, with a message of two, the oldest deliveries of its queue's
    resources never attempted (not a retry waiting for its backoff, not another queue's);
    their own message, later, finds them finished, in two statements."""
    customers = [{**sample("customer"), "id": n, "email": f"c{n}@example.com"} for n in range(1, 8)]
    ids = delivered(deliver, store, "customer.updated", customers)
    subscription = delivered(deliver, store, "subscription.updated", [sample("subscription")])[-1]
    WebhookDelivery.objects.update(status=Status.QUEUED)  # published by the relay
    WebhookDelivery.objects.filter(pk=ids[6]).update(attempts=1)  # a retry, backoff pending

    results = processing.process_many(ids[:2], top_up=["customer"])

    assert results == dict.fromkeys(ids[:6], Status.PROCESSED)
    assert _status(ids[6]) == Status.QUEUED
    assert _status(subscription) == Status.QUEUED
    with CaptureQueriesContext(connection) as captured:
        later = processing.process_many(ids[2:6], top_up=["customer"])
    assert later == dict.fromkeys(ids[2:6])
    assert len(captured.captured_queries) == 2  # the claim (nothing), the finished ones
    assert Customer.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_a_page_that_fails_is_applied_one_by_one_and_only_the_failing_delivery_is_resent(
    deliver, store, monkeypatch
):
    """The page meets a deadlock: rolled back, each delivery applied on its own; one
    delivery's transient error neither stops the others nor retries them; it is sent again
    on its own, and a redelivered message applies nothing twice."""
    from woocommerce import tasks

    payloads = [{**sample("customer"), "id": n, "email": f"c{n}@example.com"} for n in (1, 2, 3)]
    ids = delivered(deliver, store, "customer.updated", payloads)
    real_apply = handlers.apply

    def deadlock(*args):
        Customer.objects.create(organization=store.organization, email="rolled.back@example.com")
        raise OperationalError("deadlock detected")

    def flaky(store, resource, event, payload):
        if payload["id"] == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real_apply(store, resource, event, payload)

    resent: list[tuple] = []
    monkeypatch.setattr(handlers, "apply_page", deadlock)
    monkeypatch.setattr(handlers, "apply", flaky)
    monkeypatch.setattr(
        tasks.process_delivery, "apply_async", lambda args, **kw: resent.append((args, kw))
    )

    assert tasks.process_deliveries.apply(args=(ids,)).get() == 2

    statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert statuses == {ids[0]: Status.PROCESSED, ids[1]: Status.QUEUED, ids[2]: Status.PROCESSED}
    assert [args for args, _ in resent] == [(ids[1],)]
    assert resent[0][1]["countdown"] == 5
    assert sorted(Customer.objects.values_list("email", flat=True)) == [
        "c1@example.com",
        "c3@example.com",
    ]
    # The message redelivered (its worker died after it): the finished ones are skipped.
    assert tasks.process_deliveries.apply(args=(ids,)).get() == 0
    assert Customer.objects.count() == 2


def test_a_delivery_another_worker_took_over_is_left_to_it(deliver, store, monkeypatch):
    """Between the claim and the page's row locks another worker took one delivery over
    (its claim gone stale): the page applies the others and leaves that one alone."""
    payloads = [{**sample("customer"), "id": n, "email": f"c{n}@example.com"} for n in (1, 2, 3)]
    ids = delivered(deliver, store, "customer.updated", payloads)
    original = processing._apply_page

    def after_takeover(page, started_at):
        WebhookDelivery.objects.filter(pk=ids[1]).update(started_at=None)  # another claim
        return original(page, started_at)

    monkeypatch.setattr(processing, "_apply_page", after_takeover)
    results = processing.process_many(ids)

    assert results == {ids[0]: Status.PROCESSED, ids[1]: None, ids[2]: Status.PROCESSED}
    assert _status(ids[1]) == Status.PROCESSING
    assert not Customer.objects.filter(email="c2@example.com").exists()


def _status(pk: int) -> str:
    return WebhookDelivery.objects.get(pk=pk).status
