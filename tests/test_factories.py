"""The factories keep one object graph inside one organization and within the models' rules."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from fulfillment.models import Batch, BatchLine, Shipment
from satisfaction.models import SatisfactionSurvey
from tests.factories import (
    BatchFactory,
    BatchLineFactory,
    ReturnRequestFactory,
    SatisfactionSurveyFactory,
    ShipmentFactory,
    SubscriptionFactory,
)


def test_a_batch_covers_the_week_before_its_cutoff(org_a):
    batch = BatchFactory(organization=org_a)

    assert batch.status == Batch.Status.OPEN
    assert batch.cutoff_at - batch.starts_at == timedelta(days=7)
    assert batch.ships_on == batch.cycle_date


def test_batches_of_one_organization_get_their_own_cycles(org_a):
    first = BatchFactory(organization=org_a, status=Batch.Status.LOCKED)
    second = BatchFactory(organization=org_a)

    assert first.cycle_date != second.cycle_date


def test_a_second_open_batch_of_one_organization_is_refused_by_the_database(org_a):
    BatchFactory(organization=org_a)

    with pytest.raises(IntegrityError), transaction.atomic():
        BatchFactory(organization=org_a)


def test_a_line_is_a_subscriber_of_its_batchs_organization_ready_once_paid(org_a):
    batch = BatchFactory(organization=org_a)

    line = BatchLineFactory(batch=batch)

    assert line.organization == line.subscription.organization == line.customer.organization
    assert line.organization == org_a
    assert (line.cycle, line.charge.cycle, line.charge.status) == (0, 0, "paid")
    assert line.status == BatchLine.Status.READY
    (item,) = line.items
    assert item["product"] == line.subscription.items.get().product_id


def test_a_line_of_a_cycle_not_charged_yet_awaits_payment(org_a):
    subscription = SubscriptionFactory(customer__organization=org_a, status="active")

    line = BatchLineFactory(batch__organization=org_a, subscription=subscription, cycle=1)

    assert (line.charge, line.status) == (None, BatchLine.Status.AWAITING_PAYMENT)


def test_a_shipment_is_a_shipped_line_of_a_dispatched_batch(org_a):
    shipment = ShipmentFactory(line__batch__organization=org_a, status=Shipment.Status.DELIVERED)

    assert shipment.organization == shipment.customer.organization == org_a
    assert shipment.batch == shipment.line.batch
    assert shipment.batch.status == Batch.Status.DISPATCHED
    assert shipment.line.status == BatchLine.Status.SHIPPED
    assert shipment.delivered_at is not None


def test_a_case_is_about_a_box_delivered_before_it_was_opened(org_a):
    case = ReturnRequestFactory(shipment__line__batch__organization=org_a)

    assert case.organization == case.shipment.organization == case.subscription.organization
    assert case.line == case.shipment.line
    assert case.subscription == case.line.subscription
    assert case.shipment.delivered_at < case.opened_at < case.due_at
    assert (case.status, case.reason.code, case.reason.organization) == (
        "requested",
        "damaged",
        org_a,
    )


def test_a_survey_is_about_a_delivered_box_and_answered_when_asked(org_a):
    scheduled = SatisfactionSurveyFactory(shipment__line__batch__organization=org_a)
    answered = SatisfactionSurveyFactory(
        shipment__line__batch__organization=org_a, status="answered", score=3
    )

    assert scheduled.organization == scheduled.customer.organization == org_a
    assert scheduled.send_at > scheduled.delivered_at == scheduled.shipment.delivered_at
    assert (scheduled.status, scheduled.sent_at, scheduled.score) == ("scheduled", None, None)
    assert (answered.status, answered.score) == (SatisfactionSurvey.Status.ANSWERED, 3)
    assert answered.sent_at < answered.answered_at < answered.expires_at
