"""A mirrored subscription's dates are the shop's, to the second, summer and winter.

WooCommerce Subscriptions counts in GMT timestamps: a weekly renewal is 7 x 24
hours after the previous one, whatever the shop's or the organization's clock
does. The organization here is in Paris, which changes its clocks on October
25th, 2026; the shop's dates do not move.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.woocommerce.conftest import sample
from tests.woocommerce.test_handlers import mapped, utc

pytestmark = pytest.mark.django_db
SUB, PARENT = 4100, 4101
START = utc("2026-07-01T08:30:17")  # a Wednesday, 10:30:17 in Paris (summer time)
WEEK = timedelta(weeks=1)
WEEKS = 21  # renewals into November: the clocks change after the 16th
CLOCK_CHANGE = utc("2026-10-25T01:00:00")  # 03:00 summer time in Paris becomes 02:00


def gmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S")


def shop_subscription(status: str, next_payment: datetime | None, modified: datetime) -> dict:
    payload = sample("subscription")
    payload.update(
        id=SUB,
        parent_id=PARENT,
        status=status,
        start_date_gmt=gmt(START),
        date_created_gmt=gmt(START),
        next_payment_date_gmt=gmt(next_payment) if next_payment else "",
        date_modified_gmt=gmt(modified),
    )
    return payload


def shop_order(woo_id: int, created: datetime, paid: datetime | None, renewal: bool) -> dict:
    payload = sample("order")
    payload.update(
        id=woo_id,
        number=str(woo_id),
        customer_id=sample("subscription")["customer_id"],
        billing=sample("subscription")["billing"],
        status="completed" if paid else "pending",
        total="12.00",
        date_created_gmt=gmt(created),
        date_modified_gmt=gmt(paid or created),
        date_paid_gmt=gmt(paid) if paid else None,
        meta_data=[{"id": 1, "key": "_subscription_renewal", "value": str(SUB)}] if renewal else [],
    )
    return payload


def history(*, late: timedelta = timedelta(0)) -> tuple[list[tuple[str, dict]], list[datetime]]:
    """The shop's webhooks week by week, and its payment dates (cycle 0 first).

    As WooCommerce Subscriptions does: at the next payment date the subscription goes
    on hold and a renewal order is made; once it is paid, the next payment is one week
    after the later of the order's creation and payment (`late` after the due date, when
    the shop's scheduler ran late), in GMT.
    """
    due = [START]
    events = [
        ("subscription.created", shop_subscription("pending", None, START)),
        ("order.created", shop_order(PARENT, START, START + timedelta(seconds=40), False)),
    ]
    next_payment = START + WEEK
    events.append(("subscription.updated", shop_subscription("active", next_payment, START)))
    for week in range(1, WEEKS + 1):
        due.append(next_payment)
        made = next_payment + late
        order_id = PARENT + week
        events.append(("subscription.updated", shop_subscription("on-hold", next_payment, made)))
        events.append(("order.created", shop_order(order_id, made, None, True)))
        paid = made + timedelta(seconds=3)
        events.append(("order.updated", shop_order(order_id, made, paid, True)))
        next_payment = paid + WEEK if late else next_payment + WEEK
        events.append(("subscription.updated", shop_subscription("active", next_payment, paid)))
    due.append(next_payment)
    return events, due


def periods(subscription) -> list[tuple[int, datetime, datetime]]:
    return list(
        subscription.charges.order_by("cycle").values_list("cycle", "period_start", "period_end")
    )


def test_a_weekly_subscription_keeps_the_shops_gmt_dates_across_the_october_clock_change(apply):
    events, due = history()
    assert due[16] < CLOCK_CHANGE < due[17]  # October 21st and 28th

    for topic, payload in events:
        apply(topic, payload)
        if topic == "order.updated":
            # Before the shop says when it next charges, the paid period ends a week later in
            # GMT, the shop's own arithmetic (not the organization's wall clock).
            subscription = mapped("subscription", SUB)
            cycle = subscription.current_cycle
            assert subscription.current_period_end == due[cycle + 1], cycle

    subscription = mapped("subscription", SUB)
    expected = [(n, due[n], due[n + 1]) for n in range(WEEKS + 1)]
    assert periods(subscription) == expected  # every charge, to the second
    assert [subscription.cycle_bounds(n) for n in range(WEEKS + 1)] == [e[1:] for e in expected]
    assert subscription.next_charge_at == due[WEEKS + 1]
    assert (subscription.current_cycle, subscription.next_cycle) == (WEEKS, WEEKS + 1)
    # 10:30:17 in Paris in summer, 09:30:17 in winter: the same GMT time all along
    assert {start.time() for _n, start, _end in expected} == {START.time()}


def test_a_shop_imported_at_once_orders_first_gets_the_shops_dates(apply):
    events, due = history()
    # As reconciliation reads a shop: the orders, then each subscription as it is now
    orders = {p["id"]: p for t, p in events if t.startswith("order.")}
    for payload in orders.values():
        apply("order.updated", payload)
    apply("subscription.updated", events[-1][1])

    subscription = mapped("subscription", SUB)
    assert periods(subscription) == [(n, due[n], due[n + 1]) for n in range(WEEKS + 1)]
    assert subscription.next_charge_at == due[WEEKS + 1]


def test_when_the_shop_renews_late_its_later_dates_are_followed_to_the_second(apply):
    # The shop's scheduler ran 2 minutes late each week: WooCommerce Subscriptions counts the
    # next payment from the renewal's payment, so its dates drift, and the CRM's with them.
    events, due = history(late=timedelta(minutes=2))
    for topic, payload in events:
        apply(topic, payload)

    subscription = mapped("subscription", SUB)
    assert due[WEEKS] - due[1] > timedelta(weeks=WEEKS - 1, minutes=30)
    assert periods(subscription) == [(n, due[n], due[n + 1]) for n in range(WEEKS + 1)]
    assert subscription.next_charge_at == due[WEEKS + 1]
    assert subscription.next_cycle == WEEKS + 1
