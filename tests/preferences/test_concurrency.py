"""Writes at once on real PostgreSQL transactions: none is lost, none is recorded twice."""

import itertools

import pytest

from core.actors import Actor
from fulfillment.models import Batch
from fulfillment.services import batch_open_next
from preferences import selectors, services
from preferences.models import PreferenceChange, SubscriptionPreference
from tests.factories import OrganizationFactory, SubscriptionFactory, coffee_schema
from tests.threads import in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_partial_writes_of_different_fields_are_all_kept():
    # Given a subscription never written, and four writers each changing another field
    organization = OrganizationFactory()
    coffee_schema(organization)
    subscription = SubscriptionFactory(customer__organization=organization, status="active")
    writes = [{"grind": "espresso"}, {"roast": "dark"}, {"grams": 500}, {"note": "door"}]

    # When they all write at once (the first writes, so none has a row to lock yet)
    results = in_threads(
        len(writes),
        lambda i: services.preferences_update(
            subscription=subscription, values=writes[i], actor=Actor.system(), source="api"
        ),
    )

    # Then every write is in the values, each recorded once, in a chain of before/after
    assert not [r for r in results if isinstance(r, Exception)], results
    values = selectors.preferences_current(subscription=subscription)
    assert values == {
        "grind": "espresso",
        "roast": "dark",
        "grams": 500,
        "note": "door",
        "decaf": False,
    }
    assert SubscriptionPreference.objects.filter(subscription=subscription).count() == 1
    changes = list(PreferenceChange.objects.filter(subscription=subscription).order_by("id"))
    assert len(changes) == 4
    for earlier, later in itertools.pairwise(changes):
        assert later.old_values == earlier.new_values


def test_two_processes_opening_the_next_batch_at_once_create_one():
    organization = OrganizationFactory()
    results = in_threads(2, lambda _i: batch_open_next(organization=organization).pk)
    assert results[0] == results[1]
    assert Batch.objects.filter(organization=organization).count() == 1
