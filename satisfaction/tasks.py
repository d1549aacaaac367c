"""Celery entry points of satisfaction surveys: thin and idempotent (beat runs them)."""

from __future__ import annotations

from celery import shared_task

from core import clock
from satisfaction import services


@shared_task(name="satisfaction.schedule_surveys")
def schedule_surveys(now: str | None = None) -> dict:
    """Create the surveys of deliveries whose delay passed, in every organization with them on.

    `now` (ISO 8601 with its offset), here and below, replays the run at that instant.
    """
    scheduled = services.surveys_schedule(now=clock.parse(now))
    return {str(pk): count for pk, count in scheduled.items()}


@shared_task(name="satisfaction.send_surveys")
def send_surveys(now: str | None = None) -> int:
    """E-mail the scheduled surveys whose time came (a bounded number per run)."""
    return services.surveys_send_due(now=clock.parse(now))


@shared_task(name="satisfaction.expire_surveys")
def expire_surveys(now: str | None = None) -> int:
    """Close the sent surveys nobody answered in time."""
    return services.surveys_expire(now=clock.parse(now))
