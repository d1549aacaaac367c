"""The WooCommerce webhook path: the receiver under gunicorn, and one worker applying deliveries.

In a scratch database (created, migrated and dropped here, like
bench/renewals.py), one organization with one shop, and the real Redis broker
of REDIS_URL under this run's key prefix (`test-<TEST_RUN_ID>:`, see
config/settings/test.py; every process started here inherits TEST_RUN_ID, so
no other worker on the same Redis takes these messages). Then, in the same run:

1. The receiver. A real WSGI server (gunicorn, 2 sync workers, as the Procfile
   runs it) is started on a free 127.0.0.1 port with config/settings/bench.py.
   8 client threads (http.client, keep-alive when the server allows it: the
   sync worker closes each connection, so they reconnect) post R distinct,
   correctly signed `subscription.updated` bodies (the verbatim sample with
   its ids and `date_modified_gmt` moved on) with WooCommerce's headers:
   - baseline: the same requests to `/bench/ok`, a trivial view that only
     bench/urls.py routes, served by the same server;
   - measured: the shop's webhook address (each request stores and enqueues).
   The two alternate in ABBA rounds (this 2-core machine is shared: a
   neighbour's load then weighs on both alike). Rows: the peak requests/s
   (closed loop, as fast as the server answers) and the p99 latency there;
   then R/4 more requests offered at HALF the receiver's peak rate (open
   loop: each request has its start time, and its latency counts from it, so
   a queue behind a slow answer is counted), to the receiver and to the
   trivial view at the same rate: the p99 there (the issue's target: at most
   50 ms).

2. One worker. M deliveries are stored as the receiver stores them (half
   `customer.updated`, half `subscription.updated` of those customers, all
   distinct) and published as the receiver's relay publishes them (`relay.publish`:
   a message per queue and ten deliveries, woocommerce/relay.py); then ONE
   `celery worker --concurrency 1` consuming every queue (the tests' and
   benchmarks' `config.celery.worker_command`, plus `--include bench.noop`)
   is started and drains them. The time counted is the worker's own span,
   from the moment the first message leaves its queue to the moment the
   queues and the unacknowledged set are both empty (read from Redis every
   5 ms; the tasks acknowledge late, once run), so its start-up is not.
   - baseline: M `bench.noop` tasks (bench/noop.py: does nothing) sent to the
     same two queues, drained by a fresh worker started the same way;
   - also: M `coupon.updated` deliveries, for which there is no handler
     (outcome `ignored`): Celery, the claim and the bookkeeping only.
   Two rounds of M/2 each, the order reversed in the second. Rows: events/s
   against no-op tasks/s (the issue's target: at least 0.25), and ignored
   deliveries/s against no-op tasks/s.

3. Receipt to applied: gunicorn and ONE worker running together, R/4
   customer and subscription deliveries posted at half the receiver's peak
   (the issue's row: p95 under 1 s), then as many at half the rate one worker
   applies (the pipeline's own delay, without a backlog); each delivery's
   `processed_at - received_at`, both written by the product.

4. A backlog: B mixed deliveries (customers, subscriptions, a coupon every
   4th pair) stored and queued, drained by one fresh worker; B more by two
   workers (two `celery worker --concurrency 1` processes, as two machines
   would run them). Row: two workers' rate against one's (target 1.6).

On stderr: the details, the queries per request and per event counted in this
process (the Django test client, and `processing.process` called directly on
a few more deliveries), and with `BENCH_PROFILE` (default on) a cProfile of
both.

Sizes: `BENCH_WEBHOOKS_REQUESTS` (R, default 2000 per endpoint),
`BENCH_WEBHOOKS_EVENTS` (M, default 1000 per batch) and `BENCH_WEBHOOKS_BACKLOG`
(B, default 20,000). Run this module alone
under the embedded services:

    DJANGO_SETTINGS_MODULE=config.settings.test \\
        .venv/bin/python -m config.embedded -- .venv/bin/python -m bench.webhooks
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import http.client
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import Row
from bench.renewals import QueryCounter, profile

BASE_DIR = Path(__file__).resolve().parent.parent
# Verbatim WooCommerce samples (read as data; see their SOURCE.md).
SAMPLES = BASE_DIR / "tests" / "woocommerce" / "fixtures"

DEFAULT_REQUESTS = 2000
DEFAULT_EVENTS = 1000
CLIENTS = 8
PACED_CLIENTS = 16  # enough threads that a slow answer does not hold the pace back
WEB_WORKERS = 2
WARMUP_REQUESTS = 40  # per endpoint, before anything is timed
# Baseline and measured alternate (ABBA...) so that a neighbour's load on this
# shared machine weighs on both alike: rounds of requests, rounds of workers.
ROUNDS = 4
WORKER_ROUNDS = 2
POLL = 0.005  # seconds between two looks at the worker's queues
P99_TARGET_MS = 50.0
RECEIVER_TARGET = 0.5
EVENTS_TARGET = 0.25
IGNORED_TARGET = 0.5
LATENCY_TARGET_MS = 1000.0  # receipt to applied, p95, at half the receiver's peak
TWO_WORKERS_TARGET = 1.6
DEFAULT_BACKLOG = 20_000  # mixed deliveries drained by one worker, then by two
LATENCY_FIRST = 200_000  # payload numbers of each part, apart so no id repeats
BACKLOG_FIRST = 1_000_000
BASELINE_PATH = "/bench/ok"
UNFINISHED = ("received", "queued", "processing")


@contextlib.contextmanager
def scratch_database() -> Iterator[None]:
    """A migrated database of this run's own (a random name: never another's), then dropped."""
    from django.db import connection

    test_settings = connection.settings_dict.setdefault("TEST", {})
    old_name, old_test_name = connection.settings_dict["NAME"], test_settings.get("NAME")
    test_settings["NAME"] = f"bench_webhooks_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    connection.creation.create_test_db(verbosity=0, autoclobber=False, serialize=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        test_settings["NAME"] = old_test_name


# --- Payloads -------------------------------------------------------------------


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def compact(payload: Any) -> bytes:
    """The body as WooCommerce sends it: compact JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _moved(value: str, seconds: int) -> str:
    moved = datetime.fromisoformat(value) + timedelta(seconds=seconds)
    return moved.strftime("%Y-%m-%dT%H:%M:%S")


