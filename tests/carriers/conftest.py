"""A locked batch of prepared boxes and an organization's Sendcloud account, built fast."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carriers.models import CarrierAccount, CountryShippingMethod
from fulfillment.models import BatchLine
from tests.carriers.fake_sendcloud import FakeSendcloud
from tests.factories import ProductFactory, SubscriptionFactory, VariantFactory, open_batch

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)


def carrier_account(organization, **fields) -> CarrierAccount:
    values = {
        "public_key": "pk-test",
        "secret_key": "sk-test",
        "shipping_method": "colissimo:home",
        "sender_address_id": 192,
        "packaging_grams": 150,
    }
    values.update(fields)
    return CarrierAccount.objects.create(organization=organization, **values)


def address(n: int, country: str = "FR") -> dict[str, str]:
    return {
        "name": f"Client {n}",
        "company": "",
        "line1": f"{n} rue des Lilas",
        "line2": "",
        "postcode": f"{75000 + n % 1000:05d}",
        "city": "Paris",
        "state": "",
        "country": country,
        "phone": "",
    }


def prepared_boxes(organization, count: int, *, cutoff=CUTOFF):
    """A locked batch with `count` prepared boxes (one subscription's cycles, to stay fast):
    box n holds n % 3 + 1 bags of 250 g and one 1 kg bag; one box in ten goes to Belgium."""
    batch = open_batch(organization, cutoff, status="locked")
    bag = VariantFactory(product=ProductFactory(organization=organization), net_weight_grams=250)
    big = VariantFactory(product=bag.product, net_weight_grams=1000)
    subscription = SubscriptionFactory(customer__organization=organization, status="active")

    def items(n):
        return [
            {
                "product": bag.product_id,
                "variant": bag.pk,
                "sku": bag.sku,
                "name": "Bag 250 g",
                "weight_grams": 250,
                "quantity": n % 3 + 1,
            },
            {
                "product": big.product_id,
                "variant": big.pk,
                "sku": big.sku,
                "name": "Bag 1 kg",
                "weight_grams": 1000,
                "quantity": 1,
            },
        ]

    lines = BatchLine.objects.bulk_create(
        BatchLine(
            organization=organization,
            batch=batch,
            subscription=subscription,
            customer=subscription.customer,
            cycle=n,
            status=BatchLine.Status.PREPARED,
            address=address(n, "BE" if n % 10 == 0 else "FR"),
            items=items(n),
        )
        for n in range(1, count + 1)
    )
    return batch, lines


def expected_grams(n: int, packaging: int = 150) -> int:
    return 250 * (n % 3 + 1) + 1000 + packaging


@pytest.fixture
def sendcloud():
    with FakeSendcloud() as fake:
        yield fake


@pytest.fixture
def account_a(org_a):
    account = carrier_account(org_a)
    CountryShippingMethod.objects.create(
        organization=org_a, account=account, country="BE", shipping_method="bpost:home"
    )
    return account
