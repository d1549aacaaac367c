"""A unit of work's first statement as its connection's health check (issue 26).

With `CONN_HEALTH_CHECKS`, Django sends `SELECT 1` on a reused connection before a
request's (or, config/celery.py, a task's) first query, so that a connection
PostgreSQL ended while it was idle is replaced instead of failing the work. On the
webhook path that round trip cost as much as the work's one statement. Where the
first statement can safely be sent twice, `checked_first` sends it on the connection
as it is; if the connection turns out dead, it is closed and the statement sent once
more on a new one: the same safety, paid only when a connection did die.

"Safely sent twice": the statement was committed or not, never half, and sending it
again after it did commit changes nothing more (an INSERT ... ON CONFLICT DO NOTHING,
an UPDATE guarded by the state it moves from). Inside a transaction nothing is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")


def checked_first(statement: Callable[[], T], *, what: str) -> T:
    """Run `statement` (one statement, safe to send twice) as the connection's check."""
    retry = not connection.in_atomic_block
    if retry:
        connection.health_check_done = True  # the statement below is this unit's check
    try:
        return statement()
    except (OperationalError, InterfaceError):
        if not retry:
            raise
        logger.warning("%s: database connection lost, reconnecting once", what)
        connection.close()
    return statement()
