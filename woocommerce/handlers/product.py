"""`product.*` -> `Product`, and a variation's -> `Variant` (see `woocommerce.handlers.variation`).

A product deleted or not published in the shop is inactive. A variable
product (`type: "variable"`) lists its variations by id (`variations`): a
variant of it that is no longer listed is retired (inactive, never deleted),
since WooCommerce sends no webhook when a variation is deleted (#31620).
A variation's own `product.*` (`type: "variation"`, `parent_id`) is applied by
the variation handler. An "AUTO-DRAFT" name (#29376) never replaces a name.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils.html import strip_tags

from crm.models import Product, Variant
from woocommerce import payloads
from woocommerce.handlers import base, variation
from woocommerce.models import Resource, WooCommerceStore, WooMapping
from woocommerce.payloads import PayloadError


def price_of(payload: dict[str, Any], what: tuple[str, int]) -> Decimal:
    price = payloads.decimal(payload.get("price"), None)
    if price is None:
        price = payloads.decimal(payload.get("regular_price"), Decimal("0"))
    if price < 0:
        raise PayloadError("negative_price", resource=what[0], woo_id=what[1], price=str(price))
    return price.quantize(base.CENT)


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    if payload.get("type") == "variation":
        return variation.upsert(store, payload, event)
    woo_id, mapping, modified, skip = base.begin(store, Resource.PRODUCT, payload, event)
    if skip:
        return skip
    organization_id = store.organization_id
    sku = base.text(payload, "sku", 64) or f"woo-{woo_id}"
    description = strip_tags(
        payload.get("short_description") or payload.get("description") or ""
    ).strip()
    name = base.text(payload, "name", 200)
    values = {
        "sku": sku,
        "description": description,
        "unit_price": price_of(payload, ("product", woo_id)),
        "active": payload.get("status", "publish") == "publish",
    }
    weight = base.grams(store, payload.get("weight"))
    if weight is not None:
        values["net_weight_grams"] = weight

    product = None
    if mapping.object_id:
        product = Product.objects.filter(
            pk=mapping.object_id, organization_id=organization_id
        ).first()
    if product is None:  # a product the CRM already has under this SKU is linked
        product = Product.objects.filter(organization_id=organization_id, sku=sku).first()
    if product is None:
        product = Product(organization_id=organization_id)
    elif (
        Product.objects.filter(organization_id=organization_id, sku=sku)
        .exclude(pk=product.pk)
        .exists()
    ):
        raise PayloadError("product_sku_taken", resource="product", woo_id=woo_id, sku=sku)
    if Variant.objects.filter(organization_id=organization_id, sku=sku).exists():
        raise PayloadError(
            "product_sku_taken_by_variant", resource="product", woo_id=woo_id, sku=sku
        )
    if name and not base.is_auto_draft(name):
        values["name"] = name
    elif product.pk is None:
        values["name"] = sku
    if product.pk is None or any(getattr(product, k) != v for k, v in values.items()):
        for field, value in values.items():
            setattr(product, field, value)
        product.save()
    base.remember(mapping, product.pk, modified, status=str(payload.get("status", "")))
    retired = 0
    if payload.get("type") == "variable" and isinstance(payload.get("variations"), list):
        retired = retire_unlisted(store, product, payload["variations"], modified)
    if retired:
        return base.Outcome.applied("variations_retired", count=retired)
    return base.Outcome.applied()


def retire_unlisted(
    store: WooCommerceStore, product: Product, listed: list[Any], as_of: datetime | None
) -> int:
    """Retire the product's variants mapped to variations the shop no longer lists.

    `listed` is the parent's `variations` (as of `as_of`, the parent's modification
    time) or every variation reconciliation read. A variation changed after that
    (created since) is not judged by an older list. Returns how many were retired.
    """
    keep = {payloads.integer(v, "variations", minimum=1) for v in listed}
    mappings = (
        WooMapping.objects.filter(store=store, resource=Resource.VARIATION)
        .filter(object_id__in=product.variants.filter(active=True).values("pk"))
        .exclude(woo_id__in=keep)
        # One being applied by another worker right now is newer than this list: left alone
        # (and never waited for: that worker may be waiting for this product's mapping).
        .select_for_update(skip_locked=True)
    )
    if as_of is not None:
        mappings = mappings.filter(Q(woo_modified_at__isnull=True) | Q(woo_modified_at__lte=as_of))
    retired = 0
    for mapping in mappings.order_by("woo_id"):
        retired += variation.retire(store, mapping, as_of)
    return retired


def delete(store: WooCommerceStore, woo_id: int) -> base.Outcome:
    """Trashed in the shop: inactive here (subscriptions keep pointing at it)."""
    if not WooMapping.objects.filter(
        store=store, resource=Resource.PRODUCT, woo_id=woo_id
    ).exists() and (
        WooMapping.objects.filter(store=store, resource=Resource.VARIATION, woo_id=woo_id).exists()
    ):
        return variation.delete(store, woo_id)
    mapping = base.lock_mapping(store, Resource.PRODUCT, woo_id)
    if mapping.object_id:
        Product.objects.filter(pk=mapping.object_id, organization_id=store.organization_id).update(
            active=False
        )
    base.mark_deleted(mapping)
    return base.Outcome.applied("product_deleted")
