"""A seeded WooCommerce shop history for the fault-injection scenario, and its faulty delivery.

Pure: builds payloads from the verbatim samples in `fixtures/` (ids, dates,
statuses, line items and modification times varied) and returns them in the
order the shop made them; `faulty` then mixes in duplicates, reorderings and
replays as WooCommerce and the network do. No database, no Django.
"""

from __future__ import annotations

import copy
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tests.helpers import gmt
from tests.woocommerce.conftest import compact, sample

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PERIODS = {"week": timedelta(weeks=1), "month": timedelta(days=30)}
CATALOG = [  # (product id, name, price)
    (1027, "Weekly", "7.91"),
    (1028, "Sencha box", "12.50"),
    (1029, "Oolong box", "14.00"),
    (1030, "Rooibos box", "9.90"),
    (1031, "Matcha tin", "19.00"),
    (1032, "Tasting set", "24.00"),
]
# Variable products: (product id, name, SKU, [(variation id, option, price, weight kg)])
VARIABLE = [
    (
        1040,
        "Espresso blend",
        "ESP",
        [(1041, "250 g", "8.50", "0.25"), (1042, "1 kg", "29.00", "1")],
    ),
    (1043, "Filter blend", "FIL", [(1044, "250 g", "7.90", "0.25"), (1045, "1 kg", "26.00", "1")]),
]
VARIATIONS = [v for _id, _name, _sku, variations in VARIABLE for v in variations]
# What a line can sell: (product id, line name, price, variation id, SKU, option)
SELLABLE = [(product_id, name, price, 0, "", "") for product_id, name, price in CATALOG] + [
    (
        product_id,
        f"{name} - {option}",
        price,
        variation_id,
        f"{sku}-{option}".replace(" ", ""),
        option,
    )
    for product_id, name, sku, variations in VARIABLE
    for variation_id, option, price, _weight in variations
]
SIBLING = {"created": "updated", "updated": "created"}


@dataclass(frozen=True)
class Delivery:
    """One webhook as the shop sends it: its topic and its exact body."""

    topic: str
    body: bytes
    entity: tuple[str, int]  # (resource, WooCommerce id): deliveries reorder within one

    def sibling(self) -> Delivery:
        """The same body under the other topic (WooCommerce fires `created` and `updated`
        for one save): the receiver stores it, the worker must apply it harmlessly."""
        resource, _, event = self.topic.partition(".")
        return Delivery(f"{resource}.{SIBLING.get(event, event)}", self.body, self.entity)


def _line(line_id: int, product: tuple, quantity: int) -> dict:
    """A line of a simple product, or of a variation (its SKU, its parent's name, its
    attribute in `meta_data`, as WooCommerce writes them)."""
    product_id, name, price, variation_id, sku, option = product
    line = copy.deepcopy(sample("subscription")["line_items"][0])
    total = f"{float(price) * quantity:.2f}"
    line.update(
        id=line_id,
        name=name,
        product_id=product_id,
        variation_id=variation_id,
        quantity=quantity,
        subtotal=total,
        total=total,
        price=float(price),
        sku=sku,
    )
    if variation_id:
        line["parent_name"] = name.split(" - ")[0]
        line["meta_data"] = [
            {
                "id": line_id,
                "key": "pa_weight",
                "value": option.replace(" ", "").lower(),
                "display_key": "Weight",
                "display_value": option,
            }
        ]
    return line


