"""What an address said before an edit, and `field__any` for long id lists."""

import pytest

from crm.models import Address, AddressRevision, Customer
from tests.factories import AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def test_an_edit_in_place_keeps_what_the_address_said_before(org_a):
    address = AddressFactory(customer__organization=org_a, organization=org_a, line1="1 rue A")
    before = address.snapshot()
    address.save()  # nothing changed: nothing kept
    assert not AddressRevision.objects.exists()

    address.line1 = "2 rue B"
    address.save()

    revision = AddressRevision.objects.get()
    assert revision.address == address
    assert revision.before == before
    assert revision.before["line1"] == "1 rue A"
    assert revision.organization_id == org_a.pk
    assert Address.objects.get(pk=address.pk).line1 == "2 rue B"


def test_any_matches_a_list_sent_as_one_array(org_a):
    customers = [CustomerFactory(organization=org_a) for _ in range(3)]
    ids = [c.pk for c in customers[:2]]
    assert set(Customer.objects.filter(pk__any=ids)) == set(customers[:2])
    assert not Customer.objects.filter(pk__any=[]).exists()
    address = AddressFactory(customer=customers[0], organization=org_a)
    # Foreign keys too.
    assert list(Address.objects.filter(customer_id__any={customers[0].pk})) == [address]
    query = str(Customer.objects.filter(pk__any=ids).query)
    assert "= ANY(" in query
