"""Reads of the CRM core, always scoped to one organization."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from crm.models import Address, Customer, Organization, Product


def customer_list(*, organization: Organization) -> QuerySet[Customer]:
    return Customer.objects.for_organization(organization).prefetch_related(
        Prefetch("addresses", queryset=Address.objects.order_by("kind", "id"))
    )


def product_list(*, organization: Organization) -> QuerySet[Product]:
    return Product.objects.for_organization(organization)
