"""Locking a batch of N boxes at its cut-off, against a raw bulk insert of the same lines.

In a scratch database (see `bench.renewals.scratch_database`), one organization
(Europe/Paris, the default Wednesday-noon cut-off, a coffee schema of three
choice fields, a yes/no and a number) gets N active weekly subscriptions, one
customer and one shipping address each, one or two coffees each. Every one
has a billing cycle starting in the open batch's week: 90% with a paid charge,
5% with a pending one, 5% not charged yet (their lines wait for payment). 80%
chose their preferences before the week (a third of them changed them again
during it). The lock runs a minute late, and in that minute a few customers
changed their preferences (5%), their items (2%) or their address (2%): none
of that may reach the snapshots. Everything is written set-based
(`INSERT ... SELECT` over `generate_series`), so populating stays short.

Then, in the same run:

- measured: `fulfillment.services.lock_due_batches(now=cut-off + 1 min)`,
  what beat runs: it reads the due cycles and each box's content as it stood
  at the cut-off, writes the N lines (a `COPY` into a temporary table, then
  one `INSERT ... SELECT`), refreshes their
  payment status and opens the next batch. Wall time and query count (an
  execute wrapper), with the time of its phases on stderr;
- baseline: the lines the lock wrote, read back, deleted (then `VACUUM`) and
  written again, identical (ids included; checked by a checksum), into the
  same table with one `COPY`: the most direct bulk insert of the same data,
  with the same indexes, constraints and foreign keys to check.

Row: seconds to lock against seconds to insert, the ratio lock/baseline (the
issue's target: at most 3); and the number of queries, which does not depend
on N (the lock's `COPY` of its boxes into a temporary table is not among them:
Django's execute wrapper does not see it).

N defaults to 100,000: `BENCH_BATCH_LOCK_N=20000 make bench`, or this module
alone, under the embedded services:

    DJANGO_SETTINGS_MODULE=config.settings.test \\
        .venv/bin/python -m config.embedded -- .venv/bin/python -m bench.batch_lock --n 100000
"""

# Set-based SQL: only table and column names from _meta and constant fragments are interpolated.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from bench import Row
from bench.renewals import QueryCounter, scratch_database

DEFAULT_N = 100_000
TARGET_RATIO = 3.0
TIMEZONE = "Europe/Paris"
#: The lock's steps timed on the side: the due cycles, their content at the cut-off, the
#: write, the payment status.
PHASES = ("due_cycles", "boxes_at", "insert_lines", "lines_payment_refresh")


def _table(model) -> str:
    return model._meta.db_table


def _insert_select(model, columns: dict[str, str], source: str, params: dict) -> int:
    """`INSERT INTO <model's table> SELECT ... <source>`, one statement.

    `columns` maps a column to its SQL expression over `source` (a FROM clause
    with named `%(...)s` parameters). Every other column takes the field's
    default as the model would save it (now for `auto_now` ones, NULL for a
    nullable one without a default): a column added to a model later does not
    break the benchmark.
    """
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    names, expressions, params = [], [], dict(params)
    for model_field in model._meta.concrete_fields:
        column = model_field.column
        if column in columns:
            names.append(column)
            expressions.append(columns[column])
            continue
        if model_field.primary_key:
            continue
        if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            value = now
        elif model_field.null and not model_field.has_default():
            continue
        else:  # what the model would save: its default, or "" for a text field
            value = model_field.get_default()
        names.append(column)
        expressions.append(f"%(default_{column})s::{model_field.db_type(connection)}")
        params[f"default_{column}"] = model_field.get_db_prep_save(value, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(model)} ({', '.join(names)}) "
            f"SELECT {', '.join(expressions)} {source}",
            params,
        )
        return cursor.rowcount


