"""Tracking end to end: signed webhooks received over HTTP, applied by a real worker."""

from __future__ import annotations

import pytest

from carriers.models import CarrierDelivery
from fulfillment.models import Shipment
from tests.carriers.conftest import carrier_account
from tests.carriers.test_tracking import T1, T2, dispatched_boxes, payload, post
from tests.conftest import wait_until


@pytest.mark.celery_worker
def test_a_real_worker_applies_the_webhooks_in_the_carriers_order(celery_worker, client, org_a):
    account = carrier_account(org_a)
    first, second = dispatched_boxes(org_a, account, count=2)
    delivered = payload(first, message="Delivered", status_id=11, at=T2)
    bodies = [
        delivered,
        payload(first, message="At sorting centre", at=T1),  # older: recorded only
        delivered,  # a repeat: stored once
        payload(second, message="At sorting centre", at=T1),
    ]

    answers = [post(client, account, body).status_code for body in bodies]

    assert answers == [200, 200, 200, 200]
    done = wait_until(
        lambda: (
            CarrierDelivery.objects.count() == 3
            and not CarrierDelivery.objects.filter(status="received").exists()
        )
    )
    assert done, "".join(celery_worker.output[-30:])
    one = Shipment.objects.get(line_id=first.line_id)
    two = Shipment.objects.get(line_id=second.line_id)
    assert (one.status, one.delivered_at) == (Shipment.Status.DELIVERED, T2)
    assert (two.status, two.shipped_at) == (Shipment.Status.SHIPPED, T1)
    assert set(CarrierDelivery.objects.values_list("status", flat=True)) == {"processed"}
