"""Celery entry points of after-sales: thin and idempotent."""

from __future__ import annotations

from celery import shared_task

from core import clock
from returns import services


@shared_task(name="returns.send_overdue_lists")
def send_overdue_lists(now: str | None = None) -> dict:
    """Beat, every 15 minutes: e-mail each organization's overdue cases once a day (8:00 local).

    Idempotent: an organization's list goes out once per local day, however
    often this runs and on however many beat processes. `now` (ISO 8601 with its offset)
    replays the run at that instant.
    """
    sent = services.overdue_lists_send(now=clock.parse(now))
    return {str(pk): count for pk, count in sent.items()}