class _Shop:
    """Builds the shop's events: (when, topic, payload), in any order; sorted at the end."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.events: list[tuple[datetime, int, str, dict]] = []
        self.order_ids = iter(range(50_000, 10**6))
        self.line_ids = iter(range(90_000, 10**6))

    def emit(self, at: datetime, topic: str, payload: dict) -> None:
        self.events.append((at, len(self.events), topic, copy.deepcopy(payload)))

    def products(self) -> None:
        for n, (product_id, name, price) in enumerate(CATALOG):
            payload = sample("product")
            at = T0 - timedelta(days=30, minutes=n)
            payload.update(
                id=product_id,
                name=name,
                sku="",
                price=price,
                regular_price=price,
                date_created_gmt=gmt(at),
                date_modified_gmt=gmt(at),
            )
            self.emit(at, "product.created", payload)
        for n, (product_id, name, sku, variations) in enumerate(VARIABLE):
            at = T0 - timedelta(days=20, minutes=n)
            parent = sample("product")
            parent.update(
                id=product_id,
                name=name,
                type="variable",
                sku=sku,
                price=variations[0][2],
                regular_price=variations[0][2],
                variations=[],
                date_created_gmt=gmt(at),
                date_modified_gmt=gmt(at),
            )
            self.emit(at, "product.created", parent)
            for k, (variation_id, option, price, weight) in enumerate(variations):
                created = at + timedelta(minutes=1 + k)
                body = sample("product_variation")
                body.update(
                    id=variation_id,
                    type="variation",
                    parent_id=product_id,
                    name="AUTO-DRAFT",  # a new variation's first body (#29376)
                    sku="",
                    price="",
                    regular_price="",
                    sale_price="",
                    weight="",
                    attributes=[],
                    menu_order=k,
                    date_created_gmt=gmt(created),
                    date_modified_gmt=gmt(created),
                )
                self.emit(created, "product.created", body)
                saved = created + timedelta(seconds=30)
                body = dict(
                    body,
                    name=f"{name} - {option}",
                    sku=f"{sku}-{option}".replace(" ", ""),
                    price=price,
                    regular_price=price,
                    weight=weight,
                    attributes=[{"id": 1, "name": "Weight", "option": option}],
                    date_modified_gmt=gmt(saved),
                )
                self.emit(saved, "product.updated", body)
            saved = at + timedelta(minutes=10)
            parent = dict(
                parent, variations=[v[0] for v in variations], date_modified_gmt=gmt(saved)
            )
            self.emit(saved, "product.updated", parent)

    def customer(self, woo_id: int, n: int, at: datetime) -> dict:
        payload = sample("customer")
        billing = {
            **payload["billing"],
            "first_name": f"First{n}",
            "last_name": f"Last{n}",
            "email": f"subscriber{n}@example.com",
            "phone": f"+3361000{n:04d}",
        }
        payload.update(
            id=woo_id,
            email=billing["email"],
            first_name=billing["first_name"],
            last_name=billing["last_name"],
            username=f"subscriber{n}",
            billing=billing,
            shipping={**payload["shipping"], "first_name": f"First{n}", "last_name": f"Last{n}"},
            date_created_gmt=gmt(at),
            date_modified_gmt=gmt(at),
        )
        self.emit(at, "customer.created", payload)
        if self.rng.random() < 0.5:
            return payload
        # Later the customer changes phone number in their account.
        moved = at + timedelta(days=self.rng.randint(3, 40), seconds=n)
        changed = dict(payload, date_modified_gmt=gmt(moved))
        changed["billing"] = {**billing, "phone": f"+3362000{n:04d}"}
        self.emit(moved, "customer.updated", changed)
        return payload

    def order(self, order_id, sub, at, status, modified, renewal_of=None) -> dict:
        payload = sample("order")
        payload.update(
            id=order_id,
            number=str(order_id),
            parent_id=0,
            customer_id=sub["customer_id"],
            billing=sub["billing"],
            status=status,
            total=sub["total"],
            currency=sub["currency"],
            line_items=sub["line_items"],
            date_created_gmt=gmt(at),
            date_modified_gmt=gmt(modified),
            date_paid_gmt=gmt(modified) if status in ("processing", "completed") else None,
            meta_data=[{"id": 1, "key": "_subscription_renewal", "value": str(renewal_of)}]
            if renewal_of
            else [],
        )
        self.emit(modified, f"order.{'created' if status == 'pending' else 'updated'}", payload)
        return payload

    def subscription(
        self, sub_id: int, n: int, customer: dict, start: datetime, parent: int | None = None
    ) -> list[dict]:
        """One subscription's history; its first lines. `parent`: the initial order of a
        checkout that started several (`checkout` sends it), else its own is sent here."""
        rng = self.rng
        period = rng.choice(["week", "week", "month"])
        step = PERIODS[period]
        if rng.random() < 0.25:  # two sizes of one coffee: 1 x 250 g and 2 x 1 kg
            name = rng.choice(VARIABLE)[1]
            small, large = (s for s in SELLABLE if s[1].startswith(f"{name} - "))
            items = [_line(next(self.line_ids), small, 1), _line(next(self.line_ids), large, 2)]
        else:
            items = [_line(next(self.line_ids), rng.choice(SELLABLE), rng.randint(1, 3))]
        sub = sample("subscription")
        sub.update(
            id=sub_id,
            parent_id=parent or next(self.order_ids),
            number=str(sub_id),
            customer_id=customer["id"],
            billing=customer["billing"],
            shipping=customer["shipping"],
            billing_period=period,
            billing_interval="1",
            start_date_gmt=gmt(start),
            date_created_gmt=gmt(start),
            trial_end_date_gmt="",
            end_date_gmt="",
            cancelled_date_gmt="",
        )
        tick = iter(range(1, 10**6))  # every version of this subscription a second later

        def version(at: datetime, status: str, next_payment: datetime | None) -> None:
            modified = at + timedelta(seconds=next(tick))
            sub["line_items"] = items
            sub["total"] = f"{sum(float(line['total']) for line in items):.2f}"
            sub.update(status=status, date_modified_gmt=gmt(modified))
            sub["next_payment_date_gmt"] = gmt(next_payment) if next_payment else ""
            topic = "subscription.created" if status == "pending" else "subscription.updated"
            self.emit(modified, topic, sub)

        version(start, "pending", None)
        first_lines = copy.deepcopy(items)
        paid = start + timedelta(minutes=2)
        if parent is None:
            parent = sub["parent_id"]
            self.order(parent, sub, start, "pending", start)
            self.order(parent, sub, start, rng.choice(["processing", "completed"]), paid)
        version(paid, "active", start + step)

        cycles = rng.choice([0, 1, 1, 2])
        for cycle in range(1, cycles + 1):
            due = start + cycle * step
            if rng.random() < 0.3:  # switched: the items change mid-cycle
                switch_at = due - step / 2
                items = [
                    _line(next(self.line_ids), product, rng.randint(1, 3))
                    for product in rng.sample(SELLABLE, k=rng.randint(1, 2))
                ]
                version(switch_at, "active", due)
            renewal = next(self.order_ids)
            self.order(renewal, sub, due, "pending", due, renewal_of=sub_id)
            settled = due + timedelta(hours=rng.randint(1, 20))
            if rng.random() < 0.6:  # paid automatically: it stays active, next payment moves
                paid = rng.choice(["completed", "processing"])
                self.order(renewal, sub, due, paid, settled, renewal_of=sub_id)
                version(settled, "active", due + step)
                continue
            version(due, "on-hold", due + step)  # awaiting a manual or retried payment
            outcome = rng.choice(["completed", "processing", "failed"])
            self.order(renewal, sub, due, outcome, settled, renewal_of=sub_id)
            if outcome == "failed":
                if rng.random() < 0.5:  # paid on the second try
                    retried = settled + timedelta(days=1)
                    self.order(renewal, sub, due, "completed", retried, renewal_of=sub_id)
                    version(retried, "active", due + step)
            else:
                version(settled, "active", due + step)
        end = start + cycles * step + timedelta(days=2)
        final = rng.choice(["active", "active", "on-hold", "pending-cancel", "cancelled"])
        if final == "on-hold":  # put on hold by the customer (paused)
            version(end, "on-hold", None)
        elif final == "pending-cancel":
            version(end, "pending-cancel", end + step)
        elif final == "cancelled":
            version(end, "pending-cancel", end + step)
            sub["cancelled_date_gmt"] = gmt(end + step)
            sub["end_date_gmt"] = gmt(end + step)
            version(end + step, "cancelled", None)
        return first_lines

    def checkout(self, sub_ids: list[int], n: int, customer: dict, start: datetime) -> None:
        """One cart, several schedules: a subscription each, all started by one initial
        order, which pays the first cycle of every one of them."""
        parent = next(self.order_ids)
        lines = [
            line
            for sub_id in sub_ids
            for line in self.subscription(sub_id, n, customer, start, parent=parent)
        ]
        cart = {
            "customer_id": customer["id"],
            "billing": customer["billing"],
            "currency": sample("subscription")["currency"],
            "line_items": lines,
            "total": f"{sum(float(line['total']) for line in lines):.2f}",
        }
        self.order(parent, cart, start, "pending", start)
        paid = start + timedelta(minutes=2)
        self.order(parent, cart, start, self.rng.choice(["processing", "completed"]), paid)


def history(*, subscriptions: int = 200, seed: int = 11) -> list[Delivery]:
    """The shop's deliveries in the order it made them (each sent once, no faults).

    `subscriptions` checkouts: about one in seven starts two subscriptions sharing one
    initial order."""
    shop = _Shop(random.Random(seed))
    shop.products()
    customers: list[dict] = []
    for n in range(subscriptions):
        start = T0 + timedelta(minutes=37 * n)
        if customers and shop.rng.random() < 0.2:  # a second subscription of a customer
            customer = shop.rng.choice(customers)
        else:
            number = len(customers)
            customer = shop.customer(3000 + number, number, start - timedelta(hours=1))
            customers.append(customer)
        if shop.rng.random() < 0.15:  # one checkout, two schedules: two subscriptions
            shop.checkout([10_000 + 10 * n, 10_005 + 10 * n], n, customer, start)
        else:
            shop.subscription(10_000 + 10 * n, n, customer, start)
    shop.events.sort(key=lambda e: (e[0], e[1]))
    return [
        Delivery(topic, compact(payload), (topic.partition(".")[0], payload["id"]))
        for _at, _n, topic, payload in shop.events
    ]


def faulty(
    deliveries: list[Delivery],
    *,
    seed: int = 11,
    duplicates: float = 0.30,
    reordered: float = 0.10,
    replays: float = 0.05,
) -> list[Delivery]:
    """The same history as the network delivers it.

    - `reordered`: that share of deliveries swapped with the next delivery about
      the same entity (so a newer version arrives before an older one);
    - `duplicates`: that share sent again soon after (half with the same topic,
      which the receiver recognizes, half under the sibling topic, which it stores);
    - `replays`: that share of old deliveries sent again much later.
    """
    rng = random.Random(seed)
    sequence = list(deliveries)
    positions: dict[tuple[str, int], list[int]] = {}
    for index, delivery in enumerate(sequence):
        positions.setdefault(delivery.entity, []).append(index)
    for indexes in positions.values():
        for a, b in itertools.pairwise(indexes):
            if rng.random() < reordered:
                sequence[a], sequence[b] = sequence[b], sequence[a]

    extra: list[tuple[float, int, Delivery]] = []  # (position, tie-break, delivery)
    for index, delivery in enumerate(sequence):
        if rng.random() < duplicates:
            copy_ = delivery if rng.random() < 0.5 else delivery.sibling()
            extra.append((index + rng.uniform(0.5, 20), len(extra), copy_))
        if rng.random() < replays:
            copy_ = delivery if rng.random() < 0.5 else delivery.sibling()
            extra.append((index + rng.uniform(200, 1000), len(extra), copy_))
    merged = [(float(index), -1, delivery) for index, delivery in enumerate(sequence)]
    merged.extend(extra)
    merged.sort(key=lambda e: (e[0], e[1]))
    return [delivery for _position, _n, delivery in merged]
