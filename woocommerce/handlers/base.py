"""What every handler shares: the per-entity lock, the staleness rule, and shared lookups.

Lock order, the same in every handler so two workers never deadlock each
other: the delivered entity's mapping, then the subscription's mapping, then
`WooOrder` rows, then the `Subscription` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from crm.actors import Actor
from crm.models import Address, Customer, Product
from woocommerce import payloads
from woocommerce.models import Resource, WooCommerceStore, WooMapping
from woocommerce.payloads import PayloadError

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Outcome:
    """How a payload was applied: `processed`, or `ignored` with the reason."""

    status: str
    message: str = ""

    @classmethod
    def applied(cls, message: str = "") -> Outcome:
        return cls("processed", message)

    @classmethod
    def ignored(cls, message: str) -> Outcome:
        return cls("ignored", message)


def actor(store: WooCommerceStore) -> Actor:
    return Actor.woocommerce(label=f"WooCommerce: {store.name}")


def _insert_mapping(
    store: WooCommerceStore, resource: str, woo_id: int, object_id: int | None = None
) -> None:
    """The mapping row of (store, resource, id) exists after this (never a duplicate)."""
    WooMapping.objects.bulk_create(
        [
            WooMapping(
                organization_id=store.organization_id,
                store=store,
                resource=resource,
                woo_id=woo_id,
                object_id=object_id,
            )
        ],
        ignore_conflicts=True,
    )


def lock_mapping(store: WooCommerceStore, resource: str, woo_id: int) -> WooMapping:
    """The mapping of (store, resource, id), created if new, locked until the transaction ends.

    Every delivery about one WooCommerce entity takes this lock first, so two
    workers apply them one after the other, never interleaved.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_mapping needs a transaction")
    _insert_mapping(store, resource, woo_id)
    return WooMapping.objects.select_for_update().get(store=store, resource=resource, woo_id=woo_id)


def begin(
    store: WooCommerceStore, resource: str, payload: dict[str, Any], event: str
) -> tuple[int, WooMapping, datetime | None, Outcome | None]:
    """Start applying a payload: its id, its locked mapping, its modification time, and
    the reason to skip it (deleted in the shop, or older than what is applied), if any."""
    woo_id = payloads.resource_id(payload)
    mapping = lock_mapping(store, resource, woo_id)
    modified = payloads.gmt(payload.get("date_modified_gmt"))
    return woo_id, mapping, modified, deleted(mapping, event) or stale(mapping, modified, event)


def stale(mapping: WooMapping, modified: datetime | None, event: str) -> Outcome | None:
    """Ignore a payload older than the version already applied.

    A webhook of the same age is applied again (two changes within one second
    share a modification time); a reconciliation skips it, so a second pull
    of an unchanged shop changes nothing.
    """
    if not (modified and mapping.woo_modified_at):
        return None
    if event == "reconciled" and modified == mapping.woo_modified_at:
        return Outcome.ignored("unchanged since the version applied")
    if modified < mapping.woo_modified_at:
        return Outcome.ignored(
            f"older than the version applied: modified {modified.isoformat()}, "
            f"applied {mapping.woo_modified_at.isoformat()}"
        )
    return None


def deleted(mapping: WooMapping, event: str) -> Outcome | None:
    """After `*.deleted`, only a restore (or a reconciliation that finds it) applies again."""
    if mapping.deleted_upstream_at and event not in ("restored", "reconciled"):
        return Outcome.ignored("deleted in the shop; a restore or reconciliation brings it back")
    return None


def remember(mapping: WooMapping, object_id: int, modified: datetime | None, status: str = ""):
    mapping.object_id = object_id
    if modified and (mapping.woo_modified_at is None or modified > mapping.woo_modified_at):
        mapping.woo_modified_at = modified
    mapping.remote_status = status or mapping.remote_status
    mapping.deleted_upstream_at = None
    mapping.save()


def mark_deleted(mapping: WooMapping) -> None:
    mapping.deleted_upstream_at = timezone.now()
    mapping.save(update_fields=["deleted_upstream_at", "remote_status", "updated_at"])


def text(payload: dict[str, Any], key: str, limit: int) -> str:
    value = payload.get(key)
    return str(value).strip()[:limit] if value not in (None, "") else ""


# --- Customers -------------------------------------------------------------------


def check_email(email: str, woo_what: str) -> str:
    email = (email or "").strip()
    if not email:
        raise PayloadError(f"{woo_what} has no e-mail address")
    try:
        validate_email(email)
    except ValidationError as exc:
        raise PayloadError(f"{woo_what} has an invalid e-mail address: {email!r}") from exc
    return email


def mapped(store: WooCommerceStore, resource: str, woo_id: int, model):
    """The CRM row `woo_id` is mapped to, of `model` and the shop's organization, or None."""
    if not woo_id:
        return None
    object_id = (
        WooMapping.objects.filter(
            store=store, resource=resource, woo_id=woo_id, object_id__isnull=False
        )
        .values_list("object_id", flat=True)
        .first()
    )
    if object_id is None:
        return None
    return model.objects.filter(pk=object_id, organization_id=store.organization_id).first()


