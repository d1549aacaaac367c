"""Locking a batch at its cut-off: who is in it, what each box holds, exactly once."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from fulfillment.models import Batch, BatchLine
from fulfillment.services import lock_due_batches
from subscriptions import renewals
from tests.factories import (
    SubscriptionFactory,
    billing_settings,
    open_batch,
)

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris


def weekly(org, anchor, **kwargs):
    return SubscriptionFactory(
        customer__organization=org,
        status="active",
        billing_period="week",
        billing_anchor=anchor,
        **kwargs,
    )


def test_smoke_lock_writes_one_line_per_due_cycle(org_a):
    billing_settings(org_a)
    batch = open_batch(org_a, CUTOFF)
    due = weekly(org_a, CUTOFF - timedelta(days=9))  # cycle 1 starts Monday, in the window
    new = weekly(org_a, CUTOFF - timedelta(days=6, hours=23))  # its cycle 0 is in the window
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()
    with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
        report = lock_due_batches()
        again = lock_due_batches()
    batch.refresh_from_db()
    assert batch.status == Batch.Status.LOCKED
    assert report.locked == [batch.pk] and again.locked == []
    lines = list(BatchLine.objects.filter(batch=batch))
    assert [(l.subscription_id, l.cycle, l.status) for l in lines] == [
        (due.pk, 1, "ready"),
        (new.pk, 0, "ready"),
    ]
    assert lines[0].items[0]["quantity"] == 1
    nxt = Batch.objects.get(organization=org_a, status="open")
    assert nxt.starts_at == CUTOFF and nxt.cutoff_at == CUTOFF + timedelta(days=7)
