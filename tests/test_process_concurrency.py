"""Two OS processes doing the same thing at once: exactly one effect, the loser told cleanly.

The threads in tests/*/test_concurrency.py share one interpreter; here two
separate Python processes, each with its own Django and its own PostgreSQL
connection on the test database (committed data, hence `transactional_db`),
race for one batch or one subscription, as two gunicorn workers, or a worker
and beat, do in production.

The two processes start once for the module (Django's start-up is the slow
part) and wait for commands on their standard input. A race: the test takes
the contended row's lock itself, sends the command to both, waits until
PostgreSQL shows both processes blocked on a lock, then commits; so both are
inside the service at the same time, every run. The renewal run skips rows
another run holds (`skip_locked`), so that race starts both at once without
holding anything.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import traceback
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from fulfillment.models import Batch, BatchLine
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.conftest import _database_url_for_tests, wait_until
from tests.factories import SubscriptionFactory, billing_settings
from tests.fulfillment.test_lock import CUTOFF
from tests.fulfillment.test_lock_concurrency import due_batch

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
MARK = "RESULT "
CHILD = "import django; django.setup(); from tests.test_process_concurrency import serve; serve()"


# --- In each child process ---------------------------------------------------------


def _operations():
    from core.actors import Actor, ActorKind
    from fulfillment import services as fulfillment
    from subscriptions import renewals
    from subscriptions import services as subscriptions

    staff = Actor(ActorKind.USER, label=f"staff in process {os.getpid()}")
    system = Actor.system("renewals")

    def batch_lock(batch, now):
        locked = fulfillment.batch_lock(batch=batch, actor=staff, now=datetime.fromisoformat(now))
        return locked.status

    def batch_cancel(batch, now):
        canceled = fulfillment.batch_cancel(
            batch=batch, actor=staff, now=datetime.fromisoformat(now)
        )
        return canceled.status

    def renew(subscription, now):
        report = renewals.renew_one(subscription_id=subscription, now=datetime.fromisoformat(now))
        return {
            "created": report.charges_created,
            "paid": report.paid,
            "errors": report.errors,
        }

    def pause(subscription):
        return subscriptions.subscription_pause(subscription=subscription, actor=staff).status

    def cancel(subscription):
        return subscriptions.subscription_cancel(
            subscription=subscription, actor=staff, reason="customer asked"
        ).status

    def expire(subscription):
        return subscriptions.subscription_expire(subscription=subscription, actor=system).status

    return {f.__name__: f for f in (batch_lock, batch_cancel, renew, pause, cancel, expire)}


def serve() -> None:
    """Answer each command line (JSON) with one result line: the value, or the error."""
    from core.errors import ApplicationError

    operations = _operations()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    _answer({"pid": pid})
    for line in sys.stdin:
        command = json.loads(line)
        try:
            result = {"ok": operations[command["op"]](**command["args"])}
        except ApplicationError as exc:
            result = {"error": type(exc).__name__, "status": exc.status, "message": exc.message}
        except Exception as exc:  # what the test must never see
            result = {"crash": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        _answer(result)


def _answer(result: dict) -> None:
    sys.stdout.write(MARK + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


# --- In the test process -----------------------------------------------------------


class Child:
    """One Python process with Django on the test database, running `serve()`."""

    def __init__(self):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _database_url_for_tests(),
        }
        self.process = subprocess.Popen(  # noqa: S603 - our own code, fixed arguments
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.results: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.pid = self.receive(timeout=60)["pid"]

    def _drain(self):
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith(MARK):
                self.results.put(json.loads(line[len(MARK) :]))

    def send(self, op: str, **args) -> None:
        self.process.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float = 30) -> dict:
        try:
            return self.results.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no answer:\n" + "".join(self.output[-40:])) from None

    def stop(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def children(django_db_setup):
    started = [Child() for _ in range(2)]
    yield started
    for child in started:
        child.stop()


def _waiting(pids: list[int]) -> int:
    """How many of these backends wait for a lock (pg_locks is live, not a snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid = ANY(%s)",
            [pids],
        )
        return cursor.fetchone()[0]


def race(children, commands, *, hold=None) -> list[dict]:
    """Run `commands[i]` (op, args) in child i at once; their results, in order.

    With `hold` (a queryset of one row), this process locks the row first and
    lets go only when both children are blocked on it.
    """
    pids = [child.pid for child in children]
    if hold is None:
        for child, (op, args) in zip(children, commands, strict=True):
            child.send(op, **args)
    else:
        with transaction.atomic():
            hold.select_for_update().get()
            for child, (op, args) in zip(children, commands, strict=True):
                child.send(op, **args)
            assert wait_until(lambda: _waiting(pids) == 2, timeout=20, interval=0.01), (
                "the children never both waited on the lock"
            )
    results = [child.receive() for child in children]
    assert not [r for r in results if "crash" in r], results
    return results


