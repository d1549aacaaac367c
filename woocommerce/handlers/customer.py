"""`customer.*` -> `Customer` and its billing and shipping addresses.

Statements (issue 26), for a customer the CRM already has: lock its mapping (1),
read the customer with all its billing and shipping addresses (1); then write
only what changed: the customer's changed columns (1), an address that is new
(1 each), the mapping's modification time when it moves on (1). So 4 for a
changed name, 5 with a new address, 3 when the payload changes nothing the CRM
keeps but is newer (the modification time is kept, so a late older payload is
never applied over it) and 2, no write at all, for a version already applied.
A new customer, or a changed e-mail, adds the e-mail uniqueness check.
"""

from __future__ import annotations

from typing import Any

from django.db.models.functions import Lower
from django.utils import timezone

from crm.models import Address, Customer
from woocommerce import payloads
from woocommerce.handlers import base
from woocommerce.models import Resource, WooCommerceStore, WooMapping
from woocommerce.payloads import PayloadError

ADDRESS_FIELDS = ("name", "company", "line1", "line2", "postcode", "city", "state", "country")


def _address_values(customer: Customer, data: Any) -> tuple[dict[str, str], str] | None:
    """An address's lines as stored (and its phone), or None when incomplete (not kept)."""
    if not isinstance(data, dict):
        return None
    line1 = base.text(data, "address_1", 200)
    country = base.text(data, "country", 2).upper()
    if not line1 or not country:
        return None
    name = f"{base.text(data, 'first_name', 100)} {base.text(data, 'last_name', 100)}".strip()
    values = {
        "name": (name or customer.full_name or customer.email)[:200],
        "company": base.text(data, "company", 200),
        "line1": line1,
        "line2": base.text(data, "address_2", 200),
        "postcode": base.text(data, "postcode", 20),
        "city": base.text(data, "city", 100),
        "state": base.text(data, "state", 100),
        "country": country,
    }
    return values, base.text(data, "phone", 32)


def _keep_address(
    customer: Customer,
    kind: str,
    data: Any,
    known: list[Address],
    made: list[Address] | None = None,
) -> None:
    """The customer's address of `kind` with exactly these lines, created if new (or, with
    `made`, added to it, for one INSERT of a page's new addresses).

    As `base.address_for`: never edited in place (a subscription or a shipment
    keeps where it really went), only its phone follows; `known` is the
    customer's addresses read once for both kinds.
    """
    wanted = _address_values(customer, data)
    if wanted is None:
        return
    values, phone = wanted
    matching = [
        address
        for address in known
        if address.kind == kind and all(getattr(address, f) == v for f, v in values.items())
    ]
    if not matching:
        address = Address(
            organization_id=customer.organization_id,
            customer=customer,
            kind=kind,
            phone=phone,
            **values,
        )
        if made is None:
            address.save()
        else:
            made.append(address)
        return
    address = max(matching, key=lambda a: a.pk)
    if phone and address.phone != phone:
        address.phone = phone
        address.save(update_fields=["phone"])


def _remember(mapping: WooMapping, customer_id: int, modified) -> None:
    """The mapping's columns that change, written only when one does."""
    changed = []
    if mapping.object_id != customer_id:
        mapping.object_id = customer_id
        changed.append("object_id")
    if modified and (mapping.woo_modified_at is None or modified > mapping.woo_modified_at):
        mapping.woo_modified_at = modified
        changed.append("woo_modified_at")
    if mapping.deleted_upstream_at is not None:
        mapping.deleted_upstream_at = None
        changed.append("deleted_upstream_at")
    if changed:
        mapping.save(update_fields=[*changed, "updated_at"])