def link(store: WooCommerceStore, resource: str, woo_id: int, object_id: int) -> None:
    """Map `woo_id` to a row created from another entity's payload, unless already mapped.

    No modification time is recorded: the entity's own payload, whenever it
    arrives, is newer and completes the row.
    """
    _insert_mapping(store, resource, woo_id, object_id)
    WooMapping.objects.filter(
        store=store, resource=resource, woo_id=woo_id, object_id__isnull=True
    ).update(object_id=object_id)


def customer_for(
    store: WooCommerceStore, woo_customer_id: Any, billing: dict[str, Any] | None, what: str
) -> Customer:
    """The CRM customer of a subscription's or order's `customer_id`.

    A customer the shop has not sent yet is created from the billing details
    and mapped (with no modification time, so the customer's own payload,
    whenever it arrives, completes it). A guest order (`customer_id` 0) is
    matched on its billing e-mail.
    """
    billing = billing if isinstance(billing, dict) else {}
    woo_customer_id = payloads.integer(woo_customer_id or 0, "customer_id", minimum=0)
    organization_id = store.organization_id
    customer = mapped(store, Resource.CUSTOMER, woo_customer_id, Customer)
    if customer is not None:
        return customer
    email = check_email(billing.get("email", ""), what)
    customer = Customer.objects.filter(organization_id=organization_id, email__iexact=email).first()
    if customer is None:
        customer = Customer.objects.create(
            organization_id=organization_id,
            email=email,
            first_name=text(billing, "first_name", 100),
            last_name=text(billing, "last_name", 100),
            phone=text(billing, "phone", 32),
            language=store.organization.language,
        )
    if woo_customer_id:
        link(store, Resource.CUSTOMER, woo_customer_id, customer.pk)
    return customer


def address_for(customer: Customer, kind: str, data: Any) -> Address | None:
    """The customer's address with exactly these lines, created if new.

    An address is never edited in place: a subscription or a past shipment
    pointing at it keeps where it really went. Incomplete addresses (no
    street or country) are not stored.
    """
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
    phone = text(data, "phone", 32)
    address = customer.addresses.filter(kind=kind, **values).order_by("-id").first()
    if address is None:
        address = Address.objects.create(
            organization_id=customer.organization_id,
            customer=customer,
            kind=kind,
            phone=phone,
            **values,
        )
    elif phone and address.phone != phone:
        address.phone = phone
        address.save(update_fields=["phone"])
    return address


# --- Products --------------------------------------------------------------------


def product_for_line(store: WooCommerceStore, line: dict[str, Any]) -> Product:
    """The CRM product of a line item, created from the line if the shop has not sent it."""
    woo_product_id = payloads.integer(line.get("product_id") or 0, "product_id", minimum=0)
    name = text(line, "name", 200) or f"WooCommerce product {woo_product_id}"
    organization_id = store.organization_id
    product = mapped(store, Resource.PRODUCT, woo_product_id, Product)
    if product is not None:
        return product
    sku = text(line, "sku", 64) or (
        f"woo-{woo_product_id}" if woo_product_id else f"woo-line-{name}"[:64]
    )
    quantity = payloads.integer(line.get("quantity", 1), "quantity", minimum=1)
    price = unit_price(line, quantity)
    product, _created = Product.objects.get_or_create(
        organization_id=organization_id,
        sku=sku,
        defaults={"name": name, "unit_price": price},
    )
    if woo_product_id:
        link(store, Resource.PRODUCT, woo_product_id, product.pk)
    return product


def unit_price(line: dict[str, Any], quantity: int) -> Decimal:
    """A line's price per unit before tax: its `total` over its quantity."""
    total = payloads.decimal(line.get("total"), Decimal("0"))
    price = (total / quantity).quantize(CENT)
    if price < 0:
        raise PayloadError(f"line {line.get('id')}: negative total {total}")
    return price


def line_items(store: WooCommerceStore, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload's line items as {product, quantity, unit_price}, one per product."""
    lines = payload.get("line_items") or []
    if not isinstance(lines, list):
        raise PayloadError("line_items is not a list")
    merged: dict[int, dict[str, Any]] = {}
    for line in lines:
        if not isinstance(line, dict):
            raise PayloadError("a line item is not an object")
        quantity = payloads.integer(line.get("quantity", 1), "quantity", minimum=1)
        product = product_for_line(store, line)
        price = unit_price(line, quantity)
        if product.pk in merged:  # the same product on two lines: one item
            item = merged[product.pk]
            total = item["unit_price"] * item["quantity"] + price * quantity
            item["quantity"] += quantity
            item["unit_price"] = (total / item["quantity"]).quantize(CENT)
        else:
            merged[product.pk] = {"product": product, "quantity": quantity, "unit_price": price}
    return list(merged.values())