def split(results: list[dict]) -> tuple[list, list[dict]]:
    """(values of the winners, errors of the losers); every loser got a ConflictError."""
    won = [r["ok"] for r in results if "ok" in r]
    lost = [r for r in results if "error" in r]
    assert len(won) + len(lost) == len(results), results
    assert all((r["error"], r["status"]) == ("ConflictError", 409) for r in lost), lost
    assert all(r["message"] for r in lost), lost
    return won, lost


# --- (a) Locking the same batch -----------------------------------------------------


@pytest.mark.parametrize(
    "ops", [("batch_lock", "batch_lock"), ("batch_lock", "batch_cancel")], ids=["lock", "cancel"]
)
def test_two_processes_locking_one_batch_lock_it_once(children, ops):
    # Given an open batch with 60 subscribers due, past its cut-off
    batch = due_batch(60)
    now = (CUTOFF + timedelta(minutes=1)).isoformat()

    # When one process locks it while the other locks (or cancels) it
    results = race(
        children,
        [(op, {"batch": batch.pk, "now": now}) for op in ops],
        hold=Batch.objects.filter(pk=batch.pk),
    )

    # Then one wins, the other is refused cleanly, and the batch holds one set of lines
    won, lost = split(results)
    assert (len(won), len(lost)) == (1, 1), results
    batch.refresh_from_db()
    assert batch.status == won[0]
    lines = BatchLine.objects.filter(batch=batch)
    if batch.status == Batch.Status.LOCKED:
        assert lines.count() == 60
        assert lines.values("subscription_id", "cycle").distinct().count() == 60
    else:
        assert not lines.exists()
    assert Batch.objects.filter(organization=batch.organization, status="open").count() == 1


# --- (b) Renewing the same subscription ---------------------------------------------


def test_two_processes_renewing_one_subscription_charge_it_once(children):
    # Given three pending subscriptions due now, paid by the test gateway
    first = SubscriptionFactory(status=Subscription.Status.PENDING)
    billing_settings(first.organization, gateway="test")
    due = [first] + [
        SubscriptionFactory(
            status=Subscription.Status.PENDING, customer__organization=first.organization
        )
        for _ in range(2)
    ]
    now = (timezone.now() + timedelta(minutes=1)).isoformat()

    for subscription in due:
        # When two processes renew it at the same instant
        results = race(children, [("renew", {"subscription": subscription.pk, "now": now})] * 2)

        # Then one charge is created once and paid once (the process that pays it may
        # be the other one: each step skips the rows the other holds), and nobody errs
        won, _lost = split(results)
        assert len(won) == 2, results
        assert sorted(r["created"] for r in won) == [0, 1], results
        assert sorted(r["paid"] for r in won) == [0, 1], results
        assert not [r for r in won if r["errors"]], results
        charge = Charge.objects.get(subscription=subscription)
        assert (charge.cycle, charge.status, charge.attempts) == (0, "paid", 1)
        subscription.refresh_from_db()
        assert subscription.status == Subscription.Status.ACTIVE
        assert list(subscription.events.values_list("kind", flat=True)) == ["activated"]


# --- (c) Conflicting transitions on the same subscription ----------------------------


@pytest.mark.parametrize(
    ("ops", "ends"),
    [
        (("pause", "pause"), {"paused"}),
        (("cancel", "cancel"), {"canceled"}),
        (("cancel", "expire"), {"canceled", "expired"}),
    ],
    ids=["pause-pause", "cancel-cancel", "cancel-expire"],
)
def test_two_processes_with_exclusive_transitions_make_one_change(children, ops, ends):
    # Given an active subscription
    subscription = SubscriptionFactory(status=Subscription.Status.ACTIVE)

    # When two processes move it at the same instant, each where the other cannot follow
    results = race(
        children,
        [(op, {"subscription": subscription.pk}) for op in ops],
        hold=Subscription.objects.filter(pk=subscription.pk),
    )

    # Then exactly one change, one history event, and a clean 409 for the other
    won, lost = split(results)
    assert (len(won), len(lost)) == (1, 1), results
    subscription.refresh_from_db()
    assert subscription.status == won[0]
    assert subscription.status in ends
    events = list(SubscriptionEvent.objects.filter(subscription=subscription))
    assert [(e.from_status, e.to_status) for e in events] == [("active", subscription.status)]


def test_pause_against_cancel_in_two_processes_is_one_order_or_the_other(children):
    """Pause then cancel is a legal sequence; cancel then pause is refused. Never both lost."""
    subscription = SubscriptionFactory(status=Subscription.Status.ACTIVE)

    results = race(
        children,
        [
            ("pause", {"subscription": subscription.pk}),
            ("cancel", {"subscription": subscription.pk}),
        ],
        hold=Subscription.objects.filter(pk=subscription.pk),
    )

    won, lost = split(results)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELED
    steps = list(
        SubscriptionEvent.objects.filter(subscription=subscription)
        .order_by("pk")
        .values_list("from_status", "to_status")
    )
    if lost:  # cancel went first: the pause was refused and wrote nothing
        assert results[0] == lost[0], results
        assert steps == [("active", "canceled")]
    else:  # pause went first, then the cancel applied on the paused subscription
        assert won == ["paused", "canceled"], results
        assert steps == [("active", "paused"), ("paused", "canceled")]
