"""The Celery application. Configuration lives in Django settings (CELERY_*).

Database connections in the worker (issue 26): Celery's Django fix-up closes
every connection before and after each task unless `CELERY_DB_REUSE_MAX` is
set; when it is set, the fix-up only closes them every N tasks and never runs
Django's own checks. So the settings set it (connections are kept, a new one
costs a few milliseconds per task), and the handlers below do for each task
what Django does for each request (`close_old_connections` on
`request_started` / `request_finished`): a connection past `CONN_MAX_AGE`, or
one that raised and no longer answers, is closed, and with `CONN_HEALTH_CHECKS`
the first query of the next task checks it first. A connection PostgreSQL
terminated between two tasks is replaced at the next task's first query; one
terminated during a task fails that task (retried, like any database error)
and is replaced after it. The webhook deliveries' tasks skip that `SELECT 1`:
their first statement, the claim, is the check (core/connections.py).
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
def _check_connections_before_task(sender=None, **kwargs) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # an eager task runs inside its caller's transaction: leave it alone
    from django.db import close_old_connections

    close_old_connections()


@signals.task_postrun.connect
def _check_connections_after_task(sender=None, **kwargs) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


# --- Metrics (core/metrics.py; served by config/metrics.py): imported when used, once the
# settings chose the mode ---


@signals.task_prerun.connect
def _metrics_task_started(task_id=None, **kwargs) -> None:
    from core import metrics

    metrics.task_started(task_id)


@signals.task_postrun.connect
def _metrics_task_finished(sender=None, task_id=None, state=None, **kwargs) -> None:
    from core import metrics

    metrics.task_finished(getattr(sender, "name", "?"), task_id, state)


@signals.worker_ready.connect
def _metrics_worker_port(**kwargs) -> None:
    """`METRICS_WORKER_PORT`: a machine of workers serves its own processes' metrics."""
    from django.conf import settings

    if not settings.METRICS_WORKER_PORT:
        return
    from prometheus_client import start_http_server

    from config import metrics

    start_http_server(
        settings.METRICS_WORKER_PORT,
        addr=settings.METRICS_WORKER_ADDRESS,
        registry=metrics.registry(),
    )


def worker_command(*, hostname: str, concurrency: int = 1) -> list[str]:
    """The command line of a worker consuming every queue (the tests' and benchmarks' workers).

    Gossip, mingle and heartbeats are off: a short-lived worker starts faster
    and talks to no other.
    """
    import sys

    from django.conf import settings

    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "--pool=prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-Q",
        ",".join(queue.name for queue in settings.CELERY_TASK_QUEUES),
        "--hostname",
        hostname,
    ]
