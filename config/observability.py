"""Errors to Sentry (issue 26): on only when `SENTRY_DSN` is set (config/settings/base.py).

Django's and Celery's integrations: an exception in a request or a task is sent
with its stack; personal data (cookies, users' addresses, bodies) is not sent.
"""

from __future__ import annotations

from typing import Any


def init_sentry(*, dsn: str, environment: str = "production", traces_sample_rate=0.0, **extra: Any):
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    return sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        # Webhook and API bodies carry customers' names and addresses: never sent.
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        **extra,
    )
