"""What every handler shares: the per-entity lock, the staleness rule, and shared lookups.

Lock order, the same in every handler so two workers never deadlock each
other: the delivered entity's mapping, then the subscription's mapping, then
`WooOrder` rows, then the `Subscription` row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import JSONObject, Lower
from django.utils import timezone
from django.utils.html import strip_tags

from core.actors import Actor
from crm.models import Address, Customer, Product, Variant
from preferences.models import PreferenceField
from woocommerce import payloads, reasons
from woocommerce.models import (
    GRAMS_PER_UNIT,
    Resource,
    WooCommerceStore,
    WooMapping,
    WooPreferenceMapping,
)
from woocommerce.payloads import PayloadError

CENT = Decimal("0.01")


class PageAbandoned(Exception):
    """A page applied in bulk met what only the one-by-one path can refuse: the caller rolls
    the page back and applies each item in its own transaction."""


@dataclass(frozen=True)
class Outcome:
    """How a payload was applied: `processed` (with a note, if any), or `ignored` with the
    reason; `reason` is the code and parameters (`woocommerce.reasons`), `message` its
    English sentence."""

    status: str
    reason: reasons.Reason | None = None

    @property
    def message(self) -> str:
        return reasons.english(self.reason)

    @classmethod
    def applied(cls, code: str = "", **params: Any) -> Outcome:
        return cls("processed", reasons.reason(code, **params) if code else None)

    @classmethod
    def noted(cls, note: reasons.Reason | None) -> Outcome:
        """Processed, with a note already made (or none)."""
        return cls("processed", note)

    @classmethod
    def ignored(cls, code: str, **params: Any) -> Outcome:
        return cls("ignored", reasons.reason(code, **params))


def actor(store: WooCommerceStore) -> Actor:
    return Actor.woocommerce(label=f"WooCommerce: {store.name}")


def _insert_mapping(
    store: WooCommerceStore, resource: str, woo_id: int, object_id: int | None = None
) -> None:
    """The mapping row of (store, resource, id) exists after this (never a duplicate)."""
    insert_mappings(store, resource, {woo_id: object_id})


def insert_mappings(store: WooCommerceStore, resource: str, objects: dict[int, int | None]) -> None:
    """The mapping rows of (store, resource, each id) exist after this, one statement; a new
    one maps its id to the object given (or none), one that existed is left as it was."""
    WooMapping.objects.bulk_create(
        [
            WooMapping(
                organization_id=store.organization_id,
                store=store,
                resource=resource,
                woo_id=woo_id,
                object_id=object_id,
            )
            for woo_id, object_id in objects.items()
        ],
        ignore_conflicts=True,
    )


def customer_from_billing(store: WooCommerceStore, email: str, billing: dict[str, Any]) -> Customer:
    """A new customer (not saved) made from an order's or a subscription's billing details."""
    return Customer(
        organization_id=store.organization_id,
        email=email,
        first_name=text(billing, "first_name", 100),
        last_name=text(billing, "last_name", 100),
        phone=text(billing, "phone", 32),
        language=store.organization.language,
    )


def one(queryset: QuerySet):
    """The row of a query that matches at most one (a unique key), or None: no ORDER BY (a
    model's default ordering adds a sort, and `WooMapping`'s a join to the store, which a
    `FOR UPDATE` without `of` would lock too), LIMIT 1."""
    return next(iter(queryset.order_by()[:1]), None)


def lock_mapping(
    store: WooCommerceStore, resource: str, woo_id: int, **annotations: Any
) -> WooMapping:
    """The mapping of (store, resource, id), created if new, locked until the transaction ends.

    Every delivery about one WooCommerce entity takes this lock first, so two
    workers apply them one after the other, never interleaved. `annotations`
    (subqueries) are read by the same statement: what the handler needs that
    no other row's lock guards (the mappings of a payload's lines, say).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_mapping needs a transaction")
    locked = (
        WooMapping.objects.select_for_update(of=("self",))
        .filter(store=store, resource=resource, woo_id=woo_id)
        .annotate(**annotations)
    )
    mapping = one(locked)  # one statement when it exists, the usual case
    if mapping is None:
        _insert_mapping(store, resource, woo_id)
        mapping = locked.get()
    return mapping


def begin(
    store: WooCommerceStore,
    resource: str,
    payload: dict[str, Any],
    event: str,
    annotations: dict[str, Any] | None = None,
) -> tuple[int, WooMapping, datetime | None, Outcome | None]:
    """Start applying a payload: its id, its locked mapping (with `annotations`, as
    `lock_mapping`), its modification time, and the reason to skip it (deleted in the
    shop, or older than what is applied), if any."""
    woo_id = payloads.resource_id(payload)
    mapping = lock_mapping(store, resource, woo_id, **(annotations or {}))
    return woo_id, mapping, *_skip(mapping, payload, event)


