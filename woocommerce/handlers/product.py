"""`product.*` -> `Product` (a product deleted or not published in the shop is inactive)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.html import strip_tags

from crm.models import Product
from woocommerce import payloads
from woocommerce.handlers import base
from woocommerce.models import Resource, WooCommerceStore
from woocommerce.payloads import PayloadError


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    woo_id, mapping, modified, skip = base.begin(store, Resource.PRODUCT, payload, event)
    if skip:
        return skip
    organization_id = store.organization_id
    sku = base.text(payload, "sku", 64) or f"woo-{woo_id}"
    price = payloads.decimal(payload.get("price"), None)
    if price is None:
        price = payloads.decimal(payload.get("regular_price"), Decimal("0"))
    if price < 0:
        raise PayloadError(f"product {woo_id}: negative price {price}")
    description = strip_tags(
        payload.get("short_description") or payload.get("description") or ""
    ).strip()
    values = {
        "sku": sku,
        "name": base.text(payload, "name", 200) or sku,
        "description": description,
        "unit_price": price.quantize(base.CENT),
        "active": payload.get("status", "publish") == "publish",
    }

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
        raise PayloadError(f"product {woo_id}: another product already has the SKU {sku}")
    if product.pk is None or any(getattr(product, k) != v for k, v in values.items()):
        for name, value in values.items():
            setattr(product, name, value)
        product.save()
    base.remember(mapping, product.pk, modified, status=str(payload.get("status", "")))
    return base.Outcome.applied()


def delete(store: WooCommerceStore, woo_id: int) -> base.Outcome:
    """Trashed in the shop: inactive here (subscriptions keep pointing at it)."""
    mapping = base.lock_mapping(store, Resource.PRODUCT, woo_id)
    if mapping.object_id:
        Product.objects.filter(pk=mapping.object_id, organization_id=store.organization_id).update(
            active=False
        )
    base.mark_deleted(mapping)
    return base.Outcome.applied("deleted in the shop; the product is now inactive")