def subscription_payload(template: dict, i: int) -> dict:
    """Subscription 100000+i of customer 300000+i, parent order 200000+i, modified i s later."""
    payload = copy.deepcopy(template)
    payload["id"] = 100_000 + i
    payload["parent_id"] = 200_000 + i
    payload["number"] = str(100_000 + i)
    payload["customer_id"] = 300_000 + i
    payload["billing"]["email"] = f"bench-{i}@example.com"
    payload["date_modified_gmt"] = _moved(payload["date_modified_gmt"], i)
    return payload


def customer_payload(template: dict, i: int) -> dict:
    payload = copy.deepcopy(template)
    payload["id"] = 300_000 + i
    payload["email"] = payload["billing"]["email"] = f"bench-{i}@example.com"
    payload["username"] = f"bench-{i}"
    payload["date_modified_gmt"] = _moved(payload["date_modified_gmt"], i)
    return payload


def coupon_payload(template: dict, i: int) -> dict:
    payload = copy.deepcopy(template)
    payload["id"] = 400_000 + i
    payload["code"] = f"bench{i}"
    payload["date_modified_gmt"] = _moved(payload["date_modified_gmt"], i)
    return payload


def webhook_headers(topic: str, body: bytes, secret: str) -> dict[str, str]:
    """The headers WooCommerce sends with a delivery, signed with `secret`."""
    from woocommerce.payloads import signature

    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": signature(body, secret),
        "X-WC-Webhook-ID": "7",
        "X-WC-Webhook-Delivery-ID": hashlib.md5(body, usedforsecurity=False).hexdigest(),
    }


def stored_delivery(store, topic: str, body: bytes, secret: str):
    """The `WebhookDelivery` the receiver would store for this signed body (not saved)."""
    from woocommerce.models import WebhookDelivery
    from woocommerce.services import KEPT_HEADERS

    headers = webhook_headers(topic, body, secret)
    resource, _, event = topic.partition(".")
    return WebhookDelivery(
        organization_id=store.organization_id,
        store=store,
        topic=topic,
        resource=resource,
        event=event,
        webhook_id=7,
        delivery_id=headers["X-WC-Webhook-Delivery-ID"],
        headers={name: headers[name] for name in KEPT_HEADERS if name in headers},
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
    )


# --- Processes --------------------------------------------------------------------


def broker_prefix() -> str:
    """This run's Redis key prefix; refuse to run without one (a stray worker would steal)."""
    from django.conf import settings

    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    run_id = os.environ.get("TEST_RUN_ID", "")
    if not run_id or prefix != f"test-{run_id}:":
        raise RuntimeError(
            "bench.webhooks needs the per-run broker key prefix of config.settings.test "
            f"(DJANGO_SETTINGS_MODULE is {os.environ.get('DJANGO_SETTINGS_MODULE')!r})"
        )
    return prefix


