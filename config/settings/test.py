"""The test suite: `make test`. Real PostgreSQL and Redis, like production."""

import os
import tempfile
import uuid

from .base import *  # noqa: F403
from .base import (
    API_THROTTLE_CACHE,
    CACHES,
    CELERY_BROKER_TRANSPORT_OPTIONS,
    WOOCOMMERCE_SHOP_CACHE,
)

DEBUG = False
# The demo data (loaded by tests) labels its boxes on the fictitious carrier platform; the
# tests of its refusal turn this off.
CARRIERS_DEMO_PLATFORM = True
SECRET_KEY = "test-only-not-secret"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # nothing collected outside production

# One run's messages never mix with another's on a shared Redis: the key
# prefix is inherited by the worker processes the tests start.
_STARTS_THE_RUN = "TEST_RUN_ID" not in os.environ  # not a worker started by a test
TEST_RUN_ID = os.environ.setdefault("TEST_RUN_ID", uuid.uuid4().hex[:12])

# Issue 26: the metrics of every process of a run (this one, the workers it starts) in
# one directory (prometheus_client's multiprocess mode; config/metrics.py).
_METRICS_DIR = os.path.join(tempfile.gettempdir(), f"cadence-metrics-{TEST_RUN_ID}")
os.makedirs(_METRICS_DIR, exist_ok=True)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", _METRICS_DIR)
if _STARTS_THE_RUN:  # the process that made it removes it when it ends
    import atexit
    import shutil

    atexit.register(shutil.rmtree, _METRICS_DIR, ignore_errors=True)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "global_keyprefix": f"test-{TEST_RUN_ID}:",
}

# issue 23b: the test client and the live server speak plain HTTP; production refuses
# webhooks over it (tests/woocommerce/test_receiver.py, tests/test_security_settings.py).
WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP = True

# `pytest --at` (tests/clock.py) moves the test session's clock; a process a test starts
# (a Celery worker, a second manage.py) inherits this offset and reads the same moved clock.
_CLOCK_OFFSET = os.environ.get("CADENCE_TEST_CLOCK_OFFSET")
if _CLOCK_OFFSET:
    from datetime import UTC, datetime, timedelta

    import time_machine

    if not time_machine.escape_hatch.is_travelling():
        _moved = datetime.now(UTC) + timedelta(seconds=float(_CLOCK_OFFSET))
        time_machine.travel(_moved, tick=True).start()

# --- Issue 23 (branch 23a) ---------------------------------------------------------------
# The throttle counts every request but never bites (schemathesis sends thousands with one
# key under a frozen clock); tests/crm/test_api_limits.py sets the production rate.
API_THROTTLE_RATE = "1000000/minute"
# The fake shops the tests use: `responses` ones on https and http, live ones on 127.0.0.1.
# tests/woocommerce/test_shop_connection.py proves the production defaults refuse them.
WOOCOMMERCE_REST_ALLOW_HTTP = True
WOOCOMMERCE_REST_ALLOWED_NETWORKS = ["127.0.0.1/32"]
CACHES = {
    **CACHES,
    API_THROTTLE_CACHE: {**CACHES[API_THROTTLE_CACHE], "KEY_PREFIX": f"test-{TEST_RUN_ID}"},
    WOOCOMMERCE_SHOP_CACHE: {
        **CACHES[WOOCOMMERCE_SHOP_CACHE],
        "KEY_PREFIX": f"test-{TEST_RUN_ID}",
    },
}