def _schema(organization) -> None:
    """The roaster's preferences: grind, roast, origin (choices), decaf (yes/no), grams."""
    from preferences.models import PreferenceChoice, PreferenceField

    def field(key, type_, position, choices=(), **extra):
        row = PreferenceField.objects.create(
            organization=organization,
            key=key,
            label=key.title(),
            type=type_,
            position=position,
            **extra,
        )
        PreferenceChoice.objects.bulk_create(
            PreferenceChoice(field=row, value=value, label=value.title(), position=index)
            for index, value in enumerate(choices)
        )

    field("grind", "choice", 1, ("beans", "filter", "espresso"), required=True, default="beans")
    field("roast", "choice", 2, ("light", "medium", "dark"))
    field("origin", "choice", 3, ("brazil", "ethiopia", "peru", "colombia"))
    field("decaf", "boolean", 4, default=False)
    field("grams", "integer", 5, min_value=250, max_value=1000)


def _variant(index: str) -> str:
    """The variant of coffee `(index) % 3` an item holds: 250 g or 1 kg, by turns."""
    return f"(%(variants)s::bigint[])[1 + ({index}) %% 3 * 2 + ({index}) / 3 %% 2]"


# The subscriptions of the organization, with `i` (1..N) read back from their customer.
_SUBSCRIPTIONS = """
    FROM (
        SELECT s.id, s.customer_id, s.current_period_start AS period_start,
            s.current_period_end AS period_end, s.next_cycle, c.last_name::integer AS i
        FROM {subscription} s JOIN {customer} c ON c.id = s.customer_id
        WHERE s.organization_id = %(organization)s
    ) AS s
"""

# A subscriber's preferences: first chosen before the week, changed again during
# it by a third, and changed a minute too late (grams 750, chosen by no one in time)
# by one in twenty.
_FIRST = """jsonb_build_object(
    'grind', (ARRAY['beans', 'filter', 'espresso'])[1 + s.i %% 3],
    'roast', (ARRAY['light', 'medium', 'dark'])[1 + s.i / 3 %% 3],
    'origin', (ARRAY['brazil', 'ethiopia', 'peru', 'colombia'])[1 + s.i / 9 %% 4],
    'decaf', s.i %% 11 = 0,
    'grams', (ARRAY[250, 500, 1000])[1 + s.i / 36 %% 3])"""
_SECOND = f"({_FIRST} || jsonb_build_object('grind', 'espresso', 'roast', 'dark'))"
_HAS_FIRST, _HAS_SECOND, _HAS_LATE = "s.i %% 5 <> 0", "s.i %% 15 = 3", "s.i %% 20 = 7"
_IN_TIME = f"(CASE WHEN {_HAS_SECOND} THEN {_SECOND} ELSE {_FIRST} END)"
_LATE_GRAMS = 750
_LATE = f"({_IN_TIME} || jsonb_build_object('grams', {_LATE_GRAMS}))"
_ITEMS_LATE, _ADDRESS_LATE = "s.i %% 50 = 3", "s.i %% 50 = 5"
_LATE_SKU, _LATE_LINE1 = "BENCH-LATE", "1 rue du Retard"


