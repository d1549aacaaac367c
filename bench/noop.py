"""`bench.noop`: a Celery task that does nothing, the events benchmark's baseline.

Only the benchmark's workers load it (`celery worker --include bench.noop`, see
bench/webhooks.py); the product never sends it.
"""

from celery import shared_task


@shared_task(name="bench.noop")
def noop(index: int) -> None:
    """Nothing: what Celery itself costs per message (fetch, decode, run, ack)."""
    del index
