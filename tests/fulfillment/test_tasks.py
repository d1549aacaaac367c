"""The lock task as beat sends it, run by a real worker on the real broker."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from fulfillment import tasks
from fulfillment.models import Batch, BatchLine, FulfillmentSettings
from tests.conftest import wait_until
from tests.factories import SubscriptionFactory, open_batch


@pytest.mark.celery_worker
def test_the_worker_locks_a_batch_whose_cutoff_passed_and_opens_the_next(celery_worker, org_a):
    # Given an open batch whose cut-off passed a minute ago (beat was down), one box due
    now = timezone.now()
    batch = open_batch(org_a, now - timedelta(minutes=1))
    subscription = SubscriptionFactory(
        customer__organization=org_a,
        status="active",
        billing_period="week",
        billing_anchor=now - timedelta(days=1),
    )

    # When beat sends the task
    tasks.lock_due_batches.delay()

    # Then the worker locks it with its line, and the next batch opens
    def locked():
        batch.refresh_from_db()
        return batch.status == Batch.Status.LOCKED

    assert wait_until(locked), "".join(celery_worker.output[-30:])
    line = BatchLine.objects.get(batch=batch)
    assert (line.subscription_id, line.cycle, line.status) == (subscription.pk, 0, "ready")
    assert Batch.objects.filter(organization=org_a, status="open").count() == 1


@pytest.mark.django_db
def test_an_organization_with_settings_but_no_open_batch_gets_one(org_a):
    FulfillmentSettings.objects.create(organization=org_a)
    result = tasks.lock_due_batches()
    assert result["opened"] == 1
    batch = Batch.objects.get(organization=org_a)
    assert (batch.status, batch.cutoff_at > timezone.now()) == ("open", True)
    assert tasks.lock_due_batches()["opened"] == 0


def test_beat_runs_the_lock_task_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["fulfillment-lock-due-batches"]
    assert entry["task"] == tasks.lock_due_batches.name
    assert entry["schedule"] == 60
