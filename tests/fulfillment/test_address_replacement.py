"""A customer's addresses replaced through the API: every box keeps the address in force at its
cut-off.

The bug: `PATCH /api/v1/customers/{id}/` with `addresses` deleted the customer's addresses and
created new ones. The subscription's shipping address was set to null on the way (no event), so
the open batch's packing slips had empty address columns for that customer, and a batch whose
cut-off had passed lost the address it should have shipped to. Now the rows are edited in place
(each edit kept as an `AddressRevision`), so the subscription still points at its address and a
batch reads it as it stood at its cut-off.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.models import Address, AddressRevision, Membership
from fulfillment.models import Batch, BatchLine
from fulfillment.services import lock_due_batches
from subscriptions import renewals
from subscriptions.models import Subscription
from tests.factories import (
    AddressFactory,
    CustomerFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    member,
    open_batch,
)
from tests.fulfillment.test_exports import read_csv, url

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
OLD = {
    "kind": "shipping",
    "name": "Bob Durand",
    "line1": "8 quai Rambaud",
    "postcode": "69002",
    "city": "Lyon",
    "country": "FR",
}
NEW = {**OLD, "line1": "12 rue Neuve", "postcode": "69001"}


@pytest.fixture
def bob(org_a):
    """Bob, due in the batch closing at CUTOFF (a weekly cycle starting on the Monday before)."""
    billing_settings(org_a)
    customer = CustomerFactory(organization=org_a, first_name="Bob", last_name="Durand")
    address = AddressFactory(customer=customer, **OLD)
    subscription = SubscriptionFactory(
        customer=customer,
        status="active",
        billing_period="week",
        billing_anchor=CUTOFF - timedelta(days=9),
        shipping_address=address,
        items=[(ProductFactory(organization=org_a), 1)],
    )
    batch = open_batch(org_a, CUTOFF)
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()  # the cycle is charged and paid: the box is ready
    return subscription, address, batch


def packing_slip_address(client, batch):
    header, *rows = read_csv(client.get(url(batch, "packing-slips.csv"), **EN))
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    return row["Address line 1"], row["Postcode"], row["City"]


def test_addresses_replaced_before_the_cutoff_are_on_the_open_batchs_packing_slips(
    bob, org_a, api_client_for, admin_client_for, staff_user_a
):
    subscription, address, batch = bob
    api = api_client_for(org_a)

    # When an integration replaces Bob's addresses before the cut-off
    with time_machine.travel(CUTOFF - timedelta(hours=2), tick=False):
        response = api.patch(
            f"/api/v1/customers/{subscription.customer_id}/", {"addresses": [NEW]}, format="json"
        )
        assert response.status_code == 200, response.content

        # Then the subscription still ships to the same row, now saying the new address
        subscription.refresh_from_db()
        assert subscription.shipping_address_id == address.pk
        assert Address.objects.get(pk=address.pk).line1 == "12 rue Neuve"
        assert response.json()["addresses"][0]["id"] == address.pk

    # And the open batch's packing slips carry it (they were empty)
    with time_machine.travel(CUTOFF - timedelta(hours=1), tick=False):
        slips = packing_slip_address(admin_client_for(staff_user_a), batch)
        assert slips == ("12 rue Neuve", "69001", "Lyon")

    # And once locked, the box keeps it
    with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
        lock_due_batches()
    line = BatchLine.objects.get(batch=batch, subscription=subscription)
    assert line.address["line1"] == "12 rue Neuve"


def test_addresses_replaced_after_the_cutoff_leave_the_box_with_the_old_one(
    bob, org_a, api_client_for, admin_client_for, staff_user_a
):
    subscription, address, batch = bob

    # When the addresses are replaced a second after the cut-off, before the lock task runs
    with time_machine.travel(CUTOFF + timedelta(seconds=1), tick=False):
        response = api_client_for(org_a).patch(
            f"/api/v1/customers/{subscription.customer_id}/", {"addresses": [NEW]}, format="json"
        )
        assert response.status_code == 200, response.content
    with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
        lock_due_batches()

    # Then the box ships where Bob lived at the cut-off, on the slips as in the line
    batch.refresh_from_db()
    assert batch.status == Batch.Status.LOCKED
    line = BatchLine.objects.get(batch=batch, subscription=subscription)
    assert (line.address["line1"], line.address["postcode"]) == ("8 quai Rambaud", "69002")
    slips = packing_slip_address(admin_client_for(staff_user_a), batch)
    assert slips == ("8 quai Rambaud", "69002", "Lyon")
    # And the edit is on record, the new address in force for the next batch
    assert AddressRevision.objects.get(address=address).before["line1"] == "8 quai Rambaud"
    subscription.refresh_from_db()
    assert subscription.shipping_address.line1 == "12 rue Neuve"


def test_sending_the_same_addresses_again_changes_nothing(bob, org_a, api_client_for):
    subscription, address, _batch = bob
    billing = {**OLD, "kind": "billing", "line1": "1 place Bellecour"}

    response = api_client_for(org_a).patch(
        f"/api/v1/customers/{subscription.customer_id}/",
        {"addresses": [billing, OLD]},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert not AddressRevision.objects.exists()
    rows = Address.objects.filter(customer_id=subscription.customer_id)
    assert sorted(rows.values_list("kind", "line1")) == [
        ("billing", "1 place Bellecour"),
        ("shipping", "8 quai Rambaud"),
    ]
    assert rows.get(kind="shipping").pk == address.pk


def test_extra_addresses_are_created_and_unused_ones_deleted(bob, org_a, api_client_for):
    subscription, address, _batch = bob
    spare = AddressFactory(customer=subscription.customer, kind="billing", line1="Spare")
    second = {**NEW, "line1": "3 rue Seconde"}

    response = api_client_for(org_a).patch(
        f"/api/v1/customers/{subscription.customer_id}/",
        {"addresses": [OLD, second]},
        format="json",
    )

    assert response.status_code == 200, response.content
    rows = Address.objects.filter(customer_id=subscription.customer_id).order_by("id")
    assert [(a.kind, a.line1) for a in rows] == [
        ("shipping", "8 quai Rambaud"),
        ("shipping", "3 rue Seconde"),
    ]
    assert rows[0].pk == address.pk
    assert not Address.objects.filter(pk=spare.pk).exists()


@pytest.mark.parametrize(
    "addresses", [[], [{**OLD, "kind": "billing"}]], ids=["none", "only-billing"]
)
def test_removing_the_address_a_subscription_ships_to_is_refused_and_changes_nothing(
    bob, org_a, api_client_for, addresses
):
    subscription, address, _batch = bob
    before = list(Address.objects.values_list("pk", "kind", "line1"))

    response = api_client_for(org_a).patch(
        f"/api/v1/customers/{subscription.customer_id}/",
        {"first_name": "Robert", "addresses": addresses},
        format="json",
    )

    assert response.status_code == 409  # valid input, refused by what uses the address
    body = response.json()
    (error,) = body["extra"]["fields"]["addresses"]
    assert body["message"] == error
    assert "8 quai Rambaud" in error
    assert f"#{subscription.pk}" in error
    assert list(Address.objects.values_list("pk", "kind", "line1")) == before
    subscription.refresh_from_db()
    assert subscription.shipping_address_id == address.pk
    assert subscription.customer.first_name == "Bob"


def test_the_admin_refuses_to_delete_the_address_a_subscription_ships_to(
    bob, org_a, admin_client_for
):
    subscription, address, _batch = bob
    customer = subscription.customer
    form = {
        "organization": customer.organization_id,
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "phone": "",
        "language": customer.language,
        "addresses-TOTAL_FORMS": "1",
        "addresses-INITIAL_FORMS": "1",
        "addresses-MIN_NUM_FORMS": "0",
        "addresses-MAX_NUM_FORMS": "1000",
        "addresses-0-id": address.pk,
        "addresses-0-customer": customer.pk,
        "addresses-0-DELETE": "on",
        **{f"addresses-0-{k}": v for k, v in OLD.items()},
        "notes-TOTAL_FORMS": "0",
        "notes-INITIAL_FORMS": "0",
    }

    organization_admin = member(org_a, Membership.Role.ADMIN)  # who may delete addresses

    response = admin_client_for(organization_admin).post(
        f"/admin/crm/customer/{customer.pk}/change/", form, **EN
    )

    assert response.status_code == 200  # the form again, with the error
    assert "would require deleting the following protected related objects" in response.text
    assert Address.objects.filter(pk=address.pk).exists()
    assert Subscription.objects.get(pk=subscription.pk).shipping_address_id == address.pk