def database_url() -> str:
    """DATABASE_URL of the scratch database, for the processes started here."""
    from django.db import connection

    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    user = quote(db["USER"] or "", safe="")
    return f"postgres://{user}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def child_environment(settings_module: str) -> dict[str, str]:
    from django.conf import settings

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TEST_RUN_ID": os.environ["TEST_RUN_ID"],
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Child:
    """A process started here (in its own session), with its output in a log file."""

    name: str
    process: subprocess.Popen
    log_path: Path
    log: Any = field(repr=False)

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (gunicorn and celery stop gracefully), then SIGKILL its process group."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
        finally:
            self.log.close()


def start(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("w")
    process = subprocess.Popen(  # noqa: S603
        args,
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed alone if it hangs
    )
    return Child(name, process, log_path, log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, log_dir: Path) -> Child:
    child = start(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WEB_WORKERS),
            "--log-level",
            "warning",
        ],
        child_environment("config.settings.bench"),
        log_dir,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        child.check_alive()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", BASELINE_PATH, body=b"{}")
            if conn.getresponse().status == 200:
                return child
        except OSError:
            pass
        time.sleep(0.2)
    child.stop()
    raise RuntimeError(f"gunicorn did not answer on port {port}:\n{child.tail()}")


def start_worker(log_dir: Path, name: str) -> Child:
    from config.celery import worker_command

    command = worker_command(hostname=f"bench-{os.environ['TEST_RUN_ID']}-{name}@%h")
    return start(
        name,
        [*command, "--include", "bench.noop"],
        child_environment("config.settings.test"),
        log_dir,
    )


