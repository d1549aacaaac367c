"""Reads of the CRM core, always scoped to one organization."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from crm.models import Address, Customer, Organization, Product, Variant


def customer_list(*, organization: Organization) -> QuerySet[Customer]:
    return Customer.objects.for_organization(organization).prefetch_related(
        Prefetch("addresses", queryset=Address.objects.order_by("kind", "id"))
    )


def product_list(*, organization: Organization) -> QuerySet[Product]:
    return Product.objects.for_organization(organization).prefetch_related(
        Prefetch("variants", queryset=Variant.objects.order_by("position", "id"))
    )


def variant_list(*, organization: Organization) -> QuerySet[Variant]:
    """The organization's variants with their product (for pickers and lookups)."""
    return Variant.objects.for_organization(organization).select_related("product")
