"""Staff notes over the API: what an integration writes, staff read on the customer's page."""

from __future__ import annotations

import pytest

from crm.models import ApiKey
from tests.factories import CustomerFactory, SubscriptionFactory, api_key_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", ["customers", "subscriptions"])
def test_a_note_written_by_a_key_is_read_back_newest_first_with_its_author(
    org_a, api_client_for, kind
):
    subscription = SubscriptionFactory(customer=CustomerFactory(organization=org_a))
    row = subscription.customer if kind == "customers" else subscription
    client = api_client_for(org_a)
    url = f"/api/v1/{kind}/{row.pk}/notes/"

    first = client.post(url, {"text": "  Called about the grind  "})
    second = client.post(url, {"text": "Wants decaf from March"})

    assert first.status_code == 201
    assert first.json()["text"] == "Called about the grind"
    assert first.json()["author"] == "API key: integration"
    listed = client.get(url).json()["results"]
    assert [note["text"] for note in listed] == ["Wants decaf from March", "Called about the grind"]
    assert listed[0]["id"] == second.json()["id"]


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "   "}, {"text": "x" * 2001}])
def test_an_empty_or_overlong_note_is_refused_in_the_error_shape(org_a, api_client_for, body):
    customer = CustomerFactory(organization=org_a)

    response = api_client_for(org_a).post(f"/api/v1/customers/{customer.pk}/notes/", body)

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["text"]
    assert not customer.notes.exists()


def test_a_read_only_key_reads_notes_but_cannot_write_one(org_a):
    from rest_framework.test import APIClient

    customer = CustomerFactory(organization=org_a)
    _row, key = api_key_for(org_a, scope=ApiKey.Scope.READ)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert client.get(f"/api/v1/customers/{customer.pk}/notes/").status_code == 200
    assert client.post(f"/api/v1/customers/{customer.pk}/notes/", {"text": "x"}).status_code == 403
    assert not customer.notes.exists()


def test_another_organizations_customer_is_not_found_and_gets_no_note(org_a, org_b, api_client_for):
    customer = CustomerFactory(organization=org_a)
    client = api_client_for(org_b)

    assert client.get(f"/api/v1/customers/{customer.pk}/notes/").status_code == 404
    assert client.post(f"/api/v1/customers/{customer.pk}/notes/", {"text": "x"}).status_code == 404
    assert not customer.notes.exists()