def populate(n: int, *, now):
    """The organization, its N weekly subscriptions due in its open batch, and that batch.

    The batch closes at the last cut-off before `now` (Wednesday noon in Paris,
    the default settings'). Returns (organization, batch).
    """
    from crm.models import Address, AddressRevision, Customer, Organization, Product, Variant
    from fulfillment import calendar
    from fulfillment.models import Batch, FulfillmentSettings
    from preferences.models import PreferenceChange, SubscriptionPreference
    from subscriptions.models import Charge, Subscription, SubscriptionEvent, SubscriptionItem

    organization = Organization.objects.create(
        name="Bench batch lock",
        slug=f"bench-batch-lock-{uuid.uuid4().hex[:12]}",
        timezone=TIMEZONE,
    )
    settings_row = FulfillmentSettings.objects.create(organization=organization)
    cutoff_at = settings_row.next_cutoff(now - timedelta(days=7))
    _schema(organization)
    coffees = [
        Product.objects.create(
            organization=organization,
            sku=f"BENCH-{name.upper()}",
            name=f"Bench {name}",
            unit_price=Decimal("12.50"),
            net_weight_grams=250,
        ).pk
        for name in ("colombia", "ethiopia", "brazil")
    ]
    late = Product.objects.create(
        organization=organization, sku=_LATE_SKU, name="Chosen too late", unit_price=Decimal(10)
    ).pk
    # Each coffee is sold by variant (250 g, 1 kg): a box names its variants. Ordered
    # coffee by coffee, so coffee j's variants are at 2j + 1 and 2j + 2 (SQL arrays).
    variants = [
        Variant.objects.create(
            organization=organization,
            product_id=coffee,
            sku=f"BENCH-{coffee}-{option.replace(' ', '')}",
            attributes=[{"name": "Weight", "option": option}],
            unit_price=Decimal("12.50"),
            net_weight_grams=grams,
            position=position,
        ).pk
        for coffee in coffees
        for position, (option, grams) in enumerate((("250 g", 250), ("1 kg", 1000)))
    ]
    starts_at = cutoff_at - timedelta(days=7)
    batch = Batch.objects.create(
        organization=organization,
        cycle_date=calendar.cycle_date(cutoff_at, organization.tzinfo),
        starts_at=starts_at,
        cutoff_at=cutoff_at,
        ships_on=Batch.ships_on_for(cutoff_at, settings_row),
    )
    params = {
        "organization": organization.pk,
        "n": n,
        "tz": TIMEZONE,
        "starts_at": starts_at,
        "cutoff_at": cutoff_at,
        "cycle_date": batch.cycle_date,
        "late_at": cutoff_at + timedelta(seconds=30),
        "coffees": coffees,
        "variants": variants,
        "late": late,
    }
    tables = {"subscription": _table(Subscription), "customer": _table(Customer)}
    subscriptions = _SUBSCRIPTIONS.format(**tables)
    organization_column = {"organization_id": "%(organization)s"}

    _insert_select(
        Customer,
        {
            **organization_column,
            "email": "'bench' || i || '@example.com'",
            "first_name": "'Bench'",
            "last_name": "i::text",
        },
        "FROM generate_series(1, %(n)s) AS i",
        params,
    )
    _insert_select(
        Address,
        {
            **organization_column,
            "customer_id": "c.id",
            "name": "'Bench ' || c.last_name",
            "line1": f"CASE WHEN c.last_name::integer %% 50 = 5 THEN '{_LATE_LINE1}' "
            "ELSE c.last_name || ' rue du Café' END",
            "postcode": "'75011'",
            "city": "'Paris'",
            "country": "'FR'",
        },
        f"FROM {_table(Customer)} c WHERE c.organization_id = %(organization)s",
        params,
    )
    # A cycle (number 4) starts in the batch's week, 2 h clear of either end;
    # 1 in 20 is not charged yet (next charge in the week), the others are.
    start = (
        "%(starts_at)s::timestamptz + make_interval(secs => 7200 + (c.last_name::integer "
        "* 7919) %% (7 * 86400 - 4 * 3600))"
    )

    def weeks(expression: str, count: int) -> str:
        # Weekly cycles keep the local time of day across daylight-saving changes.
        return (
            f"(({expression}) AT TIME ZONE %(tz)s + interval '{count} weeks') AT TIME ZONE %(tz)s"
        )

    charged = "c.last_name::integer %% 20 <> 0"
    _insert_select(
        Subscription,
        {
            **organization_column,
            "customer_id": "c.id",
            "shipping_address_id": "a.id",
            "status": "'active'",
            "billing_period": "'week'",
            "billing_anchor": weeks(start, -4),
            "started_at": weeks(start, -4),
            "currency": "'EUR'",
            "current_cycle": f"CASE WHEN {charged} THEN 4 ELSE 3 END",
            "current_period_start": f"CASE WHEN {charged} THEN {start} ELSE {weeks(start, -1)} END",
            "current_period_end": f"CASE WHEN {charged} THEN {weeks(start, 1)} ELSE {start} END",
            "next_cycle": f"CASE WHEN {charged} THEN 5 ELSE 4 END",
            "next_charge_at": f"CASE WHEN {charged} THEN {weeks(start, 1)} ELSE {start} END",
        },
        f"FROM {_table(Customer)} c JOIN {_table(Address)} a ON a.customer_id = c.id "
        "WHERE c.organization_id = %(organization)s",
        params,
    )
    _insert_select(
        SubscriptionItem,
        {
            **organization_column,
            "subscription_id": "s.id",
            "product_id": f"CASE WHEN {_ITEMS_LATE} AND k = 1 THEN %(late)s "
            "ELSE (%(coffees)s::bigint[])[1 + (s.i + k) %% 3] END",
            "variant_id": f"CASE WHEN {_ITEMS_LATE} AND k = 1 THEN NULL "
            f"ELSE {_variant('s.i + k')} END",
            "quantity": "1 + (s.i %% 7 = 0)::integer",
            "unit_price": "12.50",
        },
        subscriptions + ", generate_series(1, 2) AS k WHERE k = 1 OR s.i %% 4 = 0",
        params,
    )
    _insert_select(
        SubscriptionEvent,
        {
            **organization_column,
            "subscription_id": "s.id",
            "actor_kind": "'system'",
            "kind": "'items_changed'",
            "data": "jsonb_build_object('old', jsonb_build_array(jsonb_build_object("
            "'product', (%(coffees)s::bigint[])[1 + (s.i + 1) %% 3], "
            f"'variant', {_variant('s.i + 1')}, 'quantity', 1)), "
            "'new', jsonb_build_array(jsonb_build_object('product', %(late)s, 'quantity', 1)))",
            "created_at": "%(late_at)s",
        },
        subscriptions + f" WHERE {_ITEMS_LATE}",
        params,
    )
    _insert_select(
        AddressRevision,
        {
            **organization_column,
            "address_id": "a.id",
            "before": "jsonb_build_object('name', a.name, 'company', '', 'line1', "
            "c.last_name || ' rue du Café', 'line2', '', 'postcode', a.postcode, "
            "'city', a.city, 'state', '', 'country', a.country, 'phone', '')",
            "changed_at": "%(late_at)s",
        },
        f"FROM {_table(Address)} a JOIN {_table(Customer)} c ON c.id = a.customer_id "
        f"WHERE a.organization_id = %(organization)s AND a.line1 = '{_LATE_LINE1}'",
        params,
    )
    _insert_select(
        Charge,
        {
            **organization_column,
            "subscription_id": "s.id",
            "cycle": "4",
            "period_start": "s.period_start",
            "period_end": "s.period_end",
            "amount": "12.50",
            "currency": "'EUR'",
            "status": "CASE WHEN s.i %% 20 = 1 THEN 'pending' ELSE 'paid' END",
            "attempts": "1",
            "gateway": "'test'",
            "paid_at": "CASE WHEN s.i %% 20 = 1 THEN NULL ELSE s.period_start END",
        },
        subscriptions + " WHERE s.next_cycle = 5",
        params,
    )
    changes = [
        (_HAS_FIRST, "'{}'::jsonb", _FIRST, "%(starts_at)s::timestamptz - interval '30 days'"),
        (_HAS_SECOND, _FIRST, _SECOND, "s.period_start"),
        (_HAS_LATE, _IN_TIME, _LATE, "%(late_at)s"),
    ]
    for condition, old, new, at in changes:
        late_change = at == "%(late_at)s"
        _insert_select(
            PreferenceChange,
            {
                **organization_column,
                "subscription_id": "s.id",
                "actor_kind": "'system'",
                "source": "'portal'",
                "old_values": old,
                "new_values": new,
                "changed_at": at,
                # A change counts for the batch whose cut-off follows it.
                "effective_cycle": "%(cycle_date)s::date" + (" + 7" if late_change else ""),
                "effective_cutoff_at": "%(cutoff_at)s::timestamptz"
                + (" + interval '7 days'" if late_change else ""),
            },
            subscriptions + f" WHERE {condition}",
            params,
        )
    current = f"CASE WHEN {_HAS_LATE} THEN {_LATE} ELSE {_IN_TIME} END"
    _insert_select(
        SubscriptionPreference,
        {**organization_column, "subscription_id": "s.id", "values": current},
        subscriptions + f" WHERE {_HAS_FIRST}",
        params,
    )
    with_analyze = [
        Customer,
        Address,
        AddressRevision,
        Subscription,
        SubscriptionItem,
        SubscriptionEvent,
        Charge,
        PreferenceChange,
        SubscriptionPreference,
    ]
    _vacuum(*with_analyze)  # what autovacuum would have done by the cut-off
    return organization, batch


