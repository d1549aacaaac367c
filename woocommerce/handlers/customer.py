"""`customer.*` -> `Customer` and its billing and shipping addresses."""

from __future__ import annotations

from typing import Any

from crm.models import Address, Customer
from woocommerce.handlers import base
from woocommerce.models import Resource, WooCommerceStore
from woocommerce.payloads import PayloadError


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    woo_id, mapping, modified, skip = base.begin(store, Resource.CUSTOMER, payload, event)
    if skip:
        return skip
    email = base.check_email(payload.get("email", ""), f"customer {woo_id}")
    billing = payload.get("billing") if isinstance(payload.get("billing"), dict) else {}
    organization_id = store.organization_id

    customer = None
    if mapping.object_id:
        customer = Customer.objects.filter(
            pk=mapping.object_id, organization_id=organization_id
        ).first()
    if customer is None:  # a customer the CRM already knows by e-mail is linked, not doubled
        customer = Customer.objects.filter(
            organization_id=organization_id, email__iexact=email
        ).first()
    if customer is None:
        customer = Customer(organization_id=organization_id, language=store.organization.language)
    elif (
        Customer.objects.filter(organization_id=organization_id, email__iexact=email)
        .exclude(pk=customer.pk)
        .exists()
    ):
        raise PayloadError(
            f"customer {woo_id}: another customer of the organization has the e-mail {email}"
        )
    values = {
        "email": email,
        "first_name": base.text(payload, "first_name", 100)
        or base.text(billing, "first_name", 100),
        "last_name": base.text(payload, "last_name", 100) or base.text(billing, "last_name", 100),
        "phone": base.text(billing, "phone", 32),
    }
    changed = customer.pk is None or any(getattr(customer, k) != v for k, v in values.items())
    if changed:
        for name, value in values.items():
            setattr(customer, name, value)
        customer.save()
    base.address_for(customer, Address.Kind.BILLING, billing)
    base.address_for(customer, Address.Kind.SHIPPING, payload.get("shipping"))
    base.remember(mapping, customer.pk, modified)
    return base.Outcome.applied()


def delete(store: WooCommerceStore, woo_id: int) -> base.Outcome:
    """A deleted WordPress user: the CRM keeps the customer (subscriptions, history)."""
    mapping = base.lock_mapping(store, Resource.CUSTOMER, woo_id)
    base.mark_deleted(mapping)
    return base.Outcome.applied("deleted in the shop; the customer is kept here")
