"""Shared fixtures: the test session's setup, a real Celery worker (the organizations, users
and clients are in tests/fixtures.py)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from hypothesis import settings as hypothesis_settings

from config.celery import worker_command

#: The organizations, their users by role, admin and API clients (tests/fixtures.py); browser
#: fixtures (page, screenshots): Playwright driving Debian's Chromium; `--at`, the session's
#: clock moved to another instant (tests/clock.py).
pytest_plugins = ["tests.fixtures", "tests.browser", "tests.clock", "tests.faults"]

BASE_DIR = Path(__file__).resolve().parent.parent

# Property tests: 200 examples each by default; HYPOTHESIS_PROFILE=thorough for a
# long hunt (e.g. after touching subscriptions/schedule.py).
hypothesis_settings.register_profile("default", max_examples=200)
hypothesis_settings.register_profile("thorough", max_examples=5000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def compile_translations() -> str:
    """Compile every catalogue whose .mo is missing or older than its .po, as
    `manage.py compiletranslations` does (it leaves fresh ones alone); what it printed."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command("compiletranslations", stdout=out)
    return out.getvalue()


def pytest_configure(config):
    """A plain `pytest` (without `make test` first) gets the French catalogue compiled, before
    anything is collected and before Django reads a catalogue (it caches what it read)."""
    if settings.configured:
        compile_translations()


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the project's default language, whatever the last one activated
    (a request in French leaves French active in its thread)."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _database_url_for_tests() -> str:
    db = settings.DATABASES["default"]
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def start_celery_worker(broker_url: str | None = None) -> subprocess.Popen:
    """Start a real `celery worker` process on the test database; stop it with `stop_celery_worker`.

    `broker_url` defaults to the test run's broker.
    """
    broker_url = broker_url or settings.CELERY_BROKER_URL
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url_for_tests(),
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
    }
    process = subprocess.Popen(  # noqa: S603
        worker_command(hostname=f"test-{os.getpid()}-{time.monotonic_ns()}@%h"),
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def drain():  # keep the pipe empty so the worker never blocks on its logs
        for line in process.stdout:
            output.append(line)
            if "ready." in line:
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(timeout=60):
        process.kill()
        raise RuntimeError("Celery worker did not start:\n" + "".join(output[-40:]))
    process.output = output
    return process


def stop_celery_worker(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def celery_worker(transactional_db):
    """A real `celery worker` process on the real broker and the test database.

    Tests using it must see committed data, hence `transactional_db`.
    """
    process = start_celery_worker()
    yield process
    stop_celery_worker(process)


@contextlib.contextmanager
def broker(url: str):
    """Point this process's Celery producer at `url` (e.g. a stopped or private broker).

    The producer and connection pools are keyed by broker URL: dropping the
    cached ones makes the next send use `url`, and the original ones afterwards.
    """
    from config.celery import app

    def use(target: str) -> None:
        app.conf.broker_url = target
        app._pool = None
        app.amqp._producer_pool = None

    original = app.conf.broker_url
    use(url)
    try:
        yield
    finally:
        use(original)


def wait_until(predicate, *, timeout: float = 30, interval: float = 0.1):
    """Poll `predicate` until it returns a truthy value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
