"""The renewal run over N due subscriptions, against a bulk insert of N charges.

In a scratch database (created, migrated and dropped here, so neither the
development data nor a concurrent test run is touched), N native monthly
subscriptions with one item each, all due, are bulk-created in one fresh
organization using the test gateway (every charge is paid). Then, in the same
run:

- baseline: `Charge.objects.bulk_create` of N charge rows (then deleted);
- measured: `renewals.run(now=...)`, which creates the N charges set-based
  per chunk and then attempts each one in its own short transaction.

Rows: throughput of the whole run and of its charge-creation phase, against
the baseline, in rows (subscriptions) per second; and the queries per
subscription (counted with an execute wrapper), against 1 query per row.

N defaults to 10,000; change it with `BENCH_RENEWALS_N=2000 make bench`, or run
this module alone: `python -m bench.renewals 2000` (under config.embedded).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

from bench import Row

DEFAULT_N = 10_000


class QueryCounter:
    """A `connection.execute_wrapper` that counts statements (savepoints included)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def scratch_database() -> Iterator[None]:
    """A migrated database of its own for the benchmark, dropped afterwards."""
    from django.db import connection

    connection.settings_dict.setdefault("TEST", {})
    old_name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"]["NAME"] = (
        f"bench_{old_name}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    )
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def populate(n: int, *, now):
    """One organization (test gateway) and `n` due monthly subscriptions, one item each.

    Each subscription is active with cycle 0 paid (no charge row needed) and
    cycle 1 due within the last hour. Returns (organization, subscriptions).
    """
    from crm.models import Customer, Organization, Product
    from subscriptions import schedule
    from subscriptions.models import BillingSettings, Subscription, SubscriptionItem

    organization = Organization.objects.create(
        name="Bench renewals",
        slug=f"bench-renewals-{uuid.uuid4().hex[:12]}",
        timezone="Europe/Paris",
    )
    BillingSettings.objects.create(organization=organization, gateway=BillingSettings.Gateway.TEST)
    product = Product.objects.create(
        organization=organization, sku="BENCH-1", name="Bench coffee", unit_price=Decimal("12.50")
    )
    customers = Customer.objects.bulk_create(
        Customer(organization=organization, email=f"bench{i}@example.com") for i in range(n)
    )
    subscriptions = []
    for i, customer in enumerate(customers):
        # Anchored a month before a time in the last hour: cycle 1 is due.
        anchor = schedule.cycle_start(
            anchor=now - timedelta(seconds=1 + i % 3600),
            period="month",
            interval=1,
            cycle=-1,
            tz=organization.timezone,
        )
        subscription = Subscription(
            organization=organization,
            customer=customer,
            status=Subscription.Status.ACTIVE,
            billing_period="month",
            billing_anchor=anchor,
            started_at=anchor,
            currency="EUR",
            current_cycle=0,
            current_period_start=anchor,
            next_cycle=1,
        )
        subscription.current_period_end = subscription.next_charge_at = subscription.cycle_start(1)
        subscriptions.append(subscription)
    Subscription.objects.bulk_create(subscriptions, batch_size=2000)
    SubscriptionItem.objects.bulk_create(
        (
            SubscriptionItem(
                organization=organization,
                subscription=subscription,
                product=product,
                quantity=1,
                unit_price=product.unit_price,
            )
            for subscription in subscriptions
        ),
        batch_size=2000,
    )
    return organization, subscriptions


def measure(n: int) -> dict:
    """Populate, time the baseline and the run; return the numbers (nothing is kept)."""
    from django.db import connection
    from django.utils import timezone

    from subscriptions import renewals
    from subscriptions.models import Charge

    now = timezone.now()
    organization, subscriptions = populate(n, now=now)

    # Baseline: the same N charge rows, inserted in one bulk_create (and committed).
    bounds = [s.cycle_bounds(1) for s in subscriptions]
    started = time.perf_counter()
    Charge.objects.bulk_create(
        Charge(
            organization_id=organization.pk,
            subscription_id=subscription.pk,
            cycle=1,
            period_start=start,
            period_end=end,
            amount=Decimal("12.50"),
            currency="EUR",
        )
        for subscription, (start, end) in zip(subscriptions, bounds, strict=True)
    )
    baseline_seconds = time.perf_counter() - started
    Charge.objects.filter(organization=organization).delete()

    # The renewal run, with its charge-creation phase timed on the side.
    phase = {}
    create_due_charges = renewals.create_due_charges

    def timed_create_due_charges(**kwargs):
        phase_started = time.perf_counter()
        phase["queries_before"] = counter.count
        try:
            return create_due_charges(**kwargs)
        finally:
            phase["seconds"] = time.perf_counter() - phase_started
            phase["queries"] = counter.count - phase["queries_before"]

    counter = QueryCounter()
    renewals.create_due_charges = timed_create_due_charges
    try:
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            report = renewals.run(now=now)
            run_seconds = time.perf_counter() - started
    finally:
        renewals.create_due_charges = create_due_charges

    paid = Charge.objects.filter(organization=organization, status=Charge.Status.PAID).count()
    if report.errors or report.charges_created != n or report.paid != n or paid != n:
        raise RuntimeError(
            f"renewal bench: expected {n} charges paid, got created={report.charges_created} "
            f"paid={report.paid} (in the database: {paid}), errors={report.errors[:3]}"
        )
    return {
        "n": n,
        "baseline_seconds": baseline_seconds,
        "run_seconds": run_seconds,
        "create_seconds": phase["seconds"],
        "queries": counter.count,
        "create_queries": phase["queries"],
    }


def rows(numbers: dict) -> list[Row]:
    n = numbers["n"]
    baseline_rate = n / numbers["baseline_seconds"]
    return [
        Row(
            f"renewals: run() over {n} due subscriptions",
            n / numbers["run_seconds"],
            baseline_rate,
            "rows/s",
        ),
        Row(
            "renewals: of which creating the charges",
            n / numbers["create_seconds"],
            baseline_rate,
            "rows/s",
        ),
        Row(
            "renewals: queries per subscription",
            numbers["queries"] / n,
            1.0,
            "queries",
            higher_is_better=False,
        ),
    ]


def run(n: int | None = None) -> list[Row]:
    n = n or int(os.environ.get("BENCH_RENEWALS_N", DEFAULT_N))
    with scratch_database():
        numbers = measure(n)
    print(
        f"renewals: N={n}; baseline bulk_create {numbers['baseline_seconds']:.2f} s; "
        f"run {numbers['run_seconds']:.2f} s (creating charges "
        f"{numbers['create_seconds']:.2f} s in {numbers['create_queries']} queries); "
        f"{numbers['queries']} queries in all, {numbers['queries'] / n:.2f} per subscription",
        file=sys.stderr,
    )
    return rows(numbers)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else None):
        numbers = f"{row.value:>12.1f} {row.baseline:>12.1f} {row.unit:<10} {row.ratio:>7.2f}"
        print(f"{row.name:<48} {numbers}")