def begin_with_lines(
    store: WooCommerceStore, resource: str, payload: dict[str, Any], event: str
) -> tuple[int, WooMapping, datetime | None, Outcome | None]:
    """`begin`, the mapping read with the mappings of the payload's lines (`line_rows`, as
    `line_mappings`' rows) and the shop's preference mappings (`preference_rows`, as
    `preferences.preference_mappings`' rows), in the locking statement."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("begin_with_lines needs a transaction")
    woo_id = payloads.resource_id(payload)
    products, variations = _line_woo_ids(payload.get("line_items"))
    params = {
        "store": store.pk,
        "organization": store.organization_id,
        "resource": resource,
        "woo_id": woo_id,
        "product": Resource.PRODUCT,
        "variation": Resource.VARIATION,
        "products": sorted(products),
        "variations": sorted(variations),
    }
    mapping = _one_raw(_LOCK_WITH_LINES, params)  # one statement when it exists
    if mapping is None:
        _insert_mapping(store, resource, woo_id)
        mapping = _one_raw(_LOCK_WITH_LINES, params)
    mapping.line_rows = _json(mapping.line_rows)
    mapping.preference_rows = _json(mapping.preference_rows)
    return woo_id, mapping, *_skip(mapping, payload, event)


def _one_raw(sql: str, params: dict[str, Any], model=WooMapping):
    return next(iter(model.objects.raw(sql, params)), None)


def _json(value: Any) -> Any:
    """A `jsonb` column of a raw query: Django has psycopg read it as text."""
    return json.loads(value) if isinstance(value, str) else value


# The locking statement of `begin_with_lines`, written once: built and compiled by the ORM
# for every event (two array subqueries of JSON objects) it was the costliest part of a
# subscription event in py-spy's profile, several times the statement's own time in
# PostgreSQL (issue 26). It reads what `line_mappings` and `preferences.preference_mappings`
# read, as one JSON array each.
_LOCK_WITH_LINES = f"""
SELECT m.*,
  (SELECT COALESCE(jsonb_agg(jsonb_build_object('woo_key', p.woo_key, 'key', f.key)
                             ORDER BY p.id), '[]'::jsonb)
     FROM {WooPreferenceMapping._meta.db_table} p
     JOIN {PreferenceField._meta.db_table} f ON f.id = p.field_id
    WHERE p.store_id = %(store)s AND p.organization_id = %(organization)s
      AND f.organization_id = %(organization)s) AS preference_rows,
  (SELECT COALESCE(jsonb_agg(jsonb_build_object(
            'resource', l.resource, 'woo_id', l.woo_id, 'object_id', l.object_id,
            'product_known', EXISTS(
                SELECT 1 FROM {Product._meta.db_table} pr
                 WHERE pr.id = l.object_id AND pr.organization_id = %(organization)s),
            'variant_product', (
                SELECT v.product_id FROM {Variant._meta.db_table} v
                 WHERE v.id = l.object_id AND v.organization_id = %(organization)s))),
          '[]'::jsonb)
     FROM {WooMapping._meta.db_table} l
    WHERE l.store_id = %(store)s AND l.object_id IS NOT NULL
      AND ((l.resource = %(product)s AND l.woo_id = ANY(%(products)s::bigint[]))
        OR (l.resource = %(variation)s AND l.woo_id = ANY(%(variations)s::bigint[])))
  ) AS line_rows
FROM {WooMapping._meta.db_table} m
WHERE m.store_id = %(store)s AND m.resource = %(resource)s AND m.woo_id = %(woo_id)s
LIMIT 1
FOR UPDATE OF m
"""  # noqa: S608 (table names from the models, values as parameters)


def _skip(
    mapping: WooMapping, payload: dict[str, Any], event: str
) -> tuple[datetime | None, Outcome | None]:
    modified = payloads.gmt(payload.get("date_modified_gmt"))
    return modified, deleted(mapping, event) or stale(mapping, modified, event)


def stale(mapping: WooMapping, modified: datetime | None, event: str) -> Outcome | None:
    """Ignore a payload older than the version already applied.

    A webhook of the same age is applied again (two changes within one second
    share a modification time); a reconciliation skips it, so a second pull
    of an unchanged shop changes nothing.
    """
    if not (modified and mapping.woo_modified_at):
        return None
    if event == "reconciled" and modified == mapping.woo_modified_at:
        return Outcome.ignored("unchanged")
    if modified < mapping.woo_modified_at:
        return Outcome.ignored(
            "stale", modified=modified.isoformat(), applied=mapping.woo_modified_at.isoformat()
        )
    return None


def deleted(mapping: WooMapping, event: str) -> Outcome | None:
    """After `*.deleted`, only a restore (or a reconciliation that finds it) applies again."""
    if mapping.deleted_upstream_at and event not in ("restored", "reconciled"):
        return Outcome.ignored("deleted_upstream")
    return None


def remember(mapping: WooMapping, object_id: int, modified: datetime | None, status: str = ""):
    """Record what was applied; only the columns that change are written, none if none does."""
    values: dict[str, Any] = {"object_id": object_id, "deleted_upstream_at": None}
    if modified and (mapping.woo_modified_at is None or modified > mapping.woo_modified_at):
        values["woo_modified_at"] = modified
    if status:
        values["remote_status"] = status
    changed = [name for name, value in values.items() if getattr(mapping, name) != value]
    for name in changed:
        setattr(mapping, name, values[name])
    if changed:
        mapping.save(update_fields=[*changed, "updated_at"])


def mark_deleted(mapping: WooMapping) -> None:
    mapping.deleted_upstream_at = timezone.now()
    mapping.save(update_fields=["deleted_upstream_at", "remote_status", "updated_at"])


def text(payload: dict[str, Any], key: str, limit: int) -> str:
    value = payload.get(key)
    return str(value).strip()[:limit] if value not in (None, "") else ""


# --- Customers -------------------------------------------------------------------


def billing_email(payload: dict[str, Any]) -> Any:
    """The e-mail of a payload's billing details, as `customer_for` reads it."""
    billing = payload.get("billing")
    return billing.get("email", "") if isinstance(billing, dict) else ""


def valid_email(email: Any) -> bool:
    """Whether `check_email` takes `email`."""
    try:
        check_email(email if isinstance(email, str) else "", ("customer", 0))
    except PayloadError:
        return False
    return True


def check_email(email: str, what: tuple[str, int]) -> str:
    """The e-mail address of `what` (resource, WooCommerce id), checked."""
    email = (email or "").strip()
    resource, woo_id = what
    if not email:
        raise PayloadError("no_email", resource=resource, woo_id=woo_id)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise PayloadError(
            "invalid_email", resource=resource, woo_id=woo_id, email=repr(email)
        ) from exc
    return email


def mapped(store: WooCommerceStore, resource: str, woo_id: int, model, **annotations: Any):
    """The CRM row `woo_id` is mapped to, of `model` and the shop's organization, or None
    (one statement, which also reads `annotations`)."""
    if not woo_id:
        return None
    object_id = (
        WooMapping.objects.filter(
            store=store, resource=resource, woo_id=woo_id, object_id__isnull=False
        )
        .order_by()
        .values("object_id")[:1]
    )
    return one(
        model.objects.filter(
            pk=Subquery(object_id), organization_id=store.organization_id
        ).annotate(**annotations)
    )


