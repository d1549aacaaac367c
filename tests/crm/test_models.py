"""Rules the CRM core enforces whatever the entry point (admin, API, sync)."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from crm import services
from crm.models import ApiKey, Contract, Customer, Organization
from tests.factories import (
    AddressFactory,
    ContractFactory,
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["Europe/Paris", "America/Montreal", "UTC"])
def test_an_iana_timezone_is_accepted(value):
    OrganizationFactory.build(timezone=value).full_clean(exclude=["slug"])


@pytest.mark.parametrize("value", ["Paris", "CET+1", "Europe/Pariss", ""])
def test_a_timezone_that_is_not_iana_is_refused(value):
    with pytest.raises(ValidationError) as excinfo:
        OrganizationFactory.build(timezone=value).full_clean()
    assert "timezone" in excinfo.value.message_dict


@pytest.mark.parametrize("value", ["eur", "EURO", "E1R"])
def test_a_currency_must_be_an_iso_code(value):
    with pytest.raises(ValidationError) as excinfo:
        OrganizationFactory.build(currency=value).full_clean()
    assert "currency" in excinfo.value.message_dict


def test_an_organization_knows_its_timezone():
    organization = OrganizationFactory(timezone="America/Montreal")
    assert organization.tzinfo.key == "America/Montreal"


def test_the_database_refuses_a_duplicate_sku_in_one_organization():
    product = ProductFactory(sku="ABC")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(organization=product.organization, sku="ABC")


def test_the_database_refuses_a_duplicate_email_whatever_its_case():
    customer = CustomerFactory(email="camille@example.fr")
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerFactory(organization=customer.organization, email="CAMILLE@example.fr")


def test_a_contract_cannot_end_before_it_starts():
    contract = ContractFactory.build(
        organization=OrganizationFactory(), customer=None, starts_on=date(2026, 5, 1)
    )
    contract.ends_on = contract.starts_on - timedelta(days=1)
    with pytest.raises(ValidationError):
        contract.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        contract.save()


def test_a_contract_without_a_customer_is_allowed():
    contract = Contract(organization=OrganizationFactory(), reference="FRAME-1")
    contract.full_clean()
    contract.save()
    assert contract.customer is None


def test_a_row_cannot_point_at_another_organizations_row():
    org_a, org_b = OrganizationFactory(), OrganizationFactory()
    their_customer = CustomerFactory(organization=org_b)

    address = AddressFactory.build(organization=org_a, customer=their_customer)
    contract = ContractFactory.build(organization=org_a, customer=their_customer)

    for row in (address, contract):
        with pytest.raises(ValidationError) as excinfo:
            row.full_clean()
        assert "customer" in excinfo.value.message_dict


def test_for_user_returns_only_the_users_organizations_rows():
    org_a, org_b = OrganizationFactory(), OrganizationFactory()
    mine, _theirs = CustomerFactory(organization=org_a), CustomerFactory(organization=org_b)
    user = UserFactory()
    user.memberships.create(organization=org_a)
    superuser = UserFactory(is_superuser=True)

    assert list(Customer.objects.for_user(user)) == [mine]
    assert Customer.objects.for_user(superuser).count() == 2
    assert list(Customer.objects.for_organization(org_b)) == [_theirs]


def test_an_inactive_member_sees_nothing():
    customer = CustomerFactory()
    user = UserFactory(is_active=False)
    user.memberships.create(organization=customer.organization)

    assert not Customer.objects.for_user(user).exists()


def test_service_errors_name_the_field_and_write_nothing():
    organization = OrganizationFactory()

    with pytest.raises(ApplicationError) as excinfo:
        services.customer_create(organization=organization, email="not-an-email")

    assert "email" in excinfo.value.extra["fields"]
    assert not Customer.objects.exists()


def test_recording_an_api_key_use_only_moves_forward():
    api_key, _key = services.api_key_create(
        organization=OrganizationFactory(), name="shop", scope=ApiKey.Scope.READ
    )
    later = timezone.now()
    earlier = later - timedelta(minutes=5)

    services.api_key_record_use(api_key_id=api_key.pk, used_at=later)
    services.api_key_record_use(api_key_id=api_key.pk, used_at=earlier)  # a late task

    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == later


def test_organization_slugs_are_unique():
    OrganizationFactory(slug="purea")
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(name="Copy", slug="purea")
