"""Celery entry points of the weekly cycle: thin and idempotent."""

from __future__ import annotations

from celery import shared_task

from fulfillment import services


@shared_task(name="fulfillment.lock_due_batches")
def lock_due_batches() -> dict:
    """Beat, every minute: lock each batch whose cut-off passed, exactly once; open the next.

    Also opens a batch for an organization that has settings but none open, and
    moves lines whose charge was paid meanwhile to `ready` (a safety net: the
    payment itself already does it).
    """
    report = services.lock_due_batches()
    opened = services.batches_open_missing()
    refreshed = services.lines_payment_refresh()
    return {
        "locked": report.locked,
        "lines": report.lines,
        "failed": report.failed,
        "opened": opened,
        "paid": refreshed,
    }
