"""Demo batches for `manage.py load_demo`: three past weeks and the open one.

Everything goes through the services with the clock passed explicitly, as
the beat task and the packing room would have done it:

- three weeks ago: locked at its cut-off, prepared, dispatched, delivered:
  completed;
- two weeks ago: dispatched, a few parcels still on their way;
- last week: locked, half of the paid boxes prepared (the packing room is at it);
- this week: open, its content a live preview.

Rows the services stamp with the load's time (a batch's creation, its lines',
the bulk packing) are dated when the story had them written (`date_week`).
Net weights are set on the demo products so the production plan shows
kilograms. Idempotent: an organization that has batches already gets none.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from core.actors import Actor
from crm.models import Organization, Product
from fulfillment import services
from fulfillment.models import Batch, BatchLine, FulfillmentSettings, Shipment

WEIGHTS = {"250": 250, "500": 500, "1KG": 1000}


def load(*, organization: Organization, staff, carrier: str = "Colissimo") -> dict[str, int]:
    """The organization's settings and batches. Returns counts for the summary."""
    FulfillmentSettings.objects.get_or_create(
        organization=organization, defaults={"default_carrier": carrier}
    )
    for product in Product.objects.filter(organization=organization, net_weight_grams=None):
        grams = WEIGHTS.get(product.sku.rsplit("-", 1)[-1])
        if grams:
            Product.objects.filter(pk=product.pk).update(net_weight_grams=grams)
    if Batch.objects.filter(organization=organization).exists():
        return {"batches": 0, "lines": 0, "shipments": 0}
    actor = Actor.for_user(staff) if staff else Actor.system("demo")
    now = timezone.now()
    batch = services.batch_open_next(organization=organization, now=now - timedelta(days=21))
    for stage in ("completed", "dispatched", "locked"):
        cutoff = batch.cutoff_at
        if cutoff > now:
            break
        services.batch_lock(batch=batch, actor=actor, now=cutoff + timedelta(minutes=1))
        _work(batch, stage, actor, carrier, cutoff)
        batch = Batch.objects.get(organization=organization, status=Batch.Status.OPEN)
    return {
        "batches": Batch.objects.filter(organization=organization).count(),
        "lines": BatchLine.objects.filter(organization=organization).count(),
        "shipments": Shipment.objects.filter(organization=organization).count(),
    }


def date_week(batch: Batch, packed_at: datetime) -> None:
    """Date a past batch's rows when they were written: opened at its start, its lines at
    the lock, its boxes packed at `packed_at` (written at load time, with the clock)."""
    Batch.objects.filter(pk=batch.pk).update(created_at=batch.starts_at)
    lines = BatchLine.objects.filter(batch=batch)
    lines.filter(created_at__gt=batch.cutoff_at).update(created_at=batch.cutoff_at)
    lines.filter(prepared_at__gt=packed_at).update(prepared_at=packed_at)


def _work(batch: Batch, stage: str, actor: Actor, carrier: str, cutoff: datetime) -> None:
    ready = list(
        batch.lines.filter(status=BatchLine.Status.READY)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    if stage == "locked":
        ready = ready[: len(ready) // 2]
    services.lines_prepare(organization=batch.organization, line_ids=ready, actor=actor)
    # Packed the afternoon after the cut-off (the bulk action stamps the load's time).
    packed_at = min(cutoff + timedelta(hours=4), cutoff + (timezone.now() - cutoff) / 2)
    date_week(batch, packed_at)
    if stage == "locked":
        return
    shipped_at = cutoff + timedelta(days=1)
    services.batch_dispatch(batch=batch, actor=actor, carrier=carrier, now=shipped_at)
    shipments = list(batch.shipments.order_by("id"))
    for index, shipment in enumerate(shipments):
        services.shipment_update(
            shipment=shipment, actor=actor, tracking_number=f"6A{batch.pk:03d}{shipment.pk:07d}"
        )
        services.shipment_transition(shipment=shipment, action="ship", actor=actor, at=shipped_at)
        if stage == "completed" or index % 3:
            services.shipment_transition(
                shipment=shipment,
                action="deliver",
                actor=actor,
                at=shipped_at + timedelta(days=2),
            )