def _vacuum(*models) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(_table(model) for model in models)}")


def _checksum(cursor, columns: str, batch_id: int) -> str:
    from fulfillment.models import BatchLine

    cursor.execute(
        f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) "
        f"FROM (SELECT {columns} FROM {_table(BatchLine)} WHERE batch_id = %s) AS t",
        [batch_id],
    )
    return str(cursor.fetchone())


def _timed_phases(counter: QueryCounter, phases: dict):
    """Time the lock's phases (as `fulfillment.services` calls them); returns the undo."""
    from fulfillment import services

    originals = {name: getattr(services, name) for name in PHASES}

    def timed(name, function):
        def wrapper(**kwargs):
            started, queries = time.perf_counter(), counter.count
            try:
                return function(**kwargs)
            finally:
                seconds, count = phases.get(name, (0.0, 0))
                phases[name] = (
                    seconds + time.perf_counter() - started,
                    count + counter.count - queries,
                )

        return wrapper

    for name, function in originals.items():
        setattr(services, name, timed(name, function))

    def undo() -> None:
        for name, function in originals.items():
            setattr(services, name, function)

    return undo


def _baseline(batch_id: int) -> float:
    """Seconds to COPY the lock's lines, identical (ids included), back into the table."""
    from django.db import connection

    from fulfillment.models import BatchLine

    table = _table(BatchLine)
    fields = BatchLine._meta.concrete_fields
    columns = ", ".join(f.column for f in fields)
    # JSON read back as text: COPY takes it as it is.
    select = ", ".join(
        f"{f.column}::text" if f.get_internal_type() == "JSONField" else f.column for f in fields
    )
    with connection.cursor() as cursor:
        expected = _checksum(cursor, columns, batch_id)
        cursor.execute(f"SELECT {select} FROM {table} WHERE batch_id = %s ORDER BY id", [batch_id])
        rows = cursor.fetchall()
        cursor.execute(f"DELETE FROM {table} WHERE batch_id = %s", [batch_id])
    _vacuum(BatchLine)  # the table as the lock found it: no dead rows

    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    seconds = time.perf_counter() - started

    with connection.cursor() as cursor:
        if _checksum(cursor, columns, batch_id) != expected:
            raise RuntimeError("batch lock bench: COPY did not rewrite the same lines")
    return seconds