def link(store: WooCommerceStore, resource: str, woo_id: int, object_id: int) -> int:
    """Map `woo_id` to a row created from another entity's payload, unless already mapped;
    the id it is mapped to now (another when the entity's own payload came first).

    No modification time is recorded: the entity's own payload, whenever it
    arrives, is newer and completes the row.
    """
    _insert_mapping(store, resource, woo_id, object_id)
    WooMapping.objects.filter(
        store=store, resource=resource, woo_id=woo_id, object_id__isnull=True
    ).update(object_id=object_id)
    mapped_id = one(
        WooMapping.objects.filter(store=store, resource=resource, woo_id=woo_id).values_list(
            "object_id", flat=True
        )
    )
    return mapped_id or object_id


def linked(store: WooCommerceStore, resource: str, woo_id: int, row, created: bool):
    """`row` (made from a line) mapped to `woo_id`; when the entity's own payload was applied
    meanwhile by another worker, the row it made instead (and `row`, if new, dropped)."""
    object_id = link(store, resource, woo_id, row.pk)
    if object_id == row.pk:
        return row
    other = one(type(row).objects.filter(pk=object_id, organization_id=store.organization_id))
    if other is None:
        return row
    if created:
        row.delete()
    return other


ADDRESS_COLUMNS = [f.attname for f in Address._meta.concrete_fields]


def customer_for(
    store: WooCommerceStore,
    woo_customer_id: Any,
    billing: dict[str, Any] | None,
    what: tuple[str, int],
    *,
    addresses: bool = False,
) -> Customer:
    """The CRM customer of a subscription's or order's `customer_id`.

    A customer the shop has not sent yet is created from the billing details
    and mapped (with no modification time, so the customer's own payload,
    whenever it arrives, completes it). A guest order (`customer_id` 0) is
    matched on its billing e-mail. `addresses`: a mapped customer's billing and
    shipping addresses are read in the same statement (for `addresses_for`).
    """
    billing = billing if isinstance(billing, dict) else {}
    woo_customer_id = payloads.integer(woo_customer_id or 0, "customer_id", minimum=0)
    organization_id = store.organization_id
    if addresses and woo_customer_id:
        customer = _one_raw(
            _CUSTOMER_WITH_ADDRESSES,
            {
                "store": store.pk,
                "organization": organization_id,
                "resource": Resource.CUSTOMER,
                "woo_id": woo_customer_id,
                "kinds": [Address.Kind.BILLING, Address.Kind.SHIPPING],
            },
            Customer,
        )
        if customer is not None:
            customer.address_rows = _json(customer.address_rows)
    else:
        customer = mapped(store, Resource.CUSTOMER, woo_customer_id, Customer)
    if customer is not None:
        return customer
    email = check_email(billing.get("email", ""), what)
    customer = Customer.objects.filter(organization_id=organization_id, email__iexact=email).first()
    if customer is None:
        customer = customer_from_billing(store, email, billing)
        customer.save(force_insert=True)
        if addresses:  # a new customer has none: not read by `addresses_for`
            customer.address_rows = []
    if woo_customer_id:
        link(store, Resource.CUSTOMER, woo_customer_id, customer.pk)
    return customer


# `customer_for`'s read of a mapped customer with its addresses (as `mapped`, the addresses
# as JSON objects of their columns), written once: the ORM's build and compile of it cost
# more CPU than the statement itself (issue 26).
_CUSTOMER_AND_ADDRESSES = f"""
SELECT c.*,
  (SELECT COALESCE(jsonb_agg(to_jsonb(a) ORDER BY a.id), '[]'::jsonb)
     FROM {Address._meta.db_table} a
    WHERE a.customer_id = c.id AND a.kind = ANY(%(kinds)s::text[])) AS address_rows
FROM {Customer._meta.db_table} c
WHERE c.organization_id = %(organization)s
"""  # noqa: S608 (table names from the models, values as parameters)
_CUSTOMER_WITH_ADDRESSES = f"""{_CUSTOMER_AND_ADDRESSES}
  AND c.id = (SELECT m.object_id FROM {WooMapping._meta.db_table} m
               WHERE m.store_id = %(store)s AND m.resource = %(resource)s
                 AND m.woo_id = %(woo_id)s AND m.object_id IS NOT NULL
               LIMIT 1)
LIMIT 1
"""  # noqa: S608 (table names from the models, values as parameters)
_CUSTOMER_BY_ID_WITH_ADDRESSES = f"""{_CUSTOMER_AND_ADDRESSES}
  AND c.id = %(customer)s
LIMIT 1
"""


def customer_with_addresses(organization_id: int, customer_id: int) -> Customer | None:
    """The organization's customer `customer_id`, with its billing and shipping addresses
    (`known_addresses`), in one statement; None when it has no such customer."""
    customer = _one_raw(
        _CUSTOMER_BY_ID_WITH_ADDRESSES,
        {
            "organization": organization_id,
            "customer": customer_id,
            "kinds": [Address.Kind.BILLING, Address.Kind.SHIPPING],
        },
        Customer,
    )
    if customer is not None:
        customer.address_rows = _json(customer.address_rows)
    return customer


def known_addresses(customer: Customer) -> list[Address]:
    """The addresses read with the customer (`address_rows`), as rows."""
    return [
        Address.from_db(customer._state.db, ADDRESS_COLUMNS, [r[c] for c in ADDRESS_COLUMNS])
        for r in customer.address_rows
    ]


def address_values(customer: Customer, data: Any) -> tuple[dict[str, str], str] | None:
    """An address's lines as stored and its phone, or None when incomplete (not stored)."""
    if not isinstance(data, dict):
        return None
    line1 = text(data, "address_1", 200)
    country = text(data, "country", 2).upper()
    if not line1 or not country:
        return None
    name = f"{text(data, 'first_name', 100)} {text(data, 'last_name', 100)}".strip()
    values = {
        "name": (name or customer.full_name or customer.email)[:200],
        "company": text(data, "company", 200),
        "line1": line1,
        "line2": text(data, "address_2", 200),
        "postcode": text(data, "postcode", 20),
        "city": text(data, "city", 100),
        "state": text(data, "state", 100),
        "country": country,
    }
    return values, text(data, "phone", 32)


