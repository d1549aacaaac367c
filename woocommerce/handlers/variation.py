"""A variation's `product.*` (`type: "variation"`, `parent_id`) -> a `Variant` of its product.

WooCommerce sends a variation's changes as product webhooks of their own
(#20109); reconciliation reads them from `GET /products/{id}/variations` and
applies each here with its parent's id. The variant's SKU is the variation's
(`woo-<id>` when it has none: the shop then shows its parent's), its
attributes the variation's ordered name/option pairs, its price, weight (in
the shop's weight unit) and position (`menu_order`) the variation's; it is
active while the variation is enabled (`publish`). A parent the shop has not
sent yet is created (`woo-<parent id>`) and completed by its own payload.

A variation deleted in the shop sends nothing: its parent's list, or the next
reconciliation, retires its variant (`retire`). A variant is never deleted:
subscriptions and past boxes keep naming it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from crm.models import Product, Variant
from woocommerce import payloads
from woocommerce.handlers import base
from woocommerce.models import Resource, WooCommerceStore, WooMapping
from woocommerce.payloads import PayloadError


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    from woocommerce.handlers.product import price_of

    woo_id, mapping, modified, skip = base.begin(store, Resource.VARIATION, payload, event)
    if skip:
        return skip
    organization_id = store.organization_id
    parent_id = payloads.integer(payload.get("parent_id") or 0, "parent_id", minimum=0)
    if not parent_id:
        raise PayloadError("no_parent", resource="variation", woo_id=woo_id)
    variant = None
    if mapping.object_id:
        variant = (
            Variant.objects.filter(pk=mapping.object_id, organization_id=organization_id)
            .select_related("product")
            .first()
        )
    name = base.text(payload, "name", 200)
    parent_name = "" if base.is_auto_draft(name) else name.split(" - ")[0]
    product = (
        variant.product
        if variant is not None and _mapped_to(store, parent_id, variant.product)
        else base.parent_product(store, parent_id, parent_name)
    )
    sku = base.variant_sku(base.text(payload, "sku", 64), woo_id, product)
    if variant is None:  # a variant the CRM already has under this SKU is linked
        variant = Variant.objects.filter(organization_id=organization_id, sku=sku).first()
    if base.sku_taken(organization_id, sku, variant=variant):
        raise PayloadError("variant_sku_taken", resource="variation", woo_id=woo_id, sku=sku)
    values: dict[str, Any] = {
        "product": product,
        "sku": sku,
        "unit_price": price_of(payload, ("variation", woo_id)),
        "active": payload.get("status", "publish") == "publish",
        "position": min(
            max(payloads.integer(payload.get("menu_order") or 0, "menu_order"), 0), 32767
        ),
        "net_weight_grams": base.grams(store, payload.get("weight")),
    }
    pairs = base.attributes(payload.get("attributes"))
    if pairs or variant is None:  # an auto-draft's empty list keeps what the line said
        values["attributes"] = pairs
    if variant is None:
        variant = Variant(organization_id=organization_id)
    if variant.pk is None or any(getattr(variant, k) != v for k, v in values.items()):
        for field, value in values.items():
            setattr(variant, field, value)
        variant.save()
    base.remember(mapping, variant.pk, modified, status=str(payload.get("status", "")))
    return base.Outcome.applied()


def _mapped_to(store: WooCommerceStore, parent_id: int, product: Product) -> bool:
    return WooMapping.objects.filter(
        store=store, resource=Resource.PRODUCT, woo_id=parent_id, object_id=product.pk
    ).exists()


def retire(store: WooCommerceStore, mapping: WooMapping, as_of: datetime | None = None) -> int:
    """The variation is gone from its parent's list as of `as_of` (now when None): its variant
    is inactive, and no payload of the variation older than that applies again. 1 if it was
    active, else 0."""
    as_of = as_of or timezone.now()
    if mapping.woo_modified_at is None or mapping.woo_modified_at < as_of:
        mapping.woo_modified_at = as_of
    mapping.remote_status = "retired"
    mapping.save(update_fields=["woo_modified_at", "remote_status", "updated_at"])
    if not mapping.object_id:
        return 0
    return Variant.objects.filter(
        pk=mapping.object_id, organization_id=store.organization_id, active=True
    ).update(active=False)


def delete(store: WooCommerceStore, woo_id: int) -> base.Outcome:
    """Deleted in the shop (a `product.deleted` naming a variation): retired here."""
    mapping = base.lock_mapping(store, Resource.VARIATION, woo_id)
    if mapping.object_id:
        Variant.objects.filter(pk=mapping.object_id, organization_id=store.organization_id).update(
            active=False
        )
    base.mark_deleted(mapping)
    return base.Outcome.applied("variant_deleted")
