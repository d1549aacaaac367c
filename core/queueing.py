"""Enqueue Celery tasks after the current transaction commits, without failing the caller."""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send `task` once the transaction commits (at once outside one).

    Used for work a periodic task also does (so a lost message only delays
    it): if the broker is down, the caller's request still succeeds and the
    failure is logged.
    """

    def send():
        try:
            task.apply_async(args=args, kwargs=kwargs)
        except Exception:
            logger.warning("could not enqueue %s", task.name, exc_info=True)

    transaction.on_commit(send)
