"""The demo's preferences: two organizations' own schemas, values with history, idempotent."""

import pytest

from crm.models import Organization
from fulfillment.models import Batch
from preferences import selectors
from preferences.models import PreferenceChange
from tests.helpers import load_demo

pytestmark = pytest.mark.django_db


def test_demo_preferences_are_per_organization_with_history_and_a_retired_choice():
    output = load_demo()
    purea = Organization.objects.get(slug="purea-cafe")
    tea = Organization.objects.get(slug="maison-du-the")

    assert "Demo preferences: 6 fields for Purea Café" in output
    assert [s.key for s in selectors.preference_schema(organization=tea)] == [
        "format",
        "caffeine_free",
    ]
    assert Batch.objects.filter(organization=purea, status="open").count() == 1
    assert Batch.objects.filter(organization=tea, status="open").count() == 1
    changes = PreferenceChange.objects.filter(organization=purea)
    assert changes.count() >= 5
    camille = changes.filter(subscription__customer__email="camille.martin@example.fr")
    assert camille.count() == 2
    # A subscriber still shows the grind retired since they chose it.
    turkish = changes.get(new_values__grind="turkish").subscription
    schema = selectors.preference_schema(organization=purea)
    values = selectors.preferences_current(subscription=turkish)
    grind = next(r for r in selectors.preference_rows(schema, values) if r.key == "grind")
    assert grind.display in ("Turque", "Turkish")

    before = PreferenceChange.objects.count()
    load_demo()
    assert PreferenceChange.objects.count() == before


def test_the_demo_shop_maps_its_grind_attribute_and_the_sync_wrote_it():
    load_demo()
    purea = Organization.objects.get(slug="purea-cafe")
    changes = PreferenceChange.objects.filter(organization=purea, source="woocommerce")
    assert changes.count() == 2  # the shop's two subscriptions
    assert {c.new_values["grind"] for c in changes} == {"espresso"}
    assert {c.actor_kind for c in changes} == {"woocommerce"}
