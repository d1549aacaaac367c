"""The relay: publishes stored deliveries to the broker outside the request.

The receiver stores a delivery `received` and answers; once its transaction
commits it hands the delivery's id to this process's relay (`submit`, a
`queue.Queue.put`: no I/O). One daemon thread per process takes what is waiting
in batches (up to `BATCH` at a time, gathered for `LINGER` after the first),
publishes them on one pooled broker connection, a message per queue and
`PER_MESSAGE` deliveries (`process_deliveries`), and marks the batch `queued` in
one UPDATE. So the shop's answer never waits on Redis, and a burst is published
at the broker's pace, in a few messages.

Nothing is lost when the relay cannot publish: the broker down (the batch
stays `received`), the process killed with ids still waiting in memory. Beat's
sweeper resends a delivery left `received` for `WOOCOMMERCE_RECEIVED_GRACE_SECONDS`
(docs/operations.md). A process that exits normally (gunicorn's graceful
restart) publishes what is waiting first (`atexit`, bounded by `EXIT_SECONDS`).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time

from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

BATCH = 200  # deliveries published, then marked queued, at a time
#: Deliveries per message: small enough that the workers share a burst between them (and
#: that a message redelivered after a worker died repeats little), large enough that a
#: burst is a few messages.
PER_MESSAGE = 10
#: How long the relay gathers what arrives after a first delivery before publishing: a
#: burst then goes as messages of ten, not one message per delivery as it trickles in,
#: for at most this much more delay (issue 26).
LINGER = 0.05
IDLE_SECONDS = 1.0  # an idle relay closes its database connection after this long
EXIT_SECONDS = 5.0  # at most this long spent publishing what waits when the process exits


class Relay:
    """This process's relay: `submit` from the request, one thread publishes."""

    def __init__(self) -> None:
        self._waiting: queue.Queue[tuple[int, str]] = queue.Queue()
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._busy = 0  # ids taken off the queue and not yet published or given up

    def submit(self, delivery_id: int, queue_name: str) -> None:
        """Publish this stored delivery soon (never blocks, never raises)."""
        self._ensure_thread()
        self._waiting.put((delivery_id, queue_name))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far was published (or given up); True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._waiting.unfinished_tasks == 0:
                return True
            time.sleep(0.005)
        return self._waiting.unfinished_tasks == 0

    # --- the thread ---------------------------------------------------------------

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            if self._pid is not None:  # forked with the parent's queue: start afresh
                self._waiting = queue.Queue()
            self._pid = pid
            threading.Thread(target=self._run, name="woocommerce-relay", daemon=True).start()

    def _take(self, wait: float) -> list[tuple[int, str]]:
        """What waits, once something does: up to `BATCH`, gathered for at most `LINGER`."""
        try:
            batch = [self._waiting.get(timeout=wait)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + LINGER
        while len(batch) < BATCH:
            try:
                batch.append(self._waiting.get(timeout=max(deadline - time.monotonic(), 0)))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take(IDLE_SECONDS)
            if not batch:
                connection.close()  # idle: hold no connection (nor a test database) open
                continue
            try:
                publish(batch)
            except Exception:  # the thread must outlive any error; the sweeper catches up
                logger.exception("relay: %d deliveries left for the sweeper", len(batch))
                connection.close()  # a connection PostgreSQL dropped is not reused
            finally:
                for _ in batch:
                    self._waiting.task_done()

    def drain_at_exit(self) -> None:
        if self._pid != os.getpid() or self._waiting.unfinished_tasks == 0:
            return
        self.flush(EXIT_SECONDS)


def publish(batch: list[tuple[int, str]]) -> int:
    """Publish these deliveries' tasks; mark the ones sent `queued`; how many were sent.

    One message per queue and `PER_MESSAGE` deliveries (`process_deliveries`): a burst
    costs the broker, and this process, a few messages instead of one per delivery,
    and is still shared by the workers in slices. A broker error stops the batch:
    what was not sent stays `received`.
    """
    from woocommerce.models import WebhookDelivery
    from woocommerce.tasks import PUBLISH_RETRY, process_deliveries

    by_queue: dict[str, list[int]] = {}
    for delivery_id, queue_name in batch:
        by_queue.setdefault(queue_name, []).append(delivery_id)
    sent: list[int] = []
    try:
        # The task's own app (the project's, config/celery.py): woocommerce never imports config.
        with process_deliveries.app.producer_or_acquire() as producer:
            for queue_name, ids in by_queue.items():
                for start in range(0, len(ids), PER_MESSAGE):
                    chunk = ids[start : start + PER_MESSAGE]
                    process_deliveries.apply_async(
                        (chunk,), queue=queue_name, retry_policy=PUBLISH_RETRY, producer=producer
                    )
                    sent.extend(chunk)
    except Exception:
        logger.warning(
            "relay: broker unavailable; %d deliveries wait for the sweeper", len(batch) - len(sent)
        )
    if sent:
        now = timezone.now()
        Status = WebhookDelivery.Status
        WebhookDelivery.objects.filter(pk__in=sent, status=Status.RECEIVED).update(
            status=Status.QUEUED, queued_at=now, updated_at=now
        )
    return len(sent)


relay = Relay()
atexit.register(relay.drain_at_exit)