def address_for(
    customer: Customer, kind: str, data: Any, known: list[Address] | None = None
) -> Address | None:
    """The customer's address with exactly these lines, created if new.

    An address is never edited in place: a subscription or a past shipment
    pointing at it keeps where it really went. Incomplete addresses (no
    street or country) are not stored. `known`, the customer's addresses read
    once, saves the query (and receives the address created).
    """
    wanted = address_values(customer, data)
    if wanted is None:
        return None
    values, phone = wanted
    if known is None:
        address = customer.addresses.filter(kind=kind, **values).order_by("-id").first()
    else:
        address = max(
            (
                a
                for a in known
                if a.kind == kind and all(getattr(a, f) == v for f, v in values.items())
            ),
            key=lambda a: a.pk,
            default=None,
        )
    if address is None:
        address = Address.objects.create(
            organization_id=customer.organization_id,
            customer=customer,
            kind=kind,
            phone=phone,
            **values,
        )
        if known is not None:
            known.append(address)
    elif phone and address.phone != phone:
        address.phone = phone
        address.save(update_fields=["phone"])
    return address


def addresses_for(
    customer: Customer, billing: Any, shipping: Any
) -> tuple[Address | None, Address | None]:
    """A payload's billing and shipping addresses (the billing lines when the shipping has
    none), as `address_for`, with the customer's addresses read in one query (none when
    `customer_for` read them with the customer)."""
    rows = getattr(customer, "address_rows", None)
    if rows is None:
        known = list(
            customer.addresses.filter(kind__in=(Address.Kind.BILLING, Address.Kind.SHIPPING))
        )
    else:
        known = known_addresses(customer)
    return (
        address_for(customer, Address.Kind.BILLING, billing, known),
        address_for(customer, Address.Kind.SHIPPING, shipping, known)
        or address_for(customer, Address.Kind.SHIPPING, billing, known),
    )


def page_wanted(items: list[Any]) -> dict[int, int]:
    """The page's items a bulk apply may take: {item index: woo id}, the first item of each
    id, skipping what is not a resource (not an object, a REST error, a deleted body, no id:
    the per-item path reports those)."""
    wanted: dict[int, int] = {}
    seen: set[int] = set()
    for index, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or payloads.rest_error(item)
            or payloads.is_deleted_body(item)
        ):
            continue
        try:
            woo_id = payloads.resource_id(item)
        except PayloadError:
            continue
        if woo_id not in seen:
            seen.add(woo_id)
            wanted[index] = woo_id
    return wanted


def page_prepared(
    items: list[Any],
    wanted: dict[int, int],
    mappings: dict[int, WooMapping],
    event: str,
    parse,
    results: list[Any],
) -> dict[int, dict[str, Any]]:
    """The wanted items never applied, parsed ({item index: row}, with its `modified`): a
    deleted or stale one gets its outcome in `results`; one applied already, unparsable or
    refused by `parse` (None) is left to the per-item path, which writes only what changed
    and reports the refusal."""
    prepared: dict[int, dict[str, Any]] = {}
    for index, woo_id in wanted.items():
        item, mapping = items[index], mappings[woo_id]
        try:
            modified = payloads.gmt(item.get("date_modified_gmt"))
        except PayloadError:
            continue
        skip = deleted(mapping, event) or stale(mapping, modified, event)
        if skip:
            results[index] = skip
            continue
        if mapping.object_id:
            continue
        row = parse(item, woo_id)
        if row is not None:
            row["modified"] = modified
            prepared[index] = row
    return prepared


def page_mappings(
    store: WooCommerceStore, resource: str, woo_ids: list[int]
) -> tuple[dict[int, WooMapping], list[WooMapping]]:
    """The mappings of a page's ids ({id: mapping}): those that exist locked (in id order),
    the missing ones inserted (ours until the transaction ends; a row inserted meanwhile by
    a webhook is an `IntegrityError`); and the inserted ones, two statements."""
    mappings = {
        m.woo_id: m
        for m in WooMapping.objects.select_for_update(of=("self",))
        .filter(store=store, resource=resource, woo_id__in=woo_ids)
        .order_by("woo_id")
    }
    inserted = WooMapping.objects.bulk_create(
        [
            WooMapping(
                organization_id=store.organization_id,
                store=store,
                resource=resource,
                woo_id=woo_id,
            )
            for woo_id in sorted(set(woo_ids))
            if woo_id not in mappings
        ]
    )
    mappings.update({m.woo_id: m for m in inserted})
    return mappings, inserted


def page_remember(
    mappings: list[tuple[WooMapping, int, datetime | None, str]],
) -> None:
    """`remember` for a page: (mapping, object id, modification time, status) written in one
    statement."""
    now = timezone.now()
    for mapping, object_id, modified, status in mappings:
        mapping.object_id = object_id
        mapping.deleted_upstream_at = None
        if modified and (mapping.woo_modified_at is None or modified > mapping.woo_modified_at):
            mapping.woo_modified_at = modified
        if status:
            mapping.remote_status = status
        mapping.updated_at = now
    WooMapping.objects.bulk_update(
        [m for m, *_ in mappings],
        ["object_id", "deleted_upstream_at", "woo_modified_at", "remote_status", "updated_at"],
    )


def page_forget(inserted: list[WooMapping], applied: set[int]) -> None:
    """Delete the mappings a page inserted for items it left to the handler, as the
    handler's rolled back transaction would leave none of a refused item."""
    left = [m.pk for m in inserted if m.woo_id not in applied]
    if left:
        WooMapping.objects.filter(pk__in=left).delete()


