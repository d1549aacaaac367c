"""A subscription's page shows its boxes: the batch each cycle went in and its parcel."""

from datetime import timedelta

import pytest
import time_machine

from core.actors import Actor
from fulfillment import services
from fulfillment.models import Shipment
from subscriptions import renewals
from tests.factories import SubscriptionFactory, billing_settings, open_batch
from tests.fulfillment.test_lock import CUTOFF

pytestmark = pytest.mark.django_db

STAFF = Actor.system("packing room")


def test_the_subscription_page_lists_its_boxes_with_their_tracking(
    admin_client_for, staff_user_a, org_a
):
    billing_settings(org_a)
    batch = open_batch(org_a, CUTOFF)
    subscription = SubscriptionFactory(
        customer__organization=org_a,
        status="active",
        billing_period="week",
        billing_anchor=CUTOFF - timedelta(days=9),
    )
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()
    services.lock_due_batches(now=CUTOFF + timedelta(minutes=1))
    line = batch.lines.get()
    services.line_prepare(line=line, actor=STAFF)
    services.batch_dispatch(batch=batch, actor=STAFF, carrier="Colissimo")
    shipment = Shipment.objects.get()
    services.shipment_update(shipment=shipment, actor=STAFF, tracking_number="6A0042")

    page = admin_client_for(staff_user_a).get(
        f"/admin/subscriptions/subscription/{subscription.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "Boxes" in html
    assert str(batch) in html
    assert "Colissimo" in html
    assert "6A0042" in html
