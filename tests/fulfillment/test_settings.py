"""An organization's fulfillment settings, written by `fulfillment_settings_update`."""

from datetime import time

import pytest

from core.errors import ApplicationError
from fulfillment import services
from fulfillment.models import FulfillmentSettings

pytestmark = pytest.mark.django_db


def test_the_settings_row_is_created_then_changed(org_a):
    created = services.fulfillment_settings_update(
        organization=org_a, cutoff_weekday=4, cutoff_time=time(18, 30)
    )
    changed = services.fulfillment_settings_update(
        organization=org_a, unpaid_lines="exclude", default_carrier="Colissimo"
    )

    assert created.pk == changed.pk
    row = FulfillmentSettings.objects.get(organization=org_a)
    assert (row.cutoff_weekday, row.cutoff_time, row.unpaid_lines, row.default_carrier) == (
        4,
        time(18, 30),
        "exclude",
        "Colissimo",
    )


def test_an_invalid_value_is_refused_and_changes_nothing(org_a):
    services.fulfillment_settings_update(organization=org_a, shipping_offset_days=2)

    with pytest.raises(ApplicationError) as refused:
        services.fulfillment_settings_update(
            organization=org_a, shipping_offset_days=9, default_carrier="DHL"
        )

    assert set(refused.value.extra["fields"]) == {"shipping_offset_days"}
    row = FulfillmentSettings.objects.get(organization=org_a)
    assert (row.shipping_offset_days, row.default_carrier) == (2, "")


def test_only_settings_may_be_set(org_a, org_b):
    with pytest.raises(TypeError):
        services.fulfillment_settings_update(organization=org_a, organization_id=org_b.pk)
    assert not FulfillmentSettings.objects.exists()