def page_customers(store: WooCommerceStore, woo_ids: set[int]) -> dict[int, Any]:
    """{WooCommerce customer id: the CRM customer it is mapped to, with its billing and
    shipping addresses (`address_rows`, as `base.customer_for` reads them)}, two queries.

    The mappings first, then the customers by id: written as one query (customers whose id
    is in a subquery), PostgreSQL planned it as a loop over every customer of the
    organization while the tables' statistics lagged behind a burst of new rows (330 ms
    a page at 1,300 customers, issue 26); two queries leave it nothing to misjudge.
    """
    if not woo_ids:
        return {}
    mapped = WooMapping.objects.filter(
        store=store, resource=Resource.CUSTOMER, woo_id__in=woo_ids, object_id__isnull=False
    ).order_by()
    object_ids = dict(mapped.values_list("woo_id", "object_id"))
    customers = customers_with_addresses(store.organization_id, set(object_ids.values()))
    return {
        woo_id: customers[object_id]
        for woo_id, object_id in object_ids.items()
        if object_id in customers
    }


def customers_with_addresses(organization_id: int, ids: set[int] | list[int]) -> dict[int, Any]:
    """{id: the organization's customer, with its billing and shipping addresses
    (`address_rows`)}, one query (none without ids)."""
    if not ids:
        return {}
    customers = (
        Customer.objects.filter(organization_id=organization_id, pk__in=list(ids))
        .annotate(address_rows=address_rows())
        .order_by()
    )
    return {customer.pk: customer for customer in customers}


def page_customers_made(store: WooCommerceStore, billings: dict[int, Any]) -> dict[int, Any]:
    """`customer_for` over a page, for WooCommerce customer ids the CRM has not mapped
    ({id: the billing details of its first item}): {id: the customer found by its billing
    e-mail or created from its billing details, mapped to it (with no modification time),
    with its addresses as `page_customers` reads them}. An id whose e-mail is not valid,
    or matches several customers, is left out (to the handler, which refuses it or picks
    one). Four statements, whatever the page's size: the e-mails read, the customers
    inserted, their mappings inserted, those that existed without a customer read (rare:
    completed in one more).
    """
    emails: dict[int, str] = {}
    for woo_id, billing in billings.items():
        billing = billing if isinstance(billing, dict) else {}
        try:
            emails[woo_id] = check_email(billing.get("email", ""), ("customer", woo_id))
        except PayloadError:
            continue
    if not emails:
        return {}
    organization_id = store.organization_id
    found: dict[str, Any] = {}
    several: set[str] = set()
    for customer in (
        Customer.objects.filter(organization_id=organization_id)
        .annotate(email_lower=Lower("email"), address_rows=address_rows())
        .filter(email_lower__in={email.lower() for email in emails.values()})
        .order_by()
    ):
        if customer.email_lower in found:
            several.add(customer.email_lower)
        found[customer.email_lower] = customer
    made: dict[str, Customer] = {}
    for woo_id, email in emails.items():  # the first item of an e-mail makes its customer
        key = email.lower()
        if key not in found and key not in made:
            made[key] = customer_from_billing(store, email, billings[woo_id])
            made[key].address_rows = []
    Customer.objects.bulk_create(made.values())
    found.update(made)
    customers = {
        woo_id: found[email.lower()]
        for woo_id, email in emails.items()
        if email.lower() not in several
    }
    # `link`: mapped to the customer unless mapped already (a customer's own payload).
    insert_mappings(
        store,
        Resource.CUSTOMER,
        {woo_id: customer.pk for woo_id, customer in sorted(customers.items())},
    )
    unlinked = list(
        WooMapping.objects.filter(
            store=store,
            resource=Resource.CUSTOMER,
            woo_id__in=list(customers),
            object_id__isnull=True,
        ).order_by()
    )
    for mapping in unlinked:
        mapping.object_id = customers[mapping.woo_id].pk
    WooMapping.objects.bulk_update(unlinked, ["object_id"])
    return customers


def address_rows() -> ArraySubquery:
    """A customer's billing and shipping addresses as JSON objects of their columns."""
    return ArraySubquery(
        Address.objects.filter(
            customer=OuterRef("pk"), kind__in=(Address.Kind.BILLING, Address.Kind.SHIPPING)
        )
        .order_by("id")
        .values(json=JSONObject(**{c: c for c in ADDRESS_COLUMNS}))
    )


class PageAddresses:
    """`base.addresses_for` over a page: the customers' addresses as read with them, the new
    ones made in memory and inserted together (`save`); a phone that changes on a stored
    address is saved at once, as `base.address_for` does (its revision kept)."""

    def __init__(self) -> None:
        self.known: dict[int, list] = {}
        self.new: list = []

    def of(self, customer, billing: Any, shipping: Any):
        """The billing and shipping addresses of a subscription, as `addresses_for`."""
        known = self._known(customer)
        return (
            self.address(customer, Address.Kind.BILLING, billing, known),
            self.address(customer, Address.Kind.SHIPPING, shipping, known)
            or self.address(customer, Address.Kind.SHIPPING, billing, known),
        )

    def _known(self, customer) -> list:
        if customer.pk not in self.known:
            self.known[customer.pk] = [
                Address.from_db(
                    customer._state.db, ADDRESS_COLUMNS, [r[c] for c in ADDRESS_COLUMNS]
                )
                for r in customer.address_rows
            ]
        return self.known[customer.pk]

    def address(self, customer, kind: str, data: Any, known: list | None = None):
        """The customer's address of `kind` with these lines, as `address_for`."""
        known = self._known(customer) if known is None else known
        wanted = address_values(customer, data)
        if wanted is None:
            return None
        values, phone = wanted
        matching = [
            a
            for a in known
            if a.kind == kind and all(getattr(a, f) == v for f, v in values.items())
        ]
        if not matching:
            address = Address(
                organization_id=customer.organization_id,
                customer=customer,
                kind=kind,
                phone=phone,
                **values,
            )
            known.append(address)
            self.new.append(address)
            return address
        # The latest: stored ones by id, then those made in this page, in order.
        address = max(
            matching,
            key=lambda a: a.pk if a.pk is not None else 2**62 + self.new.index(a),
        )
        if phone and address.phone != phone:
            address.phone = phone
            if address.pk is not None:
                address.save(update_fields=["phone"])
        return address

    def save(self) -> None:
        Address.objects.bulk_create(self.new)


