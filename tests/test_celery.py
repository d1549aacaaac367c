"""The job queue end to end: a real worker process on the real Redis."""

import pytest
from django.utils import timezone

from crm.models import ApiKey
from tests.conftest import broker, wait_until


@pytest.mark.celery_worker
def test_worker_records_api_key_use_in_postgresql(celery_worker, org_a, api_client_for):
    client = api_client_for(org_a)
    api_key = ApiKey.objects.get(organization=org_a)
    assert api_key.last_used_at is None
    before = timezone.now()

    response = client.get("/api/v1/products/")

    assert response.status_code == 200
    # The request only enqueued the write; the worker process performs it.
    used_at = wait_until(
        lambda: ApiKey.objects.values_list("last_used_at", flat=True).get(pk=api_key.pk)
    )
    assert used_at is not None, "".join(celery_worker.output[-30:])
    assert used_at >= before


def test_settings_keep_tasks_off_eager_and_reliable(settings):
    assert settings.CELERY_TASK_ALWAYS_EAGER is False
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_while_the_broker_is_down(org_a, api_client_for, caplog):
    client = api_client_for(org_a)
    with broker("redis://127.0.0.1:1/0"):  # nothing listens on port 1
        response = client.get("/api/v1/products/")

    assert response.status_code == 200
    assert "could not enqueue crm.tasks.record_api_key_use" in caplog.text
