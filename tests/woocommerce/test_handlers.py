"""Each sample WooCommerce sends becomes the expected CRM rows, whatever the order of arrival."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.actors import ActorKind
from crm.models import Address, Customer, Product
from fulfillment.services import lock_due_batches
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import open_batch
from tests.woocommerce.conftest import later, sample
from woocommerce.models import WebhookDelivery, WooCommerceStore, WooMapping, WooOrder

pytestmark = pytest.mark.django_db
Status = Subscription.Status
DeliveryStatus = WebhookDelivery.Status


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def mapped(resource: str, woo_id: int):
    mapping = WooMapping.objects.get(resource=resource, woo_id=woo_id)
    model = {"customer": Customer, "product": Product, "subscription": Subscription}[resource]
    return model.objects.get(pk=mapping.object_id)


def subscription_1275(**changes) -> dict:
    """The subscription of `subscription_orders.json` (not in the samples), same shape."""
    payload = sample("subscription")
    payload.update(
        id=1275,
        parent_id=1274,
        start_date_gmt="2021-04-19T07:20:56",
        date_created_gmt="2021-04-19T07:20:56",
        date_modified_gmt="2021-04-19T07:23:00",
        next_payment_date_gmt="2021-04-26T07:20:56",
    )
    payload.update(changes)
    return payload


# --- Samples, field by field ----------------------------------------------------


def test_a_customer(apply, store):
    delivery = apply("customer.created", sample("customer"))

    assert delivery.status == DeliveryStatus.PROCESSED
    assert delivery.woo_id == 25
    customer = mapped("customer", 25)
    assert customer.organization == store.organization
    assert (customer.email, customer.first_name, customer.last_name, customer.phone) == (
        "john.doe@example.com",
        "John",
        "Doe",
        "(555) 555-5555",
    )
    assert customer.language == store.organization.language
    addresses = {a.kind: a for a in customer.addresses.all()}
    assert set(addresses) == {Address.Kind.BILLING, Address.Kind.SHIPPING}
    shipping = addresses[Address.Kind.SHIPPING]
    assert (shipping.name, shipping.line1, shipping.postcode, shipping.city) == (
        "John Doe",
        "969 Market",
        "94103",
        "San Francisco",
    )
    assert shipping.country.code == "US"
    mapping = WooMapping.objects.get(resource="customer", woo_id=25)
    assert mapping.woo_modified_at == utc("2017-03-21T19:09:30")


def test_a_known_customer_is_linked_by_email_not_doubled(apply, store):
    existing = Customer.objects.create(
        organization=store.organization, email="John.Doe@Example.com", first_name="J"
    )
    apply("customer.created", sample("customer"))

    assert Customer.objects.count() == 1
    assert mapped("customer", 25) == existing
    existing.refresh_from_db()
    assert existing.first_name == "John"


def test_a_product(apply):
    apply("product.created", sample("product"))

    product = mapped("product", 794)
    assert product.sku == "woo-794"  # the sample has no SKU
    assert product.name == "Premium Quality"
    assert product.unit_price == Decimal("21.99")
    assert product.active is True
    assert product.description.startswith("Pellentesque habitant")
    assert "<p>" not in product.description


def test_a_weekly_subscription(apply, store):
    delivery = apply("subscription.created", sample("subscription"))

    assert delivery.status == DeliveryStatus.PROCESSED, delivery.error
    subscription = mapped("subscription", 1300)
    assert subscription.organization == store.organization
    assert subscription.source == Subscription.Source.WOOCOMMERCE
    assert subscription.status == Status.ACTIVE
    assert (subscription.billing_period, subscription.billing_interval) == ("week", 1)
    assert subscription.started_at == utc("2021-04-22T10:44:41")
    assert subscription.billing_anchor == utc("2021-04-22T10:44:41")
    assert subscription.next_charge_at == utc("2021-04-29T10:44:41")
    assert subscription.next_cycle == 1
    assert subscription.trial_ends_at is None  # "" is no date
    assert subscription.ends_at is None
    assert subscription.currency == "USD"
    assert subscription.customer.email == "james.allan@automattic.com"
    assert subscription.shipping_address.line1 == "1 Main Road"
    assert subscription.shipping_address.city == "Brisbane"
    items = list(subscription.items.values_list("product__sku", "quantity", "unit_price"))
    assert items == [("woo-1027", 1, Decimal("7.91"))]
    events = list(subscription.events.order_by("id").values_list("kind", "actor_kind"))
    assert events == [("created", ActorKind.WOOCOMMERCE), ("activated", ActorKind.WOOCOMMERCE)]
    assert subscription.events.first().actor_label == "WooCommerce: Purea shop"
    # Its initial order is expected: it will become the charge of cycle 0.
    parent = WooOrder.objects.get(woo_id=1299)
    assert parent.kind == "parent"
    assert list(parent.links.values_list("woo_subscription_id", "charge")) == [(1300, None)]


def test_a_quarterly_subscription_with_two_products(apply):
    apply("subscription.created", sample("subscription_created"))

    subscription = mapped("subscription", 1313)
    assert (subscription.billing_period, subscription.billing_interval) == ("month", 3)
    assert subscription.next_charge_at == utc("2021-07-23T10:45:00")
    assert subscription.next_cycle == 1
    items = sorted(subscription.items.values_list("product__sku", "quantity", "unit_price"))
    assert items == [("woo-1175", 2, Decimal("63.24")), ("woo-633", 1, Decimal("39.53"))]
    assert not WooOrder.objects.exists()  # parent_id 0: no initial order to expect


def test_a_product_first_seen_on_a_line_is_completed_by_its_own_payload(apply):
    apply("subscription.created", sample("subscription_created"))
    product = sample("product")
    product.update(id=1175, sku="COFFEE-1KG", name="Coffee 1 kg", price="25.00")
    apply("product.updated", product)

    assert Product.objects.filter(pk=mapped("product", 1175).pk, sku="COFFEE-1KG").exists()
    assert Product.objects.count() == 2


def test_an_order_of_no_subscription_is_kept_for_reference(apply, store):
    apply("order.created", sample("order"))

    order = WooOrder.objects.get(woo_id=727)
    assert (order.kind, order.status, order.total, order.currency) == (
        "other",
        "processing",
        Decimal("29.35"),
        "USD",
    )
    assert order.paid_at == utc("2017-03-22T19:28:08")
    assert order.customer.email == "john.doe@example.com"  # a guest: matched on its e-mail
    assert not order.links.exists()
    assert not Charge.objects.exists()


@pytest.mark.parametrize("subscription_first", [True, False])
def test_initial_and_renewal_orders_become_charges_in_any_order(apply, subscription_first):
    parent, renewal = sample("subscription_orders")
    steps = [("subscription.created", subscription_1275())]
    orders = [("order.created", parent), ("order.created", renewal)]
    for topic, payload in steps + orders if subscription_first else orders + steps:
        assert apply(topic, payload).status == DeliveryStatus.PROCESSED

    subscription = mapped("subscription", 1275)
    charges = {c.cycle: c for c in subscription.charges.all()}
    assert set(charges) == {0, 1}
    assert (charges[0].status, charges[0].amount, charges[0].external_reference) == (
        Charge.Status.PAID,
        Decimal("26.09"),
        "1274",
    )
    assert charges[0].paid_at == utc("2021-04-19T07:21:00")
    assert (charges[1].status, charges[1].amount, charges[1].external_reference) == (
        Charge.Status.PENDING,
        Decimal("22.00"),
        "1276",
    )
    assert charges[0].gateway == "woocommerce"
    assert subscription.current_cycle == 0
    assert subscription.events.filter(kind="charge_paid").count() == 1
    assert WooOrder.objects.get(woo_id=1276).kind == "renewal"


def test_a_renewal_paid_later_updates_its_charge_once(apply):
    _parent, renewal = sample("subscription_orders")
    apply("subscription.created", subscription_1275())
    apply("order.created", renewal)
    paid = later(renewal, status="completed", date_paid_gmt="2021-04-19T08:00:00")
    apply("order.updated", paid)
    apply("order.updated", later(paid, seconds=5))  # fired again, nothing new

    charge = Charge.objects.get(external_reference="1276")
    assert charge.status == Charge.Status.PAID
    assert charge.paid_at == utc("2021-04-19T08:00:00")
    subscription = charge.subscription
    subscription.refresh_from_db()
    assert subscription.current_cycle == charge.cycle
    assert subscription.events.filter(kind="charge_paid").count() == 1


def test_the_billing_address_is_kept_and_addresses_keep_their_state(apply):
    payload = sample("subscription")
    apply("subscription.created", payload)

    subscription = mapped("subscription", 1300)
    billing, shipping = subscription.billing_address, subscription.shipping_address
    assert (billing.kind, billing.line1, billing.city, billing.state, billing.country) == (
        "billing",
        "1 Main Road",
        "Brisbane",
        "QLD",
        "AU",
    )
    assert billing.phone == "0000000000"
    assert (shipping.kind, shipping.state) == ("shipping", "QLD")

    # The customer moves their billing address to another state in the shop
    moved = later(payload)
    moved["billing"] = {**payload["billing"], "city": "Sydney", "state": "NSW", "postcode": "2000"}
    apply("subscription.updated", moved)

    subscription.refresh_from_db()
    assert (subscription.billing_address.city, subscription.billing_address.state) == (
        "Sydney",
        "NSW",
    )
    assert subscription.shipping_address == shipping  # the parcel still goes to Brisbane
    event = subscription.events.filter(kind="updated").latest("id")
    assert event.data["fields"] == {"billing_address": subscription.billing_address_id}


def renewal(week: int, status: str = "completed") -> dict:
    """A renewal order of subscription 1275, made at its due date `week` weeks after the start."""
    _parent, order = sample("subscription_orders")
    due = utc("2021-04-19T07:20:56") + timedelta(weeks=week, seconds=20)
    order.update(
        id=1276 + week,
        status=status,
        date_created_gmt=due.strftime("%Y-%m-%dT%H:%M:%S"),
        date_modified_gmt=(due + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        date_paid_gmt=None,
    )
    return order


@pytest.mark.parametrize("orders_first", [True, False])
def test_the_next_cycle_always_follows_the_last_paid_one(apply, orders_first):
    # Given a subscription first seen on hold, with no next payment, after five paid renewals
    parent, _renewal = sample("subscription_orders")
    on_hold = subscription_1275(status="on-hold", next_payment_date_gmt="")
    orders = [("order.created", parent)] + [("order.created", renewal(w)) for w in range(1, 6)]
    steps = [("subscription.updated", on_hold)]
    for topic, payload in orders + steps if orders_first else steps + orders:
        apply(topic, payload)

    # Then the next cycle is the one after the last paid cycle, not the first
    subscription = mapped("subscription", 1275)
    assert sorted(subscription.charges.values_list("cycle", "status")) == [
        (n, "paid") for n in range(6)
    ]
    assert (subscription.current_cycle, subscription.next_cycle) == (5, 6)
    assert subscription.next_charge_at is None  # suspended: the shop charges nothing


def test_a_paid_renewal_moves_the_next_cycle_on_before_the_shop_says_when(apply, store):
    # Given an active weekly subscription whose renewal of cycle 1 is paid, the shop's own
    # update of the subscription (its next payment date) not arrived yet
    apply("subscription.created", subscription_1275())
    apply("order.created", renewal(1))
    subscription = mapped("subscription", 1275)
    assert (subscription.current_cycle, subscription.next_cycle) == (1, 2)
    charge = subscription.charges.get(cycle=1)
    assert subscription.next_charge_at == charge.period_end == utc("2021-05-03T07:20:56")

    # When the week of cycle 1 is locked, one box is due for it: no second for cycle 2
    cutoff = charge.period_start + timedelta(hours=1)
    batch = open_batch(
        store.organization, cutoff, starts_at=charge.period_start - timedelta(days=6)
    )
    lock_due_batches(now=cutoff + timedelta(minutes=1))
    lines = batch.lines.filter(subscription=subscription)
    assert list(lines.values_list("cycle", "status")) == [(1, "ready")]


# --- Statuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("woo_status", "status", "at_period_end", "reason"),
    [
        ("pending", Status.PENDING, False, ""),
        ("active", Status.ACTIVE, False, ""),
        ("on-hold", Status.PAUSED, False, ""),
        ("pending-cancel", Status.ACTIVE, True, ""),
        ("cancelled", Status.CANCELED, False, "canceled in the shop"),
        ("expired", Status.EXPIRED, False, ""),
        ("switched", Status.CANCELED, False, "switched"),
        ("trash", Status.CANCELED, False, "deleted in the shop"),
    ],
)
def test_status_table(apply, woo_status, status, at_period_end, reason):
    apply("subscription.updated", later(sample("subscription"), status=woo_status))

    subscription = mapped("subscription", 1300)
    assert subscription.status == status
    assert subscription.cancel_at_period_end is at_period_end
    assert subscription.cancel_reason == reason
    if status in (Status.CANCELED, Status.EXPIRED):
        assert subscription.ended_at is not None
        assert subscription.next_charge_at is None


@pytest.mark.parametrize(
    ("renewal_status", "status"),
    [("pending", Status.PAST_DUE), ("failed", Status.PAST_DUE), ("completed", Status.PAUSED)],
)
def test_on_hold_is_past_due_while_the_latest_renewal_is_unpaid(apply, renewal_status, status):
    _parent, renewal = sample("subscription_orders")
    apply("order.created", later(renewal, status=renewal_status))
    apply("subscription.updated", subscription_1275(status="on-hold"))

    assert mapped("subscription", 1275).status == status


def test_on_hold_turns_past_due_when_its_renewal_fails_after_it(apply):
    _parent, renewal = sample("subscription_orders")
    apply("subscription.updated", subscription_1275(status="on-hold"))
    assert mapped("subscription", 1275).status == Status.PAUSED

    apply("order.updated", later(renewal, status="failed"))

    subscription = mapped("subscription", 1275)
    assert subscription.status == Status.PAST_DUE
    assert subscription.events.filter(kind="past_due", actor_kind="woocommerce").count() == 1
    assert subscription.charges.get().status == Charge.Status.FAILED


def test_a_shop_subscription_moves_between_any_statuses_with_one_event_each(apply):
    payload = sample("subscription")
    statuses = ["active", "on-hold", "active", "pending-cancel", "active", "cancelled"]
    for n, woo_status in enumerate(statuses):
        apply("subscription.updated", later(payload, seconds=60 * (n + 1), status=woo_status))

    subscription = mapped("subscription", 1300)
    kinds = list(subscription.events.order_by("id").values_list("kind", flat=True))
    assert kinds == [
        "created",
        "activated",
        "paused",
        "resumed",
        "cancel_scheduled",
        "cancel_withdrawn",
        "canceled",
    ]


# --- Duplicates, order of arrival, deletions ----------------------------------------


def test_the_same_delivery_five_times_gives_one_row_and_one_effect(apply):
    payload = sample("subscription")
    results = [apply("subscription.created", payload) for _ in range(5)]

    assert results[0].status == DeliveryStatus.PROCESSED
    assert results[1:] == [None] * 4
    assert Subscription.objects.count() == 1
    assert SubscriptionEvent.objects.count() == 2  # created, activated


def test_reprocessing_a_processed_delivery_changes_nothing(apply):
    from woocommerce import processing

    delivery = apply("subscription.created", sample("subscription"))
    events = SubscriptionEvent.objects.count()

    assert processing.process(delivery.pk) is None
    assert SubscriptionEvent.objects.count() == events


THREE_UPDATES = [
    later(sample("subscription"), seconds=60, status="on-hold"),
    later(sample("subscription"), seconds=120, status="active", billing_interval="2"),
    later(
        sample("subscription"),
        seconds=180,
        status="pending-cancel",
        billing_interval="2",
        next_payment_date_gmt="2021-05-06T10:44:41",
    ),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_three_updates_in_any_order_end_in_the_newest_state(apply, order):
    for index in order:
        apply("subscription.updated", THREE_UPDATES[index])

    subscription = mapped("subscription", 1300)
    assert subscription.status == Status.ACTIVE
    assert subscription.cancel_at_period_end is True
    assert subscription.billing_interval == 2
    assert subscription.next_charge_at == utc("2021-05-06T10:44:41")
    mapping = WooMapping.objects.get(resource="subscription", woo_id=1300)
    assert mapping.woo_modified_at == utc("2021-04-22T10:50:58")
    assert mapping.remote_status == "pending-cancel"
    ignored = WebhookDelivery.objects.filter(status=DeliveryStatus.IGNORED)
    assert all("older than the version applied" in d.error for d in ignored)


@pytest.mark.parametrize(
    ("topic", "payload", "check"),
    [
        (
            "subscription",
            sample("subscription"),
            lambda: (
                mapped("subscription", 1300).status == Status.CANCELED
                and mapped("subscription", 1300).cancel_reason == "deleted in the shop"
            ),
        ),
        ("product", sample("product"), lambda: mapped("product", 794).active is False),
        ("customer", sample("customer"), lambda: mapped("customer", 25).email != ""),
    ],
    ids=["subscription", "product", "customer"],
)
def test_a_deleted_body_marks_the_row_deleted_upstream(apply, topic, payload, check):
    apply(f"{topic}.created", payload)
    delivery = apply(f"{topic}.deleted", {"id": payload["id"]})

    assert delivery.status == DeliveryStatus.PROCESSED
    assert check()
    mapping = WooMapping.objects.get(resource=topic, woo_id=payload["id"])
    assert mapping.deleted_upstream_at is not None
    # A late update delivered after the deletion does not bring it back ...
    late = apply(f"{topic}.updated", later(payload, seconds=1))
    assert late.status == DeliveryStatus.IGNORED
    assert check()
    # ... a restore does.
    restored = apply(f"{topic}.restored", later(payload, seconds=2))
    assert restored.status == DeliveryStatus.PROCESSED
    mapping.refresh_from_db()
    assert mapping.deleted_upstream_at is None


def test_a_deleted_order_voids_its_unpaid_charge(apply):
    _parent, renewal = sample("subscription_orders")
    apply("subscription.created", subscription_1275())
    apply("order.created", renewal)
    apply("order.deleted", {"id": 1276})

    assert Charge.objects.get(external_reference="1276").status == Charge.Status.VOIDED
    assert WooOrder.objects.get(woo_id=1276).deleted_upstream is True


# --- Bad input: a readable error, nothing written ---------------------------------


@pytest.mark.parametrize(
    ("topic", "raw", "status", "error"),
    [
        ("order.updated", b'{"id": 12, "status": "proc', "failed", "not valid JSON"),
        ("order.updated", b"\xff\xfe{}", "failed", "not valid JSON"),
        ("order.updated", b"[1, 2]", "failed", "not a JSON object"),
        ("coupon.updated", b'{"id": 719}', "ignored", "no handler for the resource 'coupon'"),
        (
            "subscription.updated",
            b'{"code": "woocommerce_rest_invalid_id", "message": "Invalid ID.",'
            b' "data": {"status": 404}}',
            "ignored",
            "Invalid ID.",
        ),
        ("customer.updated", b'{"id": "25"}', "failed", "no valid id"),
    ],
)
def test_bad_bodies_are_marked_with_a_readable_error(apply, topic, raw, status, error):
    delivery = apply(topic, raw=raw)

    assert delivery.status == status
    assert error in delivery.error
    assert not Subscription.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"billing_interval": "0"}, "billing_interval: must be at least 1"),
        ({"billing_interval": "weekly"}, "billing_interval: not a whole number"),
        ({"billing_period": "fortnight"}, "unknown billing_period 'fortnight'"),
        ({"status": "wc-weird"}, "unknown subscription status"),
        ({"start_date_gmt": "yesterday"}, "not a date"),
        ({"billing": {"email": "not-an-email"}, "customer_id": 99}, "invalid e-mail"),
        ({"line_items": [{"product_id": 5, "quantity": 0, "total": "1"}]}, "quantity"),
    ],
)
def test_an_invalid_subscription_fails_and_writes_nothing(apply, changes, error):
    delivery = apply("subscription.updated", later(sample("subscription"), **changes))

    assert delivery.status == DeliveryStatus.FAILED
    assert error in delivery.error
    assert not Subscription.objects.exists()
    assert not Customer.objects.exists()
    assert not Product.objects.exists()
    assert not WooMapping.objects.filter(object_id__isnull=False).exists()


# --- Tenancy --------------------------------------------------------------------------


def test_two_organizations_shops_with_the_same_ids_stay_apart(apply, deliver, store, org_b):
    from woocommerce import processing

    other = WooCommerceStore.objects.create(
        organization=org_b, name="B", base_url="https://b.example.com", webhook_secret="b"
    )
    apply("subscription.created", sample("subscription"))
    deliver("subscription.created", sample("subscription"), to=other, secret="b")
    processing.process(WebhookDelivery.objects.get(store=other).pk)

    a = Subscription.objects.get(organization=store.organization)
    b = Subscription.objects.get(organization=org_b)
    assert a.customer != b.customer
    assert a.customer.organization == store.organization
    assert b.customer.organization == org_b
    assert b.items.get().product.organization == org_b
    assert WooMapping.objects.filter(woo_id=1300).count() == 2


# --- The remaining samples ------------------------------------------------------------


def test_the_orders_list_sample_as_two_deliveries(apply):
    for order in sample("orders_list"):
        assert apply("order.created", order).status == DeliveryStatus.PROCESSED

    orders = {o.woo_id: o for o in WooOrder.objects.select_related("customer")}
    assert set(orders) == {727, 723}
    assert (orders[723].status, orders[723].total, orders[723].customer.email) == (
        "completed",
        Decimal("39.00"),
        "joao.silva@example.com",
    )
    assert orders[727].customer.email == "john.doe@example.com"  # a guest order
    assert WooMapping.objects.get(resource="customer", woo_id=26).object_id == (
        orders[723].customer_id
    )


def test_the_order_as_returned_by_delete_is_its_newer_version(apply):
    """The REST answer to DELETE is the full order: a newer version, applied as such."""
    apply("order.created", sample("order"))
    apply("order.updated", sample("order_deleted_via_rest"))

    order = WooOrder.objects.get(woo_id=727)
    assert order.status == "completed"
    mapping = WooMapping.objects.get(resource="order", woo_id=727)
    assert mapping.woo_modified_at == utc("2017-03-22T19:30:35")


def test_the_subscriptions_list_sample_as_four_deliveries(apply):
    for payload in sample("subscriptions_list"):
        assert apply("subscription.updated", payload).status == DeliveryStatus.PROCESSED

    rows = {woo_id: mapped("subscription", woo_id) for woo_id in (1314, 1313, 1312, 1311)}
    assert {w: s.status for w, s in rows.items()} == {
        1314: Status.PENDING,
        1313: Status.ACTIVE,
        1312: Status.PENDING,
        1311: Status.ACTIVE,
    }
    assert (rows[1314].billing_period, rows[1314].billing_interval) == ("day", 1)
    assert rows[1314].next_charge_at is None  # "" is no date
    assert rows[1314].customer.email == "jane-doe@example.com"
    # Customer 1 has three subscriptions: one customer here, not three.
    assert rows[1313].customer == rows[1312].customer == rows[1311].customer
    assert Customer.objects.count() == 2


def test_a_coupon_is_kept_but_ignored(apply):
    delivery = apply("coupon.created", sample("coupon"))

    assert delivery.status == DeliveryStatus.IGNORED
    assert "no handler for the resource 'coupon'" in delivery.error
    assert delivery.queue == "default"


def test_a_deleted_paid_order_keeps_its_paid_charge(apply):
    parent, _renewal = sample("subscription_orders")
    apply("subscription.created", subscription_1275())
    apply("order.created", parent)
    apply("order.deleted", {"id": 1274})

    charge = Charge.objects.get(external_reference="1274")
    assert charge.status == Charge.Status.PAID  # trashing an order refunds nothing
    assert WooOrder.objects.get(woo_id=1274).deleted_upstream is True