# --- Products and variations ------------------------------------------------------

AUTO_DRAFT = "auto-draft"


def is_auto_draft(name: str) -> bool:
    """WooCommerce's placeholder name of a product or variation not yet saved (#29376)."""
    return name.strip().lower() == AUTO_DRAFT


def grams(store: WooCommerceStore, value: Any) -> int | None:
    """A product's or variation's `weight` (a string in the shop's unit) in grams; "" is none."""
    weight = payloads.decimal(value, None)
    if weight is None:
        return None
    if weight < 0:
        raise PayloadError("negative_weight", value=repr(value))
    result = round(weight * Decimal(str(GRAMS_PER_UNIT[store.weight_unit])))
    if result > 2_147_483_647:
        raise PayloadError("weight_out_of_range", value=repr(value))
    return int(result)


def attributes(data: Any) -> list[dict[str, str]]:
    """A variation's `attributes` as ordered {"name", "option"} pairs (the shop's ids dropped)."""
    pairs = []
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict):
            raise PayloadError("attribute_not_object")
        name, option = text(entry, "name", 100), text(entry, "option", 100)
        if name or option:
            pairs.append({"name": name, "option": option})
    return pairs


def line_attributes(line: dict[str, Any]) -> list[dict[str, str]]:
    """The attributes a line item chose, from its `meta_data` (`display_key`: `display_value`),
    hidden entries (`_reduced_stock`) left out; without any, the options its `name` lists
    after the parent's ("Parent - Option, Option"), unnamed."""
    pairs = []
    meta = line.get("meta_data")
    for entry in meta if isinstance(meta, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        if entry["key"].startswith("_"):
            continue
        name = text(entry, "display_key", 100) or text(entry, "key", 100)
        option = text(entry, "display_value", 100) or text(entry, "value", 100)
        if option:
            pairs.append({"name": strip_tags(name), "option": strip_tags(option)})
    if pairs:
        return pairs
    name, parent = text(line, "name", 200), text(line, "parent_name", 200)
    if parent and name.startswith(f"{parent} - "):
        options = name.removeprefix(f"{parent} - ").split(", ")
        return [{"name": "", "option": o.strip()[:100]} for o in options if o.strip()]
    return []


def sku_taken(organization_id: int, sku: str, *, product=None, variant=None) -> bool:
    """Whether a product or variant of the organization other than these has `sku`."""
    products = Product.objects.filter(organization_id=organization_id, sku=sku)
    variants = Variant.objects.filter(organization_id=organization_id, sku=sku)
    if product is not None and product.pk:
        products = products.exclude(pk=product.pk)
    if variant is not None and variant.pk:
        variants = variants.exclude(pk=variant.pk)
    return products.exists() or variants.exists()


def variant_sku(sku: str, woo_id: int, parent: Product) -> str:
    """A variation's SKU here: its own, or `woo-<id>` when it has none (WooCommerce then
    shows the parent's SKU in its place)."""
    return sku if sku and sku != parent.sku else f"woo-{woo_id}"


def parent_product(
    store: WooCommerceStore, woo_product_id: int, name: str, known: KnownSkus | None = None
) -> Product:
    """The CRM product of a variable product, created (`woo-<id>`) and mapped if the shop
    has not sent it yet; its own payload, whenever it arrives, completes it. `known`: the
    caller knows it is not mapped, and what the organization has by SKU."""
    if known is None:
        product = mapped(store, Resource.PRODUCT, woo_product_id, Product)
        if product is not None:
            return product
    sku = f"woo-{woo_product_id}"
    defaults = {"name": name or f"WooCommerce product {woo_product_id}", "unit_price": 0}
    if known is not None and sku in known.products:
        product, created = Product.objects.get(pk=known.products[sku]), False
    elif known is not None:
        product, created = _made(Product, store.organization_id, sku, defaults)
    else:
        product, created = Product.objects.get_or_create(
            organization_id=store.organization_id,
            sku=sku,
            defaults={"name": name or f"WooCommerce product {woo_product_id}", "unit_price": 0},
        )
    product = linked(store, Resource.PRODUCT, woo_product_id, product, created)
    if known is not None:
        known.products[product.sku] = product.pk
    return product


def product_for_line(
    store: WooCommerceStore, line: dict[str, Any], known: KnownSkus | None = None
) -> Product:
    """The CRM product of a line item, created from the line if the shop has not sent it.

    A line of a variation names its parent (`product_id`): the product of the
    variant with the line's SKU, else the product with that SKU (a variation
    without a SKU of its own shows its parent's), else the parent is created under
    `woo-<id>` and the parent's name (`parent_name`), since the line's SKU and name
    are the variation's. `known` (from `first_sight`): the line's product is not mapped, and
    what the organization has under the line's SKUs, read already."""
    woo_product_id = payloads.integer(line.get("product_id") or 0, "product_id", minimum=0)
    variation_id = payloads.integer(line.get("variation_id") or 0, "variation_id", minimum=0)
    name = text(line, "name", 200) or f"WooCommerce product {woo_product_id}"
    organization_id = store.organization_id
    if known is None:
        product = mapped(store, Resource.PRODUCT, woo_product_id, Product)
        if product is not None:
            return product
    if variation_id and woo_product_id:
        # The back office may sell it already: the line's SKU is its variant's, or the
        # parent's when the variation has none of its own.
        sku = text(line, "sku", 64)
        if not sku:
            found = None
        elif known is not None:
            found = known.variants[sku][1] if sku in known.variants else known.products.get(sku)
        else:
            found = (
                Variant.objects.filter(organization_id=organization_id, sku=sku)
                .values_list("product_id", flat=True)
                .first()
                or Product.objects.filter(organization_id=organization_id, sku=sku)
                .values_list("pk", flat=True)
                .first()
            )
        if found is not None:
            product = Product.objects.get(pk=found)
            return linked(store, Resource.PRODUCT, woo_product_id, product, False)
        parent_name = text(line, "parent_name", 200) or name.split(" - ")[0]
        return parent_product(store, woo_product_id, parent_name, known)
    sku = text(line, "sku", 64) or (
        f"woo-{woo_product_id}" if woo_product_id else f"woo-line-{name}"[:64]
    )
    quantity = payloads.integer(line.get("quantity", 1), "quantity", minimum=1)
    price = unit_price(line, quantity)
    if known is not None and sku in known.products:
        product, created = Product.objects.get(pk=known.products[sku]), False
    elif known is not None:
        product, created = _made(Product, organization_id, sku, {"name": name, "unit_price": price})
    else:
        product, created = Product.objects.get_or_create(
            organization_id=organization_id,
            sku=sku,
            defaults={"name": name, "unit_price": price},
        )
    if woo_product_id:
        product = linked(store, Resource.PRODUCT, woo_product_id, product, created)
    if known is not None:
        known.products[product.sku] = product.pk
    return product


def variant_for_line(
    store: WooCommerceStore, line: dict[str, Any], product: Product, known: KnownSkus | None = None
) -> Variant | None:
    """The variant of a line's `variation_id` (None for a simple product's line, id 0).

    By mapping, then by SKU among the organization's variants, else created from
    the line (its attributes from `meta_data`, its price the line's) and mapped
    without a modification time, so the variation's own payload completes it. `known`
    (from `first_sight`): the variation is not mapped, and the organization's rows by SKU.
    """
    variation_id = payloads.integer(line.get("variation_id") or 0, "variation_id", minimum=0)
    if not variation_id:
        return None
    organization_id = store.organization_id
    if known is None:
        variant = mapped(store, Resource.VARIATION, variation_id, Variant)
        if variant is not None:
            return variant
    sku = variant_sku(text(line, "sku", 64), variation_id, product)
    if known is None:
        variant = Variant.objects.filter(organization_id=organization_id, sku=sku).first()
        product_has_sku = None  # asked below, only if needed
    else:
        variant = Variant.objects.get(pk=known.variants[sku][0]) if sku in known.variants else None
        product_has_sku = sku in known.products
    created = False
    if variant is None:
        if product_has_sku is None:
            product_has_sku = Product.objects.filter(
                organization_id=organization_id, sku=sku
            ).exists()
        if product_has_sku:
            raise PayloadError("line_sku_taken", line=str(line.get("id")), sku=sku)
        quantity = payloads.integer(line.get("quantity", 1), "quantity", minimum=1)
        defaults = {
            "product": product,
            "attributes": line_attributes(line),
            "unit_price": unit_price(line, quantity),
        }
        if known is not None:  # known to be free: no SELECT first
            variant, created = _made(Variant, organization_id, sku, defaults)
        else:
            variant, created = Variant.objects.get_or_create(
                organization_id=organization_id, sku=sku, defaults=defaults
            )
    variant = linked(store, Resource.VARIATION, variation_id, variant, created)
    if known is not None:
        known.variants[variant.sku] = (variant.pk, variant.product_id)
    return variant


def _made(model, organization_id: int, sku: str, defaults: dict[str, Any]):
    """(row, created): `get_or_create` without its first SELECT, for a SKU `first_sight`
    found free; a row another worker inserted meanwhile is read instead."""
    try:
        with transaction.atomic():
            row = model.objects.create(organization_id=organization_id, sku=sku, **defaults)
    except IntegrityError:
        return model.objects.get(organization_id=organization_id, sku=sku), False
    return row, True


@dataclass
class KnownSkus:
    """What the organization has under the SKUs a payload's first-sight lines may name
    (`first_sight`, one query), and the products mapped to their parents; the rows made
    from the lines join it as they are made."""

    products: dict[str, int] = field(default_factory=dict)  # SKU -> product id
    variants: dict[str, tuple[int, int]] = field(default_factory=dict)  # SKU -> (variant, product)
    mapped: dict[int, Product] = field(default_factory=dict)  # product id -> its id and SKU


def _line_skus(line: dict[str, Any]) -> set[str]:
    """Every SKU the line's product or variant may have here (see `product_for_line`,
    `parent_product`, `variant_sku`)."""
    woo_product_id, variation_id = _line_ids(line)
    sku = text(line, "sku", 64)
    name = text(line, "name", 200) or f"WooCommerce product {woo_product_id}"
    skus = {sku} if sku else set()
    skus.add(f"woo-{woo_product_id}" if woo_product_id else f"woo-line-{name}"[:64])
    if variation_id:
        skus.add(f"woo-{variation_id}")
    return skus


def first_sight(store: WooCommerceStore, lines: list[dict[str, Any]], parents: set[int]):
    """`KnownSkus` for lines whose product or variation is not mapped yet, in one query: the
    organization's products and variants under their SKUs, and `parents`, the products
    already mapped to some of the lines' products (their variation is new)."""
    skus = set().union(*(_line_skus(line) for line in lines))
    organization_id = store.organization_id
    columns = ("kind", "key", "row", "of_product")
    by_sku = (
        Product.objects.filter(organization_id=organization_id, sku__in=skus)
        .order_by()
        .annotate(kind=Value("product"), key=F("sku"), row=F("pk"), of_product=F("pk"))
    )
    variants = (
        Variant.objects.filter(organization_id=organization_id, sku__in=skus)
        .order_by()
        .annotate(kind=Value("variant"), key=F("sku"), row=F("pk"), of_product=F("product_id"))
    )
    mapped_parents = Product.objects.filter(
        organization_id=organization_id, pk__in=parents
    ).order_by()
    mapped_parents = mapped_parents.annotate(
        kind=Value("mapped"), key=F("sku"), row=F("pk"), of_product=F("pk")
    )
    known = KnownSkus()
    for kind, sku, row, of_product in by_sku.values_list(*columns).union(
        variants.values_list(*columns), mapped_parents.values_list(*columns), all=True
    ):
        if kind == "product":
            known.products[sku] = row
        elif kind == "variant":
            known.variants[sku] = (row, of_product)
        else:  # what `variant_for_line` reads of its product: the id and the SKU
            known.mapped[row] = Product(pk=row, sku=sku, organization_id=organization_id)
    return known


def unit_price(line: dict[str, Any], quantity: int) -> Decimal:
    """A line's price per unit before tax: its `total` over its quantity."""
    total = payloads.decimal(line.get("total"), Decimal("0"))
    price = (total / quantity).quantize(CENT)
    if price < 0:
        raise PayloadError("negative_line_total", line=str(line.get("id")), total=str(total))
    return price


def _line_ids(line: dict[str, Any]) -> tuple[int, int]:
    return (
        payloads.integer(line.get("product_id") or 0, "product_id", minimum=0),
        payloads.integer(line.get("variation_id") or 0, "variation_id", minimum=0),
    )


def _line_woo_ids(lines: Any) -> tuple[set[int], set[int]]:
    """The lines' product and variation ids; what cannot be read is left to `line_items`
    to refuse (after the staleness check)."""
    products, variations = set(), set()
    for line in lines if isinstance(lines, list) else []:
        try:
            product_id, variation_id = _line_ids(line)
        except (AttributeError, PayloadError):
            continue
        if product_id:
            products.add(product_id)
        if variation_id:
            variations.add(variation_id)
    return products, variations


def line_mappings(store: WooCommerceStore, lines: Any) -> QuerySet | None:
    """The mappings of the lines' products and variations, one query (an `ArraySubquery`
    of it joins `lock_mapping`'s annotations), or None without any: JSON objects with
    the row they map to, when it is the organization's, and a variant's product."""
    products, variations = _line_woo_ids(lines)
    if not (products or variations):
        return None
    organization_id = store.organization_id
    return (
        WooMapping.objects.filter(store=store, object_id__isnull=False)
        .filter(
            Q(resource=Resource.PRODUCT, woo_id__in=products)
            | Q(resource=Resource.VARIATION, woo_id__in=variations)
        )
        .order_by()  # read into dicts: the default ordering's sort and join serve nothing
        .annotate(
            product_known=Exists(
                Product.objects.filter(pk=OuterRef("object_id"), organization_id=organization_id)
            ),
            variant_product=Subquery(
                Variant.objects.filter(pk=OuterRef("object_id"), organization_id=organization_id)
                .order_by()
                .values("product_id")[:1]
            ),
        )
        .values(
            json=JSONObject(
                resource="resource",
                woo_id="woo_id",
                object_id="object_id",
                product_known="product_known",
                variant_product="variant_product",
            )
        )
    )


def mapped_lines(
    rows: list[dict[str, Any]] | None,
) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """`line_mappings`' rows as {product id: product}, {variation id: (variant, its
    product)}, rows of the shop's organization only."""
    by_product, by_variation = {}, {}
    for row in rows or []:
        if row["resource"] == Resource.PRODUCT and row["product_known"]:
            by_product[row["woo_id"]] = row["object_id"]
        elif row["resource"] == Resource.VARIATION and row["variant_product"] is not None:
            by_variation[row["woo_id"]] = (row["object_id"], row["variant_product"])
    return by_product, by_variation


def line_items(
    store: WooCommerceStore,
    payload: dict[str, Any],
    mappings: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The payload's line items as {product, variant, quantity, unit_price} (ids).

    One item per product and variant: two variations of one product are two
    items; two lines of the same variant (or simple product) are one, at their
    average price. The mappings of all the lines are read in one query (or
    were, `mappings`: the rows of `line_mappings`); what the organization has for the
    lines whose product or variation is not mapped yet is read in one more query
    (`first_sight`), and only the rows made from them are written one by one.
    """
    lines = payload.get("line_items") or []
    if not isinstance(lines, list):
        raise PayloadError("line_items_not_list")
    for line in lines:
        if not isinstance(line, dict):
            raise PayloadError("line_item_not_object")
    if mappings is None:
        query = line_mappings(store, lines)
        mappings = [row["json"] for row in query] if query is not None else []
    by_product, by_variation = mapped_lines(mappings)

    def is_mapped(woo_product_id: int, variation_id: int) -> bool:
        return woo_product_id in by_product and (not variation_id or variation_id in by_variation)

    known = None
    first = [line for line in lines if not is_mapped(*_line_ids(line))]
    if first:  # what the CRM has for them, read in one query
        parents = {by_product[p] for p, _ in map(_line_ids, first) if p in by_product}
        known = first_sight(store, first, parents)
    merged: dict[tuple[int, int | None], dict[str, Any]] = {}
    for line in lines:
        quantity = payloads.integer(line.get("quantity", 1), "quantity", minimum=1)
        woo_product_id, variation_id = _line_ids(line)
        if is_mapped(woo_product_id, variation_id):
            product_id, variant_id = by_product[woo_product_id], None
            if variation_id:
                variant_id, product_id = by_variation[variation_id]
        else:  # seen for the first time: made from the line, and mapped
            if known is None:  # not reached: `first` holds this line
                known = first_sight(store, [line], set())
            if woo_product_id in by_product:  # the product is mapped; its variation is new
                product = known.mapped.get(by_product[woo_product_id]) or Product.objects.get(
                    pk=by_product[woo_product_id]
                )
            else:
                product = product_for_line(store, line, known)
            variant = variant_for_line(store, line, product, known)
            product_id = variant.product_id if variant is not None else product.pk
            variant_id = variant.pk if variant is not None else None
            if woo_product_id:  # a later line of the same product or variation: mapped now
                by_product.setdefault(woo_product_id, product.pk)
            if variant is not None:
                by_variation[variation_id] = (variant.pk, variant.product_id)
        price = unit_price(line, quantity)
        key = (product_id, variant_id)
        if key in merged:  # the same product or variant on two lines: one item
            item = merged[key]
            total = item["unit_price"] * item["quantity"] + price * quantity
            item["quantity"] += quantity
            item["unit_price"] = (total / item["quantity"]).quantize(CENT)
        else:
            merged[key] = {
                "product": product_id,
                "variant": variant_id,
                "quantity": quantity,
                "unit_price": price,
            }
    return list(merged.values())