def purge_broker(prefix: str, *, queues_only: bool) -> int:
    """Delete this run's messages (queues_only) or every key under its prefix."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        if queues_only:
            patterns = [f"{prefix}{queue.name}*" for queue in settings.CELERY_TASK_QUEUES]
        else:
            patterns = [f"{prefix}*"]
        keys = [key for pattern in patterns for key in client.scan_iter(match=pattern)]
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


# --- 1. The receiver under gunicorn --------------------------------------------


@dataclass
class Load:
    seconds: float
    latencies: list[float]
    answers: Counter

    @classmethod
    def merge(cls, loads: list[Load]) -> Load:
        return cls(
            sum(load.seconds for load in loads),
            [x for load in loads for x in load.latencies],
            sum((load.answers for load in loads), Counter()),
        )

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def drive(port: int, path: str, requests: list[tuple[bytes, dict]], clients: int) -> Load:
    """Post `requests` to `path` from `clients` threads at once; every answer must be a 200."""
    shares = [requests[k::clients] for k in range(clients)]
    latencies: list[list[float]] = [[] for _ in shares]
    answers: list[Counter] = [Counter() for _ in shares]
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            barrier.wait()
            for body, headers in shares[k]:
                started = time.perf_counter()
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                content = response.read()
                latencies[k].append(time.perf_counter() - started)
                if response.status != 200:
                    raise RuntimeError(f"{path} answered {response.status}: {content[:300]!r}")
                answers[k][json.loads(content).get("message")] += 1
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"load on {path} failed: {errors[0]!r}") from errors[0]
    return Load(seconds, [x for share in latencies for x in share], sum(answers, Counter()))


def pace(port: int, path: str, requests: list[tuple[bytes, dict]], rate: float) -> Load:
    """Offer `requests` to `path` at `rate` per second (open loop); latency from each start time."""
    latencies: list[list[float]] = [[] for _ in range(PACED_CLIENTS)]
    answers: list[Counter] = [Counter() for _ in range(PACED_CLIENTS)]
    errors: list[BaseException] = []
    origin = time.perf_counter() + 0.2

    def client(k: int) -> None:
        try:
            for j in range(k, len(requests), PACED_CLIENTS):
                body, headers = requests[j]
                due = origin + j / rate
                time.sleep(max(0.0, due - time.perf_counter()))
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    content = response.read()
                finally:
                    conn.close()
                latencies[k].append(time.perf_counter() - due)
                if response.status != 200:
                    raise RuntimeError(f"{path} answered {response.status}: {content[:300]!r}")
                answers[k][json.loads(content).get("message")] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=client, args=(k,), daemon=True) for k in range(PACED_CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - origin
    if errors:
        raise RuntimeError(f"paced load on {path} failed: {errors[0]!r}") from errors[0]
    return Load(seconds, [x for share in latencies for x in share], sum(answers, Counter()))


def receiver_queries(store, secret: str, template: dict, first: int, count: int = 20):
    """Queries per delivery of the receiver (test client, in this process), and a profile."""
    from django.db import connection
    from django.test import Client

    client = Client(SERVER_NAME="127.0.0.1")
    counter = QueryCounter()

    signed = {}
    for i in range(first, first + 10 * count):
        body = compact(subscription_payload(template, i))
        signed[i] = (body, webhook_headers("subscription.updated", body, secret))

    def post(i: int) -> None:
        body, headers = signed[i]
        response = client.post(
            store.webhook_path(),
            data=body,
            content_type="application/json",
            headers={k: v for k, v in headers.items() if k != "Content-Type"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"receiver answered {response.status_code}: {response.content!r}")

    with connection.execute_wrapper(counter):
        for i in range(first, first + count):
            post(i)
    text = profile(post, [((i,), {}) for i in range(first + count, first + 10 * count)])
    return counter.count / count, text


def measure_receiver(store, secret: str, n: int, log_dir: Path) -> dict:
    """Baseline and receiver in ABBA rounds on one server, so drift hits both alike."""
    from woocommerce.models import WebhookDelivery

    template = sample("subscription")
    paced = n // 4
    requests = []
    for i in range(WARMUP_REQUESTS + n + paced):
        body = compact(subscription_payload(template, i))
        requests.append((body, webhook_headers("subscription.updated", body, secret)))
    warmup = requests[:WARMUP_REQUESTS]
    timed = requests[WARMUP_REQUESTS : WARMUP_REQUESTS + n]
    offered = requests[WARMUP_REQUESTS + n :]
    rounds = [timed[k::ROUNDS] for k in range(ROUNDS)]
    webhook = store.webhook_path()

    port = free_port()
    server = start_gunicorn(port, log_dir)
    loads: dict[str, list[Load]] = {BASELINE_PATH: [], webhook: []}
    at_half: dict[str, list[Load]] = {BASELINE_PATH: [], webhook: []}
    try:
        drive(port, BASELINE_PATH, warmup, CLIENTS)
        drive(port, webhook, warmup, CLIENTS)  # stored and enqueued like the rest
        for k, share in enumerate(rounds):
            order = (BASELINE_PATH, webhook) if k % 2 == 0 else (webhook, BASELINE_PATH)
            for path in order:
                loads[path].append(drive(port, path, share, CLIENTS))
            server.check_alive()
        # Half the receiver's peak, offered to both (the trivial view only as a reference).
        rate = Load.merge(loads[webhook]).rate / 2
        halves = [offered[k::2] for k in range(2)]
        for k, share in enumerate(halves):
            order = (BASELINE_PATH, webhook) if k % 2 == 0 else (webhook, BASELINE_PATH)
            for path in order:
                at_half[path].append(pace(port, path, share, rate))
            server.check_alive()
    finally:
        server.stop()
    stored = WebhookDelivery.objects.filter(store=store).count()
    posted = WARMUP_REQUESTS + n + len(offered)
    if stored != posted:
        raise RuntimeError(f"receiver bench: {posted} posted, {stored} stored")
    queries, profile_text = receiver_queries(store, secret, template, first=posted)
    return {
        "requests": n,
        "baseline": Load.merge(loads[BASELINE_PATH]),
        "measured": Load.merge(loads[webhook]),
        "half_rate": rate,
        "baseline_at_half": Load.merge(at_half[BASELINE_PATH]),
        "measured_at_half": Load.merge(at_half[webhook]),
        "queries_per_request": queries,
        "profile": profile_text,
    }


# --- 2. One worker draining deliveries ------------------------------------------


class Backlog:
    """This run's messages in Redis: waiting in the worker's queues, or taken and not yet acked."""

    def __init__(self, prefix: str) -> None:
        import redis
        from django.conf import settings

        self.client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self.queues = [f"{prefix}{queue.name}" for queue in settings.CELERY_TASK_QUEUES]
        self.unacked = f"{prefix}unacked"

    def counts(self) -> tuple[int, int]:
        pipe = self.client.pipeline(transaction=False)
        for queue in self.queues:
            pipe.llen(queue)
        pipe.hlen(self.unacked)
        *waiting, unacked = pipe.execute()
        return sum(waiting), unacked

    def close(self) -> None:
        self.client.close()


def drain(
    kind: str,
    count: int,
    publish: Callable[[], int],
    log_dir: Path,
    prefix: str,
    workers: int = 1,
) -> dict:
    """Publish `count` events (`publish` returns in how many messages), then let `workers`
    fresh workers take them all; their span.

    The span runs from the first message taken off its queue to the moment
    nothing is waiting nor unacknowledged, seen twice 5 ms apart (kombu moves
    a message from its queue to the unacked set in two steps).
    """
    backlog = Backlog(prefix)
    try:
        messages = publish()
        waiting, unacked = backlog.counts()
        if (waiting, unacked) != (messages, 0):
            raise RuntimeError(
                f"{kind}: {waiting} waiting, {unacked} unacked; {messages} published"
            )
        started = time.perf_counter()
        pool = [
            start_worker(log_dir, f"worker-{kind}-{k}-{uuid.uuid4().hex[:6]}")
            for k in range(workers)
        ]
        worker = pool[0]
        try:
            deadline = time.monotonic() + 60 + count * 0.5
            first = last = None
            empty_seen = 0
            while True:
                now = time.perf_counter()
                waiting, unacked = backlog.counts()
                if first is None and waiting < messages:
                    first = now
                if waiting == 0 and unacked == 0:
                    empty_seen += 1
                    last = last or now
                    if empty_seen == 2:
                        break
                else:
                    empty_seen, last = 0, None
                for each in pool:
                    each.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{kind}: {waiting} waiting and {unacked} unacked of {count} after "
                        f"the time allowed:\n{worker.tail()}"
                    )
                time.sleep(POLL)
            wall = time.perf_counter() - started
        finally:
            for each in pool:
                each.stop()
    finally:
        backlog.close()
    return {
        "events": count,
        "messages": messages,
        "seconds": last - first,
        "wall_seconds": wall,
    }


def store_and_enqueue(batch: list) -> Callable[[], int]:
    """A `publish` for `drain`: the deliveries stored, then published as the receiver's relay
    publishes them (its batches of `BATCH`, a message per queue and `PER_MESSAGE`
    deliveries of each); how many messages."""

    def publish() -> int:
        from woocommerce.models import WebhookDelivery
        from woocommerce.relay import BATCH, PER_MESSAGE
        from woocommerce.relay import publish as relay_publish

        WebhookDelivery.objects.bulk_create(batch, batch_size=500)
        waiting = [(delivery.pk, delivery.queue) for delivery in batch]
        sent = messages = 0
        for start in range(0, len(waiting), BATCH):
            chunk = waiting[start : start + BATCH]
            sent += relay_publish(chunk)
            per_queue = Counter(queue_name for _, queue_name in chunk)
            messages += sum(math.ceil(n / PER_MESSAGE) for n in per_queue.values())
        if sent != len(batch):
            raise RuntimeError(f"{sent} of {len(batch)} deliveries published (is the broker up?)")
        return messages

    return publish


def send_noops(count: int) -> Callable[[], int]:
    """A `publish` for `drain`: `count` no-op tasks, half to each of the deliveries' two queues
    (one message each)."""

    def publish() -> int:
        from bench.noop import noop

        for i in range(count):
            noop.apply_async(args=(i,), queue="woo_customers" if i % 2 else "woo_subscriptions")
        return count

    return publish


def worker_queries(store, secret: str, first: int, count: int = 10):
    """Queries and ms per event of `processing.process` (in this process), and a profile."""
    from django.db import connection

    from woocommerce import processing
    from woocommerce.models import WebhookDelivery

    kinds = {
        "customer.updated": (sample("customer"), customer_payload),
        "subscription.updated": (sample("subscription"), subscription_payload),
        "coupon.updated": (sample("coupon"), coupon_payload),
    }
    result, profiled = {}, []
    for topic, (template, make) in kinds.items():
        # `count` timed, then `count` more profiled (customers and subscriptions).
        batch = WebhookDelivery.objects.bulk_create(
            stored_delivery(store, topic, compact(make(template, i)), secret)
            for i in range(first, first + 2 * count)
        )
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            for delivery in batch[:count]:
                processing.process(delivery.pk)
            seconds = time.perf_counter() - started
        result[topic] = (counter.count / count, seconds / count * 1000)
        if topic != "coupon.updated":
            profiled.extend(((delivery.pk,), {}) for delivery in batch[count:])
    return result, profile(processing.process, profiled)


def measure_worker(store, secret: str, m: int, log_dir: Path, prefix: str) -> dict:
    """M ignored coupons and M customers+subscriptions, in ABBA rounds of fresh workers."""
    from woocommerce.models import WebhookDelivery

    # Nothing of part 1 is left for the worker: its messages and rows go (this process's
    # relay first publishes what part 1's in-process requests left it).
    from woocommerce.relay import relay

    relay.flush()
    purge_broker(prefix, queues_only=True)
    WebhookDelivery.objects.all().delete()
    coupon, customer, subscription = sample("coupon"), sample("customer"), sample("subscription")

    def coupons(ids: range) -> list:
        return [
            stored_delivery(store, "coupon.updated", compact(coupon_payload(coupon, i)), secret)
            for i in ids
        ]

    def customers_and_subscriptions(ids: range) -> list:
        # Customer i and subscription i (of customer i): distinct ids, either order works.
        batch = []
        for i in ids:
            body = compact(customer_payload(customer, i))
            batch.append(stored_delivery(store, "customer.updated", body, secret))
            body = compact(subscription_payload(subscription, i))
            batch.append(stored_delivery(store, "subscription.updated", body, secret))
        return batch

    pairs = m // 2  # events of the measured batch: a customer and a subscription per pair
    cuts = [pairs * k // WORKER_ROUNDS for k in range(WORKER_ROUNDS + 1)]
    drained: dict[str, list[dict]] = {"noop": [], "ignored": [], "applied": []}
    for k in range(WORKER_ROUNDS):
        ids = range(cuts[k], cuts[k + 1])
        coupon_ids = range(2 * cuts[k], 2 * cuts[k + 1])
        publishers = {
            "noop": send_noops(2 * len(ids)),
            "ignored": store_and_enqueue(coupons(coupon_ids)),
            "applied": store_and_enqueue(customers_and_subscriptions(ids)),
        }
        order = list(publishers) if k % 2 == 0 else list(reversed(publishers))
        for kind in order:
            drained[kind].append(drain(kind, 2 * len(ids), publishers[kind], log_dir, prefix))

    totals = {
        kind: {
            "events": sum(d["events"] for d in runs),
            "seconds": sum(d["seconds"] for d in runs),
            "wall_seconds": sum(d["wall_seconds"] for d in runs),
        }
        for kind, runs in drained.items()
    }
    outcomes = Counter(WebhookDelivery.objects.values_list("topic", "status"))
    expected = {
        ("coupon.updated", "ignored"): totals["ignored"]["events"],
        ("customer.updated", "processed"): totals["applied"]["events"] // 2,
        ("subscription.updated", "processed"): totals["applied"]["events"] // 2,
    }
    if dict(outcomes) != expected:
        raise RuntimeError(f"worker bench: outcomes {dict(outcomes)}, expected {expected}")
    queries, profile_text = worker_queries(store, secret, first=m)
    return {**totals, "queries": queries, "profile": profile_text}


# --- 3. Receipt to applied, and a backlog drained by one worker and by two ----------


def mixed_deliveries(store, secret: str, ids: range) -> list:
    """A shop's usual mix: customer i and its subscription i, and a coupon every 4th (ignored)."""
    customer, subscription, coupon = sample("customer"), sample("subscription"), sample("coupon")
    batch = []
    for i in ids:
        body = compact(customer_payload(customer, i))
        batch.append(stored_delivery(store, "customer.updated", body, secret))
        body = compact(subscription_payload(subscription, i))
        batch.append(stored_delivery(store, "subscription.updated", body, secret))
        if i % 4 == 0:
            body = compact(coupon_payload(coupon, i))
            batch.append(stored_delivery(store, "coupon.updated", body, secret))
    return batch


