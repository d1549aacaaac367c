"""The demo's batches: three past weeks at every stage, and this week's open one."""

import pytest
from django.utils import timezone

from crm.models import Organization
from fulfillment.models import Batch, BatchLine, Shipment
from tests.helpers import load_demo

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_batch_at_every_stage_and_loads_twice_without_change():
    output = load_demo()
    purea = Organization.objects.get(slug="purea-cafe")
    every = list(Batch.objects.filter(organization=purea).order_by("cutoff_at"))
    batches = every[-4:]
    assert [b.status for b in batches] == ["completed", "dispatched", "locked", "open"]
    # Older weeks (the satisfaction demo's history) are all completed.
    assert {b.status for b in every[:-4]} <= {"completed"}
    assert batches[-1].cutoff_at > timezone.now() >= batches[-2].cutoff_at
    assert "Demo batches: 4 for Purea Café" in output
    # Real boxes with kilograms to roast, parcels on their way and delivered.
    locked = batches[2]
    statuses = set(locked.lines.values_list("status", flat=True))
    assert {"prepared", "ready"} <= statuses
    assert Shipment.objects.filter(batch=batches[1], status="shipped").exists()
    assert Shipment.objects.filter(batch=batches[1], status="delivered").exists()
    assert not Shipment.objects.filter(batch=batches[0]).exclude(status="delivered").exists()
    assert not Shipment.objects.exclude(line__charge__status="paid").exists()

    counts = (Batch.objects.count(), BatchLine.objects.count(), Shipment.objects.count())
    load_demo()
    assert (Batch.objects.count(), BatchLine.objects.count(), Shipment.objects.count()) == counts
