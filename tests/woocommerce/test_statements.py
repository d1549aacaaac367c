"""Statements per event (issue 26): what one delivery costs the database, counted."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Address, Customer
from tests.woocommerce.conftest import later, sample
from woocommerce import handlers

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE")


def run(store, payload, event="updated") -> list[str]:
    """Apply a customer payload as the worker does; the statements it ran."""
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        outcome = handlers.apply(store, "customer", event, payload)
    assert outcome.status == "processed", outcome.message
    return [query["sql"] for query in captured.captured_queries]


def writes(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.lstrip().upper().startswith(WRITES)]


@pytest.fixture
def known(apply, store):
    """A customer the CRM has from an earlier delivery (both addresses)."""
    payload = sample("customer")
    apply("customer.updated", payload)
    return payload


def test_a_changed_name_costs_at_most_six_statements(store, known):
    statements = run(store, later(known, first_name="Johnny"))

    assert len(statements) <= 6, statements
    assert Customer.objects.get().first_name == "Johnny"
    # Only the changed column and the mapping's modification time are written.
    assert len(writes(statements)) == 2, writes(statements)
    assert '"first_name"' in writes(statements)[0]
    assert '"last_name"' not in writes(statements)[0]


def test_a_moved_shipping_address_costs_at_most_six_statements(store, known):
    moved = later(known)
    moved["shipping"] = {**moved["shipping"], "address_1": "12 rue Neuve"}

    statements = run(store, moved)

    assert len(statements) <= 6, statements
    assert Customer.objects.get().addresses.filter(line1="12 rue Neuve").exists()
    assert Address.objects.count() == 3  # the old one kept for what shipped there


def test_a_newer_payload_changing_nothing_writes_nothing_the_crm_keeps(store, known):
    statements = run(store, later(known))

    assert len(statements) <= 4, statements
    # Only the mapping's modification time moves on (so a late older payload is ignored).
    assert len(writes(statements)) == 1, writes(statements)
    assert "woocommerce_woomapping" in writes(statements)[0]


def test_the_same_version_again_writes_nothing_at_all(store, known):
    statements = run(store, known)

    assert writes(statements) == []
    assert len(statements) == 3, statements


def test_a_customer_known_by_another_e_mail_is_still_refused_a_taken_one(store, known):
    from tests.factories import CustomerFactory
    from woocommerce.payloads import PayloadError

    CustomerFactory(organization=store.organization, email="taken@example.com")

    with pytest.raises(PayloadError, match="another customer"), transaction.atomic():
        handlers.apply(store, "customer", "updated", later(known, email="Taken@example.com"))
    assert Customer.objects.filter(email__iexact="taken@example.com").count() == 1