def measure_latency(
    store,
    secret: str,
    rate: float,
    pairs: int,
    log_dir: Path,
    prefix: str,
    first: int = LATENCY_FIRST,
):
    """Deliveries posted at `rate` to gunicorn while ONE worker applies them: receipt to applied.

    Each delivery's `processed_at - received_at` (both written by the product, on
    the database's clock): the shop's request stored, relayed, queued, applied.
    """
    from woocommerce.models import WebhookDelivery

    purge_broker(prefix, queues_only=True)  # part 1's messages would come first
    customer, subscription = sample("customer"), sample("subscription")
    requests = []
    for i in range(first, first + pairs):
        for topic, body in (
            ("customer.updated", compact(customer_payload(customer, i))),
            ("subscription.updated", compact(subscription_payload(subscription, i))),
        ):
            requests.append((body, webhook_headers(topic, body, secret)))
    port = free_port()
    server = start_gunicorn(port, log_dir)
    worker = start_worker(log_dir, f"worker-latency-{uuid.uuid4().hex[:6]}")
    try:
        deadline = time.monotonic() + 60
        while "ready." not in worker.tail(200) and time.monotonic() < deadline:
            worker.check_alive()
            time.sleep(0.1)
        load = pace(port, store.webhook_path(), requests, rate)
        ids = set()
        for body, _headers in requests:
            ids.add(hashlib.sha256(body).hexdigest())
        mine = WebhookDelivery.objects.filter(body_sha256__in=ids)
        deadline = time.monotonic() + 120 + len(requests) * 0.5
        while mine.filter(status__in=UNFINISHED).exists():
            worker.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"latency: deliveries left unfinished:\n{worker.tail()}")
            time.sleep(0.05)
    finally:
        worker.stop()
        server.stop()
    spans = sorted(
        (processed - received).total_seconds()
        for received, processed in mine.values_list("received_at", "processed_at")
    )
    if len(spans) != len(requests):
        raise RuntimeError(f"latency: {len(requests)} posted, {len(spans)} stored")

    def percentile(p: float) -> float:
        return spans[max(0, math.ceil(p / 100 * len(spans)) - 1)]

    return {
        "requests": len(requests),
        "rate": rate,
        "answers": dict(load.answers),
        "p50": percentile(50),
        "p95": percentile(95),
        "max": spans[-1],
    }


