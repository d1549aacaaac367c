"""Progress writes: seen by another request while the work runs, even inside a transaction.

These tests commit (`transactional_db`): what another connection sees is the point.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from operations.models import Operation
from operations.services import (
    OperationProgress,
    operation_fail,
    operation_finish,
    operation_run,
    operation_start,
)
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = Operation.Status


@pytest.fixture
def running():
    organization = OrganizationFactory(name="Purea Café", slug="purea")
    operation = operation_start(
        organization=organization, kind=Operation.Kind.BATCH_EXPORT, subject="Batch of 2 Dec"
    )
    return operation_run(operation_id=operation.pk)


@pytest.fixture
def other_connection():
    """Another request's view of the database (its own connection, autocommit)."""
    other = connection.copy()
    yield other
    other.close()


def seen_by(other, operation) -> tuple:
    with other.cursor() as cursor:
        cursor.execute(
            "SELECT status, done, total, step FROM operations_operation WHERE id = %s",
            [operation.pk],
        )
        return cursor.fetchone()


def test_progress_reported_inside_a_transaction_is_seen_before_it_commits(
    running, other_connection
):
    progress = OperationProgress(running)
    with transaction.atomic():  # e.g. `load_demo`, one transaction
        OrganizationFactory(name="Maison du Thé", slug="maison-du-the")
        progress.report(3, 10, "pick-list")

        # The work's own writes stay invisible until it commits...
        with other_connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM crm_organization WHERE slug = 'maison-du-the'")
            assert cursor.fetchone() == (0,)
        # ... but its progress is already there for the admin page.
        assert seen_by(other_connection, running) == (Status.RUNNING, 3, 10, "pick-list")
        progress.close()


def test_progress_is_written_at_most_every_half_second(running, other_connection):
    progress = OperationProgress(running)

    progress.report(1, 100, "read")
    for done in range(2, 50):
        progress.report(done, 100, "pick-list")

    assert seen_by(other_connection, running)[1:] == (1, 100, "read")  # the first, at once
    time.sleep(0.55)
    progress.report(50, 100, "packing-slips")
    assert seen_by(other_connection, running)[1:] == (50, 100, "packing-slips")
    progress.report(51, 100, "packing-slips")
    progress.close()  # what was last reported is written on the way out
    assert seen_by(other_connection, running)[1:] == (51, 100, "packing-slips")


def test_a_progress_write_never_waits_for_a_row_the_work_holds(running, other_connection):
    progress = OperationProgress(running)
    finished = threading.Event()
    with transaction.atomic():
        Operation.objects.select_for_update().get(pk=running.pk)  # the work holds the row

        def report():
            try:
                progress.report(5, 10, "zip")
                finished.set()
            finally:
                connection.close()  # this thread's own connection

        worker = threading.Thread(target=report)
        worker.start()
        worker.join(timeout=5)

        # Skipped rather than waiting for a commit that waits for it (a deadlock).
        assert finished.is_set()
    progress.close()


def test_a_finished_operation_takes_no_more_progress_and_does_not_finish_twice(
    running, other_connection
):
    operation_finish(operation=running, summary="6 files")
    finished_at = Operation.objects.get(pk=running.pk).finished_at
    progress = OperationProgress(running)

    progress.report(1, 10, "read")
    progress.close()
    operation_fail(operation=running, error="too late")

    assert seen_by(other_connection, running) == (Status.SUCCEEDED, 0, 0, "")
    operation = Operation.objects.get(pk=running.pk)
    assert (operation.error, operation.finished_at) == ("", finished_at)