def _values(payload: dict[str, Any], email: str) -> dict[str, str]:
    """What the CRM keeps of a customer payload on the customer's row."""
    billing = payload.get("billing") if isinstance(payload.get("billing"), dict) else {}
    return {
        "email": email,
        "first_name": base.text(payload, "first_name", 100)
        or base.text(billing, "first_name", 100),
        "last_name": base.text(payload, "last_name", 100) or base.text(billing, "last_name", 100),
        "phone": base.text(billing, "phone", 32),
    }


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    woo_id = payloads.resource_id(payload)
    mapping = base.lock_mapping(store, Resource.CUSTOMER, woo_id)
    modified = payloads.gmt(payload.get("date_modified_gmt"))
    skip = base.deleted(mapping, event) or base.stale(mapping, modified, event)
    if skip:
        return skip
    email = base.check_email(payload.get("email", ""), ("customer", woo_id))
    billing = payload.get("billing") if isinstance(payload.get("billing"), dict) else {}
    organization_id = store.organization_id
    kinds = (Address.Kind.BILLING, Address.Kind.SHIPPING)

    customer = None
    if mapping.object_id:  # with its addresses, in the same statement
        customer = base.customer_with_addresses(organization_id, mapping.object_id)
    if customer is None:  # a customer the CRM already knows by e-mail is linked, not doubled
        customer = Customer.objects.filter(
            organization_id=organization_id, email__iexact=email
        ).first()
    elif (
        customer.email.lower() != email.lower()
        and Customer.objects.filter(organization_id=organization_id, email__iexact=email)
        .exclude(pk=customer.pk)
        .exists()
    ):
        raise PayloadError("email_taken", resource="customer", woo_id=woo_id, email=email)
    if customer is None:
        customer = Customer(organization_id=organization_id, language=store.organization.language)
    values = _values(payload, email)
    changed = [name for name, value in values.items() if getattr(customer, name) != value]
    for name in changed:
        setattr(customer, name, values[name])
    if customer.pk is None:
        customer.save()
        known: list[Address] = []
    else:
        if changed:
            customer.save(update_fields=[*changed, "updated_at"])
        rows = getattr(customer, "address_rows", None)
        known = (
            base.known_addresses(customer)
            if rows is not None
            else list(
                Address.objects.filter(customer=customer, kind__in=kinds).only(
                    "id", "kind", "phone", *ADDRESS_FIELDS
                )
            )
        )
    _keep_address(customer, Address.Kind.BILLING, billing, known)
    _keep_address(customer, Address.Kind.SHIPPING, payload.get("shipping"), known)
    _remember(mapping, customer.pk, modified)
    return base.Outcome.applied()


def delete(store: WooCommerceStore, woo_id: int) -> base.Outcome:
    """A deleted WordPress user: the CRM keeps the customer (subscriptions, history)."""
    mapping = base.lock_mapping(store, Resource.CUSTOMER, woo_id)
    base.mark_deleted(mapping)
    return base.Outcome.applied("customer_deleted")


