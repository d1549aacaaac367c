"""Errors to Sentry (issue 26): off without SENTRY_DSN; Django's and Celery's integrations on."""

from __future__ import annotations

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from config.observability import init_sentry


class Captured(Transport):
    def __init__(self):
        super().__init__({"dsn": None})
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)


def test_without_a_dsn_nothing_is_sent(settings):
    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()


@pytest.fixture
def sentry():
    transport = Captured()
    init_sentry(dsn="https://public@sentry.example.com/1", environment="test", transport=transport)
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # back to no client


def test_with_a_dsn_errors_are_sent_with_the_django_and_celery_integrations(sentry):
    client = sentry_sdk.get_client()
    assert client.is_active()
    assert {"django", "celery"} <= set(client.integrations)
    assert client.options["send_default_pii"] is False
    assert client.options["max_request_body_size"] == "never"

    try:
        raise RuntimeError("the renewal run broke")
    except RuntimeError as exc:
        sentry_sdk.capture_exception(exc)
    sentry_sdk.flush()

    events = [
        item.payload.json for env in sentry.envelopes for item in env.items if item.type == "event"
    ]
    assert events[0]["exception"]["values"][0]["value"] == "the renewal run broke"
    assert events[0]["environment"] == "test"