def measure_backlog(store, secret: str, size: int, log_dir: Path, prefix: str) -> dict:
    """`size` mixed deliveries stored and queued, drained by one worker; another `size` by two."""
    from woocommerce.models import WebhookDelivery

    purge_broker(prefix, queues_only=True)
    result = {}
    first = BACKLOG_FIRST
    for workers in (1, 2):
        pairs = max(1, round(size / 2.25))  # 2.25 deliveries per pair with the coupons
        batch = mixed_deliveries(store, secret, range(first, first + pairs))
        first += pairs
        result[workers] = drain(
            f"backlog-{workers}w", len(batch), store_and_enqueue(batch), log_dir, prefix, workers
        )
        left = WebhookDelivery.objects.filter(
            body_sha256__in=[d.body_sha256 for d in batch], status__in=UNFINISHED
        ).count()
        if left:
            raise RuntimeError(f"backlog with {workers} workers: {left} deliveries unfinished")
    return result


# --- Rows -------------------------------------------------------------------------


def measure(n: int, m: int, backlog_size: int) -> dict:
    from crm.models import Organization
    from woocommerce.models import WooCommerceStore

    prefix = broker_prefix()
    secret = "bench " + secrets.token_urlsafe(24) + " &amp; spice"  # decoded before signing
    organization = Organization.objects.create(
        name="Bench webhooks", slug=f"bench-webhooks-{uuid.uuid4().hex[:12]}"
    )
    store = WooCommerceStore.objects.create(
        organization=organization,
        name="Bench shop",
        base_url="https://shop.example.com",
        webhook_secret=secret,
    )
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as log_dir:
        try:
            receiver = measure_receiver(store, secret, n, Path(log_dir))
            worker = measure_worker(store, secret, m, Path(log_dir), prefix)
            pairs = max(50, n // 8)
            latency = measure_latency(
                store, secret, receiver["half_rate"], pairs, Path(log_dir), prefix
            )
            # And at half what one worker applies: the pipeline's own delay, no backlog.
            applied = worker["applied"]["events"] / worker["applied"]["seconds"]
            sustained = measure_latency(
                store, secret, applied / 2, pairs, Path(log_dir), prefix, first=LATENCY_FIRST * 2
            )
            backlog = measure_backlog(store, secret, backlog_size, Path(log_dir), prefix)
        finally:
            purge_broker(prefix, queues_only=False)
    return {
        "receiver": receiver,
        "latency": latency,
        "sustained": sustained,
        "worker": worker,
        "backlog": backlog,
    }


def rows(numbers: dict) -> list[Row]:
    receiver, worker = numbers["receiver"], numbers["worker"]
    latency, one, two = numbers["latency"], numbers["backlog"][1], numbers["backlog"][2]
    sustained = numbers["sustained"]
    baseline, measured = receiver["baseline"], receiver["measured"]
    noop_rate = worker["noop"]["events"] / worker["noop"]["seconds"]
    return [
        Row(
            f"webhooks: receiver peak, {CLIENTS} clients, gunicorn {WEB_WORKERS}w",
            measured.rate,
            baseline.rate,
            "req/s",
            target=RECEIVER_TARGET,
        ),
        Row(
            "webhooks: receiver p99 at that peak",
            measured.percentile(99) * 1000,
            baseline.percentile(99) * 1000,
            "ms",
            higher_is_better=False,
        ),
        Row(
            f"webhooks: receiver p99 at half peak ({receiver['half_rate']:.0f} req/s)",
            receiver["measured_at_half"].percentile(99) * 1000,
            receiver["baseline_at_half"].percentile(99) * 1000,
            "ms",
            higher_is_better=False,
            target=P99_TARGET_MS,
            target_of="value",
        ),
        Row(
            "webhooks: events applied by 1 worker vs no-op tasks",
            worker["applied"]["events"] / worker["applied"]["seconds"],
            noop_rate,
            "events/s",
            target=EVENTS_TARGET,
            key="webhooks.events",
        ),
        Row(
            "webhooks: deliveries ignored vs no-op tasks",
            worker["ignored"]["events"] / worker["ignored"]["seconds"],
            noop_rate,
            "events/s",
            target=IGNORED_TARGET,
        ),
        Row(
            f"webhooks: receipt to applied p95, {latency['rate']:.0f} req/s, 1 worker",
            latency["p95"] * 1000,
            LATENCY_TARGET_MS,
            "ms",
            higher_is_better=False,
            target=LATENCY_TARGET_MS,
            target_of="value",
        ),
        Row(
            f"webhooks: receipt to applied p95, {sustained['rate']:.0f} req/s (half 1 worker's)",
            sustained["p95"] * 1000,
            LATENCY_TARGET_MS,
            "ms",
            higher_is_better=False,
        ),
        Row(
            f"webhooks: {one['events']} mixed drained, 2 workers vs 1",
            two["events"] / two["seconds"],
            one["events"] / one["seconds"],
            "events/s",
            target=TWO_WORKERS_TARGET,
        ),
    ]


def report(numbers: dict, seconds: float) -> None:
    receiver, worker = numbers["receiver"], numbers["worker"]
    lines = [f"webhooks: {seconds:.1f} s in all"]
    loads = (
        ("trivial view, peak", receiver["baseline"]),
        ("receiver, peak", receiver["measured"]),
        (f"trivial view at {receiver['half_rate']:.0f}/s", receiver["baseline_at_half"]),
        (f"receiver at {receiver['half_rate']:.0f}/s", receiver["measured_at_half"]),
    )
    for label, load in loads:
        lines.append(
            f"  {label}: {len(load.latencies)} requests in {load.seconds:.2f} s "
            f"({load.rate:.0f}/s); latency p50 {load.percentile(50) * 1000:.1f} ms, "
            f"p90 {load.percentile(90) * 1000:.1f} ms, p99 {load.percentile(99) * 1000:.1f} ms; "
            f"answers {dict(load.answers)}"
        )
    lines.append(
        f"  receiver: {receiver['queries_per_request']:.1f} queries per delivery (test client)"
    )
    for label, key in (
        ("no-op tasks", "noop"),
        ("ignored coupons", "ignored"),
        ("customers+subscriptions", "applied"),
    ):
        drained = worker[key]
        lines.append(
            f"  worker, {label}: {drained['events']} in {drained['seconds']:.2f} s "
            f"(first taken to last acked; {drained['wall_seconds']:.1f} s from the worker's "
            "start)"
        )
    for latency in (numbers["latency"], numbers["sustained"]):
        lines.append(
            f"  receipt to applied, {latency['requests']} deliveries at {latency['rate']:.0f}/s, "
            f"1 worker: p50 {latency['p50'] * 1000:.0f} ms, p95 {latency['p95'] * 1000:.0f} ms, "
            f"max {latency['max'] * 1000:.0f} ms; answers {latency['answers']}"
        )
    for workers, drained in numbers["backlog"].items():
        lines.append(
            f"  backlog, {workers} worker(s): {drained['events']} mixed in "
            f"{drained['seconds']:.2f} s ({drained['events'] / drained['seconds']:.1f}/s; "
            f"{drained['wall_seconds']:.1f} s from the workers' start)"
        )
    for topic, (queries, ms) in worker["queries"].items():
        lines.append(f"  process() of a {topic}: {queries:.1f} queries, {ms:.1f} ms in-process")
    if os.environ.get("BENCH_PROFILE", "1") not in ("", "0"):
        lines.append(
            "webhooks: profile of the receiver (test client, 180 deliveries, cumulative time):"
        )
        lines.append(receiver["profile"])
        lines.append(
            "webhooks: profile of process() (10 customers + 10 subscriptions, cumulative time):"
        )
        lines.append(worker["profile"])
    print("\n".join(lines), file=sys.stderr)


def run(n: int | None = None, m: int | None = None) -> list[Row]:
    n = n or int(os.environ.get("BENCH_WEBHOOKS_REQUESTS", DEFAULT_REQUESTS))
    m = m or int(os.environ.get("BENCH_WEBHOOKS_EVENTS", DEFAULT_EVENTS))
    backlog = int(os.environ.get("BENCH_WEBHOOKS_BACKLOG", DEFAULT_BACKLOG))
    started = time.perf_counter()
    with scratch_database():
        numbers = measure(n, m, backlog)
    report(numbers, time.perf_counter() - started)
    return rows(numbers)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    for row in run():
        numbers = f"{row.value:>12.1f} {row.baseline:>12.1f} {row.unit:<10} {row.ratio:>7.2f}"
        print(f"{row.name:<48} {numbers}")
