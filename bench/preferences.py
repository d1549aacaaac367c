"""Preferences: the values at a cut-off read from the history, and validated writes.

In a scratch database (see `bench.renewals.scratch_database`), N active
subscriptions of one organization with the coffee schema each get three
changes, written in bulk with increasing times. Then, in the same run:

- snapshot: `preferences.selectors.preferences_at_many(at=cut-off)` (what a
  batch lock reads: the last change before the cut-off, per subscription,
  from the history), against the baseline of reading the same N subscriptions'
  current values (`SubscriptionPreference.values`) in one query;
- writes: `preferences.services.preferences_update` (lock, validate, write the
  values and one change row) for W subscriptions, one transaction each,
  against the baseline of a plain `UPDATE` of the same rows' values, one
  transaction each.

N defaults to 20,000 and W to 1,000: `BENCH_PREFERENCES_N=100000 make bench`,
or this module alone: `python -m bench.preferences 100000` (under
config.embedded).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

from bench import Row
from bench.renewals import populate, scratch_database

DEFAULT_N = 20_000
WRITES = 1_000


def _schema(organization) -> None:
    from preferences.models import PreferenceChoice, PreferenceField

    grind = PreferenceField.objects.create(
        organization=organization, key="grind", label="Grind", type="choice", default="beans"
    )
    for value in ("beans", "filter", "espresso"):
        PreferenceChoice.objects.create(field=grind, value=value, label=value.title())
    PreferenceField.objects.create(
        organization=organization, key="bags", label="Bags", type="integer", min_value=1
    )


def _history(organization, subscriptions, *, start) -> None:
    """Three changes per subscription (a day apart) and the current values row."""
    from preferences.models import PreferenceChange, SubscriptionPreference

    values = [{"grind": "filter", "bags": 1}, {"grind": "espresso", "bags": 2}]
    values.append({"grind": "beans", "bags": 3})
    changes = []
    for subscription in subscriptions:
        old = {"grind": "beans"}
        for day, new in enumerate(values):
            changes.append(
                PreferenceChange(
                    organization=organization,
                    subscription=subscription,
                    old_values=old,
                    new_values=new,
                    source="system",
                    actor_kind="system",
                    changed_at=start + timedelta(days=day),
                    effective_cycle=(start + timedelta(days=day)).date(),
                    effective_cutoff_at=start + timedelta(days=day),
                )
            )
            old = new
    PreferenceChange.objects.bulk_create(changes, batch_size=5000)
    SubscriptionPreference.objects.bulk_create(
        (
            SubscriptionPreference(
                organization=organization, subscription=subscription, values=values[-1]
            )
            for subscription in subscriptions
        ),
        batch_size=5000,
    )


def measure(n: int, writes: int) -> dict:
    from django.db import transaction
    from django.utils import timezone

    from core.actors import Actor
    from preferences import selectors, services
    from preferences.models import SubscriptionPreference

    now = timezone.now()
    organization, subscriptions = populate(n, now=now)
    _schema(organization)
    start = now - timedelta(days=10)
    _history(organization, subscriptions, start=start)
    ids = [s.pk for s in subscriptions]
    cutoff = start + timedelta(days=1, hours=12)  # after the second change, before the third

    started = time.perf_counter()
    current = dict(
        SubscriptionPreference.objects.filter(
            organization=organization, subscription_id__in=ids
        ).values_list("subscription_id", "values")
    )
    baseline_read = time.perf_counter() - started
    started = time.perf_counter()
    snapshot = selectors.preferences_at_many(
        organization=organization, subscription_ids=ids, at=cutoff
    )
    snapshot_seconds = time.perf_counter() - started
    if len(current) != n or any(v["grind"] != "espresso" for v in snapshot.values()):
        raise RuntimeError("preferences bench: the snapshot is not the values at the cut-off")

    sample = subscriptions[:writes]
    started = time.perf_counter()
    for subscription in sample:
        with transaction.atomic():
            SubscriptionPreference.objects.filter(subscription=subscription).update(
                values={"grind": "filter", "bags": 4}
            )
    baseline_writes = time.perf_counter() - started
    actor = Actor.system("bench")
    started = time.perf_counter()
    for subscription in sample:
        services.preferences_update(
            subscription=subscription, values={"bags": 5}, actor=actor, source="system"
        )
    write_seconds = time.perf_counter() - started
    return {
        "n": n,
        "writes": writes,
        "baseline_read": baseline_read,
        "snapshot_seconds": snapshot_seconds,
        "baseline_writes": baseline_writes,
        "write_seconds": write_seconds,
    }


def rows(numbers: dict) -> list[Row]:
    n, writes = numbers["n"], numbers["writes"]
    return [
        Row(
            f"preferences: values at a cut-off, {n} subs",
            n / numbers["snapshot_seconds"],
            n / numbers["baseline_read"],
            "rows/s",
        ),
        Row(
            f"preferences: validated writes, {writes}",
            writes / numbers["write_seconds"],
            writes / numbers["baseline_writes"],
            "writes/s",
        ),
    ]


def run(n: int | None = None) -> list[Row]:
    n = n or int(os.environ.get("BENCH_PREFERENCES_N", DEFAULT_N))
    with scratch_database():
        numbers = measure(n, min(WRITES, n))
    print(
        f"preferences: N={n}; current values read {numbers['baseline_read']:.2f} s, "
        f"snapshot from history {numbers['snapshot_seconds']:.2f} s; "
        f"{numbers['writes']} plain updates {numbers['baseline_writes']:.2f} s, "
        f"validated writes {numbers['write_seconds']:.2f} s",
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
