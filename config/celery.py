"""The Celery application. Configuration lives in Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
