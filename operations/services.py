"""Start, advance and finish long operations.

A task that does the work calls `operation_run` (queued -> running), reports
its progress through an `OperationProgress`, and ends with `operation_finish`
or `operation_fail`. Each of them changes a row only from the statuses it
expects, so a task run twice (a redelivered message) does not reopen a
finished operation.

Progress must be visible to the admin page while the work runs, even when the
work runs inside `transaction.atomic` (a command such as `load_demo`, or a
caller's transaction): a write on the caller's connection would only show at
commit. So when the caller is inside a transaction, `OperationProgress` writes
through a second connection of its own, in autocommit; outside one it uses
the ordinary connection (one connection fewer for the usual Celery task). The
write never waits for a lock (`FOR UPDATE SKIP LOCKED`): if the caller's
transaction holds the row, that progress write is skipped rather than
deadlocking the work it reports on.
"""

from __future__ import annotations

import logging
import time

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from operations.models import Operation

logger = logging.getLogger(__name__)

Status = Operation.Status

#: At most one progress write per this many seconds (the admin page polls every 2 s).
PROGRESS_INTERVAL = 0.5


@transaction.atomic
def operation_start(
    *,
    organization,
    kind: str,
    subject: str,
    started_by=None,
    subject_url: str = "",
) -> Operation:
    """A queued operation; the caller then queues the task that runs it (by id, on commit)."""
    return Operation.objects.create(
        organization=organization,
        kind=kind,
        subject=subject[:200],
        subject_url=subject_url,
        started_by=started_by if getattr(started_by, "pk", None) else None,
    )


def operation_run(*, operation_id: int) -> Operation:
    """Mark the operation running (from queued) and return it, re-read.

    Called by the task that does the work; a second delivery of the same task
    finds it already running or finished and gets it unchanged.
    """
    now = timezone.now()
    Operation.objects.filter(pk=operation_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now
    )
    return Operation.objects.defer("result").get(pk=operation_id)


def operation_finish(
    *,
    operation: Operation,
    summary: str = "",
    file_name: str = "",
    content_type: str = "",
    content: bytes | None = None,
) -> Operation:
    """Succeeded: every step done, its summary and, for an export, its file."""
    total = operation.total if operation.total is not None else operation.done
    total = max(total, operation.done)
    fields = {
        "status": Status.SUCCEEDED,
        "finished_at": timezone.now(),
        "done": total,
        "total": total,
        "step": "",
        "result_summary": summary,
    }
    if content is not None:
        fields.update(result=content, result_name=file_name, result_content_type=content_type)
    _finish(operation, fields)
    return operation


def operation_fail(*, operation: Operation, error: str, summary: str = "") -> Operation:
    """Failed, with the error as staff should read it (no secrets, no traceback).

    `summary`: what was done before it failed, if anything.
    """
    _finish(
        operation,
        {
            "status": Status.FAILED,
            "finished_at": timezone.now(),
            "error": error,
            "result_summary": summary,
        },
    )
    return operation


def _finish(operation: Operation, fields: dict) -> None:
    now = fields["finished_at"]
    unfinished = Operation.objects.filter(pk=operation.pk).exclude(status__in=Operation.FINISHED)
    # An operation that failed before it was picked up never ran: started = finished.
    unfinished.filter(started_at__isnull=True).update(started_at=now)
    if unfinished.update(**fields):
        for name, value in fields.items():
            setattr(operation, name, value)
        operation.started_at = operation.started_at or now


class OperationProgress:
    """Writes `done`, `total` and `step` of a running operation, at most every 0.5 s.

    `report(done, total, step)` is cheap to call after every item; `flush()`
    writes what was last reported; `close()` flushes and releases the second
    connection, if one was opened.
    """

    def __init__(self, operation: Operation, *, interval: float = PROGRESS_INTERVAL):
        self.operation = operation
        self.interval = interval
        self._written_at: float | None = None
        self._pending = False
        self._side_connection = None

    def report(self, done: int, total: int | None = None, step: str | None = None) -> None:
        operation = self.operation
        operation.done = done
        if total is not None:
            operation.total = total
        if step is not None:
            operation.step = step[:100]
        self._pending = True
        now = time.monotonic()
        if self._written_at is None or now - self._written_at >= self.interval:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        operation = self.operation
        table = Operation._meta.db_table
        with self._cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET done = %s, total = %s, step = %s "  # noqa: S608 (our table)
                f"WHERE id = (SELECT id FROM {table} WHERE id = %s AND status = %s "
                "FOR UPDATE SKIP LOCKED)",
                [operation.done, operation.total, operation.step, operation.pk, Status.RUNNING],
            )
        self._written_at = time.monotonic()
        self._pending = False

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._side_connection is not None:
                self._side_connection.close()
                self._side_connection = None

    def _cursor(self):
        if not connection.in_atomic_block:
            return connection.cursor()
        if self._side_connection is None:
            self._side_connection = connection.copy()  # autocommit, the same database
        return self._side_connection.cursor()

    def __enter__(self) -> OperationProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def operation_enqueue(*, operation: Operation, task, args: tuple = (), kwargs: dict | None = None):
    """Send `task` once the transaction commits; if the broker refuses it, fail the operation.

    Without this an operation whose message never left would stay "queued"
    forever on a page that keeps polling it.
    """

    def send():
        try:
            task.apply_async(args=args, kwargs=kwargs or {})
        except Exception:
            logger.warning("could not enqueue %s for operation %s", task.name, operation.pk)
            operation_fail(
                operation=operation,
                error=gettext("The task queue is unavailable: start the operation again later."),
            )

    transaction.on_commit(send)


@transaction.atomic
def operation_launch(
    *,
    organization,
    kind: str,
    subject: str,
    subject_url: str = "",
    started_by=None,
    task,
    args: tuple = (),
    kwargs: dict | None = None,
) -> Operation:
    """Start an operation and queue the task doing it, once committed.

    The task gets the operation's id as its `operation_id` keyword, to report on it.
    """
    operation = operation_start(
        organization=organization,
        kind=kind,
        subject=subject,
        subject_url=subject_url,
        started_by=started_by,
    )
    operation_enqueue(
        operation=operation,
        task=task,
        args=args,
        kwargs={**(kwargs or {}), "operation_id": operation.pk},
    )
    return operation
