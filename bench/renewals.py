"""The renewal run over N due subscriptions, against a bulk insert of their N charges.

In a scratch database (created, migrated and dropped here, so neither the
development data nor a concurrent test run is touched), N native monthly
subscriptions with one item each, all due, are bulk-created in one fresh
organization using the test gateway (every charge is paid). Then, in the same
run:

- baseline: `Charge.objects.bulk_create` of the N charge rows (then deleted);
- measured: `renewals.run(now=...)`, which creates the N charges set-based
  per chunk and then attempts each one in its own short transaction.

The attempts are bounded in time (`BENCH_RENEWALS_SECONDS`, default 60): past
it the run is stopped between two charges, and the rate is that of the whole
run extrapolated from the charges attempted (creation + end-and-resume time +
attempt time x N / attempted), said on stderr. Every charge attempted must be
paid, and every one created.

Rows: subscriptions renewed per second against the rows per second of the
bulk insert (no target of its own: the issue's target compares it with the
rate of events applied, a row bench/__main__.py derives); the charge-creation
phase alone; and the queries per subscription. With `BENCH_PROFILE` (default
on), a cProfile of 300 more attempts goes to stderr.

N defaults to 100,000; change it with `BENCH_RENEWALS_N=2000 make bench`, or run
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

DEFAULT_N = 100_000
DEFAULT_SECONDS = 60
PROFILED_ATTEMPTS = 300


class _TimeUp(Exception):
    """Raised between two attempts once the time bound has passed."""


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
        (Customer(organization=organization, email=f"bench{i}@example.com") for i in range(n)),
        batch_size=5000,
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


def profile(function, calls: list, top: int = 25) -> str:
    """cProfile of `function(*args, **kwargs)` over `calls`: the top entries, cumulative time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for args, kwargs in calls:
        function(*args, **kwargs)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def measure(n: int, seconds: float, profiled: bool) -> dict:
    """Populate, time the baseline and the run; return the numbers (nothing is kept)."""
    from django.db import connection
    from django.db.models import Q
    from django.utils import timezone

    from core.actors import Actor
    from subscriptions import renewals
    from subscriptions.models import BillingSettings, Charge

    now = timezone.now()
    started = time.perf_counter()
    organization, subscriptions = populate(n, now=now)
    populate_seconds = time.perf_counter() - started

    # Baseline: the same N charge rows, inserted in one bulk_create (and committed).
    bounds = [s.cycle_bounds(1) for s in subscriptions]
    charges = [
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
    ]
    started = time.perf_counter()
    Charge.objects.bulk_create(charges)
    baseline_seconds = time.perf_counter() - started
    Charge.objects.filter(organization=organization).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Charge._meta.db_table}")

    # The renewal run, its charge-creation and attempt phases timed on the side.
    phase: dict = {"attempted": 0}
    create_due_charges, attempt = renewals.create_due_charges, renewals._attempt
    deadline = None

    def timed_create_due_charges(**kwargs):
        nonlocal deadline
        phase_started = time.perf_counter()
        queries_before = counter.count
        try:
            return create_due_charges(**kwargs)
        finally:
            phase["create_seconds"] = time.perf_counter() - phase_started
            phase["create_queries"] = counter.count - queries_before
            phase["attempts_started"] = time.perf_counter()
            deadline = phase["attempts_started"] + seconds

    def bounded_attempt(*args, **kwargs):
        if time.perf_counter() > deadline:
            raise _TimeUp
        attempt(*args, **kwargs)
        phase["attempted"] += 1

    counter = QueryCounter()
    renewals.create_due_charges, renewals._attempt = timed_create_due_charges, bounded_attempt
    complete = True
    try:
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            try:
                report = renewals.run(now=now)
            except _TimeUp:
                complete, report = False, None
            ended = time.perf_counter()
    finally:
        renewals.create_due_charges, renewals._attempt = create_due_charges, attempt
    attempted = phase["attempted"]
    attempt_seconds = ended - phase["attempts_started"]
    other_seconds = ended - started - attempt_seconds  # end-and-resume, creation

    created = Charge.objects.filter(organization=organization).count()
    paid = Charge.objects.filter(organization=organization, status=Charge.Status.PAID).count()
    if created != n or paid != attempted or (complete and (report.errors or paid != n)):
        raise RuntimeError(
            f"renewal bench: {n} due, {created} charges created, {attempted} attempted, "
            f"{paid} paid in the database, errors={report.errors[:3] if report else None}"
        )
    profile_text = ""
    if profiled and not complete:
        ready = Q(status=Charge.Status.SCHEDULED)
        gateways = dict(BillingSettings.objects.values_list("organization_id", "gateway"))
        pks = Charge.objects.filter(ready).order_by("pk").values_list("pk", flat=True)
        kwargs = {
            "now": now,
            "actor": Actor.system("renewals"),
            "report": renewals.RenewalReport(),
            "ready": ready,
            "gateways": gateways,
        }
        calls = [((pk,), kwargs) for pk in pks[:PROFILED_ATTEMPTS]]
        profile_text = profile(renewals._attempt, calls)
    return {
        "n": n,
        "complete": complete,
        "attempted": attempted,
        "populate_seconds": populate_seconds,
        "baseline_seconds": baseline_seconds,
        "measured_seconds": ended - started,
        # The whole run, extrapolated from the attempts made when it was stopped.
        "run_seconds": other_seconds + attempt_seconds * n / max(attempted, 1),
        "create_seconds": phase["create_seconds"],
        "attempt_seconds": attempt_seconds,
        # Per subscription: the creation's queries spread over N, the attempts' over those made.
        "queries_per_subscription": (
            phase["create_queries"] / n
            + (counter.count - phase["create_queries"]) / max(attempted, 1)
        ),
        "create_queries": phase["create_queries"],
        "profile": profile_text,
    }