def _verify(batch, report, n: int) -> dict:
    """The lock did its job: one line per subscription, and nothing from after the cut-off."""
    from django.db.models import Q

    from fulfillment.models import Batch, BatchLine

    batch.refresh_from_db()
    lines = BatchLine.objects.filter(batch=batch)
    counts = {
        "ready": lines.filter(status=BatchLine.Status.READY).count(),
        "awaiting_payment": lines.filter(status=BatchLine.Status.AWAITING_PAYMENT).count(),
    }
    late = {
        "preferences": lines.filter(preferences__grams=_LATE_GRAMS).count(),
        "items": lines.filter(items__contains=[{"sku": _LATE_SKU}]).count(),
        "address": lines.filter(address__line1=_LATE_LINE1).count(),
    }
    # Every box's first item is a coffee's variant, frozen with its SKU and weight.
    without_variant = lines.filter(
        Q(items__0__variant__isnull=True) | Q(items__0__variant=None)
    ).count()
    expected_ready = sum(1 for i in range(1, n + 1) if i % 20 not in (0, 1))
    problems = []
    if batch.status != Batch.Status.LOCKED or report.locked != [batch.pk]:
        problems.append(f"batch {batch.status}, locked {report.locked}")
    if report.lines != n or counts["ready"] != expected_ready:
        problems.append(f"{report.lines} lines written, {counts}, expected {expected_ready} ready")
    if any(late.values()):
        problems.append(f"changes made after the cut-off in the snapshots: {late}")
    if without_variant:
        problems.append(f"{without_variant} boxes without their variant")
    if not Batch.objects.filter(organization_id=batch.organization_id, status="open").exists():
        problems.append("no next batch open")
    if problems:
        raise RuntimeError("batch lock bench: " + "; ".join(problems))
    return counts


