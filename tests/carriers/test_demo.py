"""`load_demo`: Purea Café's boxes labelled on the fictitious carrier platform."""

import pytest

from carriers.models import CarrierAccount, Parcel
from crm.models import Organization
from fulfillment.models import Batch, BatchLine
from tests.helpers import load_demo

pytestmark = pytest.mark.django_db


def test_the_demo_labels_last_weeks_prepared_boxes_on_the_fictitious_platform():
    output = load_demo()
    purea = Organization.objects.get(slug="purea-cafe")

    account = CarrierAccount.objects.get(organization=purea)
    assert account.platform == CarrierAccount.Platform.DEMO
    assert not account.has_keys  # no credentials
    batch = Batch.objects.filter(organization=purea, status=Batch.Status.LOCKED).latest("cutoff_at")
    prepared = batch.lines.filter(status=BatchLine.Status.PREPARED)
    labelled = Parcel.objects.filter(batch=batch, state=Parcel.State.LABELLED)
    assert prepared.count() > 0
    assert labelled.count() == prepared.count()
    assert all(p.tracking_number.startswith("DEMO") and p.tracking_url for p in labelled)
    assert set(labelled.values_list("carrier_status", flat=True)) == {"announced"}
    # The other organization has no carrier account: its staff keep the manual carrier.
    assert not CarrierAccount.objects.filter(organization__slug="maison-du-the").exists()
    assert f"{labelled.count()} boxes" in output

    # Loading again labels nothing twice and keeps the account.
    load_demo()
    assert Parcel.objects.filter(batch=batch).count() == prepared.count()
    assert CarrierAccount.objects.filter(organization=purea).count() == 1


def test_without_the_demo_platform_allowed_the_demo_configures_no_carrier(settings):
    settings.DEBUG = False
    settings.CARRIERS_DEMO_PLATFORM = False

    output = load_demo()

    assert not CarrierAccount.objects.exists()
    assert not Parcel.objects.exists()
    assert "Demo carrier: none for Purea Café" in output