def rows(numbers: dict) -> list[Row]:
    n = numbers["n"]
    baseline_rate = n / numbers["baseline_seconds"]
    return [
        Row(
            f"renewals: run() over {n:,} due subscriptions",
            n / numbers["run_seconds"],
            baseline_rate,
            "rows/s",
            key="renewals.rate",
        ),
        Row(
            "renewals: of which creating the charges",
            n / numbers["create_seconds"],
            baseline_rate,
            "rows/s",
        ),
        Row(
            "renewals: queries per subscription",
            numbers["queries_per_subscription"],
            1.0,
            "queries",
            higher_is_better=False,
        ),
    ]


def run(n: int | None = None) -> list[Row]:
    n = n or int(os.environ.get("BENCH_RENEWALS_N", DEFAULT_N))
    seconds = float(os.environ.get("BENCH_RENEWALS_SECONDS", DEFAULT_SECONDS))
    profiled = os.environ.get("BENCH_PROFILE", "1") not in ("", "0")
    with scratch_database():
        numbers = measure(n, seconds, profiled)
    attempts = (
        f"all {n} attempted in {numbers['attempt_seconds']:.1f} s"
        if numbers["complete"]
        else f"stopped after {numbers['attempt_seconds']:.1f} s with {numbers['attempted']} of "
        f"{n} attempted: the whole run extrapolated to {numbers['run_seconds']:.1f} s"
    )
    print(
        f"renewals: N={n} (populated in {numbers['populate_seconds']:.1f} s); baseline "
        f"bulk_create {numbers['baseline_seconds']:.2f} s; run measured "
        f"{numbers['measured_seconds']:.1f} s: creating charges {numbers['create_seconds']:.2f} s "
        f"in {numbers['create_queries']} queries, attempts {attempts}; "
        f"{numbers['queries_per_subscription']:.2f} queries per subscription",
        file=sys.stderr,
    )
    if numbers["profile"]:
        print(
            f"renewals: profile of {PROFILED_ATTEMPTS} more attempts (cumulative time):",
            file=sys.stderr,
        )
        print(numbers["profile"], file=sys.stderr)
    return rows(numbers)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else None):
        numbers = f"{row.value:>12.1f} {row.baseline:>12.1f} {row.unit:<10} {row.ratio:>7.2f}"
        print(f"{row.name:<48} {numbers}")