def upsert_page(
    store: WooCommerceStore, items: list[Any], event: str
) -> list[base.Outcome | PayloadError | None]:
    """Apply a page of customers with a bounded number of statements (the reconciliation's
    first import, a message of webhook deliveries; issue 26); for each item its outcome, the
    `PayloadError` that refuses it, or None: applied one by one by `upsert` instead.

    The rules are `upsert`'s: the page's mappings are created if new and locked (in id
    order, one statement), a version already applied or deleted in the shop is skipped, the
    e-mail is checked. Written in bulk: the new customer the handler would create (never
    mapped, an e-mail the organization does not have yet) with its billing and shipping
    addresses, and a mapped customer's changed columns and new addresses (the customer a
    subscription or an order made before the customer's own payload came, or a customer
    updated in the shop). Anything else (a mapped customer whose e-mail changes or whose
    row is gone, an e-mail the CRM knows on a new one, an id, customer or e-mail twice in the
    page, a body that is not a customer) is left to `upsert`. Statements: insert the
    missing mappings, lock them, read the mapped customers with their addresses, read the
    e-mails known, insert the customers, update the changed ones, insert the addresses,
    record the mappings: eight at any size (an address's new phone: one more each, as
    `upsert`). Runs inside the caller's transaction.
    """
    results: list[base.Outcome | PayloadError | None] = [None] * len(items)
    wanted = base.page_wanted(items)  # item index -> woo id, the first of each id
    if not wanted:
        return results
    organization_id = store.organization_id
    base.insert_mappings(store, Resource.CUSTOMER, dict.fromkeys(wanted.values()))
    mappings = {
        mapping.woo_id: mapping
        for mapping in WooMapping.objects.select_for_update()
        .filter(
            store=store,
            resource=Resource.CUSTOMER,
            woo_id__in=list(wanted.values()),
        )
        .order_by("woo_id")
    }
    new: dict[int, tuple[WooMapping, str, Any]] = {}  # index -> (mapping, e-mail, modified)
    mapped: dict[int, tuple[WooMapping, str, Any]] = {}  # the same, of mapped customers
    emails: set[str] = set()
    for index, woo_id in wanted.items():
        item, mapping = items[index], mappings[woo_id]
        try:
            modified = payloads.gmt(item.get("date_modified_gmt"))
            skip = base.deleted(mapping, event) or base.stale(mapping, modified, event)
            if skip:
                results[index] = skip
                continue
            email = base.check_email(item.get("email", ""), ("customer", woo_id))
        except PayloadError as exc:
            results[index] = exc
            continue
        if email.lower() in emails:
            continue  # the second of one e-mail: linked by `upsert` to the first
        emails.add(email.lower())
        (mapped if mapping.object_id else new)[index] = (mapping, email, modified)
    customers_of = base.customers_with_addresses(
        organization_id, [mapping.object_id for mapping, _, _ in mapped.values()]
    )
    known = set(
        Customer.objects.filter(organization_id=organization_id)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=emails)
        .values_list("email_lower", flat=True)
    )
    new = {index: row for index, row in new.items() if row[1].lower() not in known}
    language = store.organization.language
    customers = {}
    for index, (_, email, _) in new.items():
        item = items[index]
        billing = item.get("billing") if isinstance(item.get("billing"), dict) else {}
        customers[index] = Customer(
            organization_id=organization_id,
            language=language,
            email=email,
            first_name=base.text(item, "first_name", 100) or base.text(billing, "first_name", 100),
            last_name=base.text(item, "last_name", 100) or base.text(billing, "last_name", 100),
            phone=base.text(billing, "phone", 32),
        )
    Customer.objects.bulk_create(customers.values())
    addresses = []
    for index, customer in customers.items():
        item = items[index]
        for kind, data in (
            (Address.Kind.BILLING, item.get("billing")),
            (Address.Kind.SHIPPING, item.get("shipping")),
        ):
            wanted_address = _address_values(customer, data)
            if wanted_address is not None:
                values, phone = wanted_address
                addresses.append(
                    Address(
                        organization_id=organization_id,
                        customer=customer,
                        kind=kind,
                        phone=phone,
                        **values,
                    )
                )
    # The mapped customers: their changed columns and new addresses, as `upsert` writes them.
    now = timezone.now()
    updated: dict[int, Customer] = {}
    dirty: list[Customer] = []
    changed_fields: set[str] = set()
    for index, (mapping, email, _) in list(mapped.items()):
        customer = customers_of.get(mapping.object_id)
        if (
            customer is None  # gone: `upsert` finds one by e-mail or makes it
            or customer.pk in updated  # two ids mapped to one customer: in the page's order
            or customer.email.lower() != email.lower()  # `upsert` checks it is free
        ):
            del mapped[index]
            continue
        item = items[index]
        values = _values(item, email)
        changed = [name for name, value in values.items() if getattr(customer, name) != value]
        for name in changed:
            setattr(customer, name, values[name])
        if changed:
            customer.updated_at = now
            changed_fields.update(changed)
            dirty.append(customer)
        updated[customer.pk] = customer
        known = base.known_addresses(customer)
        billing = item.get("billing") if isinstance(item.get("billing"), dict) else {}
        _keep_address(customer, Address.Kind.BILLING, billing, known, addresses)
        _keep_address(customer, Address.Kind.SHIPPING, item.get("shipping"), known, addresses)
    if dirty:
        Customer.objects.bulk_update(dirty, [*sorted(changed_fields), "updated_at"])
    Address.objects.bulk_create(addresses)
    changed = []
    for index, (mapping, _, modified) in mapped.items():  # as `_remember`: only what moves
        newer = modified and (mapping.woo_modified_at is None or modified > mapping.woo_modified_at)
        if newer or mapping.deleted_upstream_at is not None:
            mapping.woo_modified_at = modified if newer else mapping.woo_modified_at
            mapping.deleted_upstream_at = None
            mapping.updated_at = now
            changed.append(mapping)
        results[index] = base.Outcome.applied()
    for index, (mapping, _, modified) in new.items():
        mapping.object_id = customers[index].pk
        if modified and (mapping.woo_modified_at is None or modified > mapping.woo_modified_at):
            mapping.woo_modified_at = modified
        mapping.deleted_upstream_at = None
        mapping.updated_at = now
        changed.append(mapping)
        results[index] = base.Outcome.applied()
    WooMapping.objects.bulk_update(
        changed, ["object_id", "woo_modified_at", "deleted_upstream_at", "updated_at"]
    )
    # A refused customer leaves no mapping, as `upsert`'s rolled back transaction would not.
    refused = [wanted[index] for index in wanted if isinstance(results[index], PayloadError)]
    if refused:
        WooMapping.objects.filter(
            store=store,
            resource=Resource.CUSTOMER,
            woo_id__in=refused,
            object_id__isnull=True,
            woo_modified_at__isnull=True,
            deleted_upstream_at__isnull=True,
            remote_status="",
        ).delete()
    return results