def measure(n: int) -> dict:
    """Populate, lock, then re-insert the same lines; return the numbers."""
    from django.db import connection
    from django.utils import timezone

    from fulfillment.services import lock_due_batches

    started = time.perf_counter()
    _organization, batch = populate(n, now=timezone.now())
    populate_seconds = time.perf_counter() - started
    cutoff_at = batch.cutoff_at

    counter, phases = QueryCounter(), {}
    restore = _timed_phases(counter, phases)
    try:
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            report = lock_due_batches(now=cutoff_at + timedelta(minutes=1))
            lock_seconds = time.perf_counter() - started
    finally:
        restore()
    counts = _verify(batch, report, n)

    baseline_seconds = _baseline(batch.pk)
    return {
        "n": n,
        "populate_seconds": populate_seconds,
        "lock_seconds": lock_seconds,
        "lines": report.lines,
        "ready": counts["ready"],
        "awaiting_payment": counts["awaiting_payment"],
        "queries": counter.count,
        "phases": phases,
        "baseline_seconds": baseline_seconds,
    }


def rows(numbers: dict) -> list[Row]:
    n = numbers["n"]
    return [
        Row(
            f"batch_lock: lock {n} boxes vs raw insert",
            numbers["lock_seconds"],
            numbers["baseline_seconds"],
            "s",
            higher_is_better=False,
            target=TARGET_RATIO,
        ),
        Row(
            f"batch_lock: queries to lock {n} boxes",
            numbers["queries"],
            1.0,
            "queries",
            higher_is_better=False,
        ),
    ]


def report(numbers: dict) -> str:
    """What the run measured, in a few lines (printed on stderr)."""
    n, lock, baseline = numbers["n"], numbers["lock_seconds"], numbers["baseline_seconds"]
    ratio = lock / baseline
    phases = ", ".join(
        f"{name} {seconds:.2f} s ({queries} queries)"
        for name, (seconds, queries) in numbers["phases"].items()
    )
    verdict = "met" if ratio <= TARGET_RATIO else "NOT MET"
    return "\n".join(
        [
            f"batch_lock: N={n} (populated in {numbers['populate_seconds']:.1f} s)",
            f"batch_lock: lock {lock:.2f} s, {numbers['lines']} lines written "
            f"({numbers['ready']} ready, {numbers['awaiting_payment']} awaiting payment), "
            f"{numbers['queries']} queries; of which {phases}",
            f"batch_lock: baseline, the same {numbers['lines']} lines COPY'd back into the "
            f"table: {baseline:.2f} s",
            f"batch_lock: ratio lock/baseline {ratio:.2f}x "
            f"(target <= {TARGET_RATIO:g}x: {verdict})",
        ]
    )


def run(n: int | None = None) -> list[Row]:
    n = n or int(os.environ.get("BENCH_BATCH_LOCK_N", DEFAULT_N))
    with scratch_database():
        numbers = measure(n)
    print(report(numbers), file=sys.stderr)
    return rows(numbers)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    parser = argparse.ArgumentParser(prog="python -m bench.batch_lock", description=__doc__)
    parser.add_argument("--n", type=int, default=None, help=f"boxes (default {DEFAULT_N})")
    arguments = parser.parse_args()
    for row in run(arguments.n):
        numbers = f"{row.value:>12.1f} {row.baseline:>12.1f} {row.unit:<10} {row.ratio:>7.2f}"
        print(f"{row.name:<48} {numbers}")
