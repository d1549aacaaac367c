"""Celery entry points of the lifecycle: thin, idempotent, taking ids."""

from __future__ import annotations

from celery import shared_task

from core import clock
from subscriptions import renewals


@shared_task(name="subscriptions.run_renewals")
def run_renewals(now: str | None = None) -> dict:
    """Beat: end, expire, resume, charge and retry whatever is due. Safe to run twice.

    `now` (ISO 8601 with its offset) replays the run at that instant (a catch-up).
    """
    report = renewals.run(now=clock.parse(now))
    return {
        "ended": report.ended,
        "expired": report.expired,
        "resumed": report.resumed,
        "charges_created": report.charges_created,
        "paid": report.paid,
        "failed": report.failed,
        "pending": report.pending,
        "errors": len(report.errors),
    }


@shared_task(name="subscriptions.renew_subscription")
def renew_subscription(subscription_id: int, now: str | None = None) -> None:
    """Charge one subscription at once if it is due (its first charge, after creation)."""
    renewals.renew_one(subscription_id=subscription_id, now=clock.parse(now))
