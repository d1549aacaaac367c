"""The reconciliation's first import applies a page in bulk (issue 26): the same CRM rows as
the same payloads sent as webhooks, with as many statements for 100 items as for 10."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Address, Customer
from tests.woocommerce.conftest import sample
from woocommerce import handlers
from woocommerce.models import Resource, WooMapping
from woocommerce.reconcile import apply_page

pytestmark = pytest.mark.django_db


def customer_payload(n: int, **changes) -> dict:
    payload = sample("customer")
    payload.update(
        id=1000 + n,
        email=f"client.{n}@example.com",
        first_name=f"Prénom{n}",
        last_name=f"Nom{n}",
        date_modified_gmt=f"2025-03-01T10:{n // 60:02d}:{n % 60:02d}",
    )
    payload["billing"] = {
        **payload["billing"],
        "address_1": f"{n} rue du Marché",
        "phone": f"06{n:08d}",
    }
    payload["shipping"] = {**payload["shipping"], "address_1": f"{n} rue du Port"}
    payload.update(changes)
    return payload


def customers(count: int) -> list[dict]:
    return [customer_payload(n) for n in range(count)]


def crm_rows(organization) -> dict:
    """What the CRM keeps of the shop's customers, without ids or times of writing."""
    return {
        "customers": sorted(
            Customer.objects.filter(organization=organization).values_list(
                "email", "first_name", "last_name", "phone", "language"
            )
        ),
        "addresses": sorted(
            Address.objects.filter(organization=organization).values_list(
                "customer__email", "kind", "name", "company", "line1", "line2",
                "postcode", "city", "state", "country", "phone",
            )
        ),
        "mappings": sorted(
            (m.woo_id, m.object_id and Customer.objects.get(pk=m.object_id).email,
             m.woo_modified_at, m.deleted_upstream_at, m.remote_status)
            for m in WooMapping.objects.filter(
                organization=organization, resource=Resource.CUSTOMER
            )
        ),
    }  # fmt: skip


def as_webhooks(store, items) -> list[str]:
    """Each item applied as the worker applies a delivery, one transaction each."""
    from woocommerce.payloads import PayloadError

    outcomes = []
    for item in items:
        try:
            with transaction.atomic():
                outcomes.append(handlers.apply(store, "customer", "reconciled", item).status)
        except PayloadError:
            outcomes.append("failed")
    return outcomes


def statements_of_a_page(store, items) -> int:
    with CaptureQueriesContext(connection) as captured:
        outcomes = apply_page(store, "customer", items)
    assert set(outcomes) == {"processed"}, outcomes
    return len(captured.captured_queries)


def test_a_page_of_new_customers_costs_the_same_statements_for_10_or_100(store, org_a):
    store.organization  # read once, as the reconciliation has it  # noqa: B018

    ten = statements_of_a_page(store, customers(10))
    Customer.objects.all().delete()
    WooMapping.objects.all().delete()
    hundred = statements_of_a_page(store, customers(100))

    assert ten == hundred, (ten, hundred)
    assert hundred <= 10
    assert Customer.objects.filter(organization=org_a).count() == 100
    assert Address.objects.filter(organization=org_a).count() == 200


def mixed_page() -> list[dict]:
    """New customers, and what the bulk path leaves to the handler or refuses."""
    page = customers(6)
    page.append(customer_payload(6, email="not-an-address"))  # refused
    page.append(customer_payload(7, email="CLIENT.1@example.com"))  # an e-mail seen above
    page.append(customer_payload(8, email="known@example.com"))  # the CRM has it already
    page.append(customer_payload(9, shipping={}, billing={"email": "x@example.com"}))  # none
    page.append(customer_payload(10, id=1003))  # the same id twice: the later one applies
    page.append({"code": "woocommerce_rest_invalid_id", "message": "Invalid ID."})
    return page


def test_a_page_applied_in_bulk_gives_the_rows_webhooks_give(store, org_a):
    page = mixed_page()
    Customer.objects.create(organization=org_a, email="known@example.com", first_name="Kim")
    bulk = apply_page(store, "customer", page)
    bulk_rows = crm_rows(org_a)

    Customer.objects.all().delete()
    WooMapping.objects.all().delete()
    Customer.objects.create(organization=org_a, email="known@example.com", first_name="Kim")
    webhooks = as_webhooks(store, page)

    assert crm_rows(org_a) == bulk_rows
    assert [o.partition(":")[0] for o in bulk] == webhooks
    assert webhooks.count("failed") == 1
    assert len(bulk_rows["customers"]) == 8  # two linked to a customer met before


def test_a_second_run_over_the_same_page_changes_nothing(store, org_a):
    page = customers(5)
    apply_page(store, "customer", page)
    before = crm_rows(org_a)

    again = apply_page(store, "customer", page)

    assert again == ["ignored"] * 5  # unchanged since the version applied
    assert crm_rows(org_a) == before


def test_a_customer_the_crm_mirrors_is_updated_by_the_page(store, org_a):
    apply_page(store, "customer", customers(3))
    changed = customer_payload(1, first_name="Camille", date_modified_gmt="2025-04-01T00:00:00")

    outcomes = apply_page(store, "customer", [*customers(3)[:1], changed])

    assert outcomes == ["ignored", "processed"]
    assert Customer.objects.get(email="client.1@example.com").first_name == "Camille"
    assert Customer.objects.filter(organization=org_a).count() == 3
