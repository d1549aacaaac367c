"""Two lock tasks at once (beat twice, or a worker and a manual run): one lock, one set of lines."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from fulfillment.models import Batch, BatchLine
from fulfillment.services import lock_due_batches
from tests.factories import OrganizationFactory, coffee_schema, open_batch
from tests.fulfillment.test_lock import CUTOFF, bulk_due
from tests.threads import in_threads

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
LOCK = (
    "from datetime import datetime; from fulfillment.services import lock_due_batches; "
    "r = lock_due_batches(now=datetime.fromisoformat('{now}')); print(len(r.locked), r.lines)"
)


def due_batch(count: int) -> Batch:
    organization = OrganizationFactory()
    coffee_schema(organization)
    batch = open_batch(organization, CUTOFF)
    bulk_due(organization, count, window_start=batch.starts_at)
    return batch


def assert_locked_once(batch: Batch, count: int) -> None:
    batch.refresh_from_db()
    assert batch.status == Batch.Status.LOCKED
    lines = BatchLine.objects.filter(batch=batch)
    assert lines.count() == count
    assert lines.values("subscription_id", "cycle").distinct().count() == count
    # Exactly one next batch was opened.
    assert Batch.objects.filter(organization=batch.organization, status="open").count() == 1


def test_two_threads_locking_at_once_lock_once():
    batch = due_batch(200)
    now = CUTOFF + timedelta(minutes=1)
    results = in_threads(2, lambda _i: lock_due_batches(now=now))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(len(r.locked) for r in results) == [0, 1]
    assert sum(r.lines for r in results) == 200
    assert_locked_once(batch, 200)


def test_two_processes_locking_at_once_lock_once():
    batch = due_batch(500)
    # The same server as this run (real or embedded), the test database.
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    env = {**os.environ, "DATABASE_URL": urlunsplit(url)}
    code = LOCK.format(now=(CUTOFF + timedelta(minutes=1)).isoformat())
    processes = [
        subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    counts = sorted(tuple(map(int, out.split()[-2:])) for out, _err in outputs)
    assert counts == [(0, 0), (1, 500)]
    assert_locked_once(batch, 500)
