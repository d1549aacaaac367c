"""Plain helpers the test modules share (no fixtures here: see tests/fixtures.py)."""

from __future__ import annotations

import re
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def messages_of(response) -> list[str]:
    """The messages (Django's messages framework) a page shows, as text."""
    return [str(message) for message in response.context["messages"]]


def transitions_offered(response) -> list[str]:
    """The state transitions an admin change page offers as buttons, sorted."""
    return sorted(set(re.findall(r'data-transition="([a-z_]+)"', response.content.decode())))


def listed(response) -> set:
    """The rows an admin list page shows."""
    return set(response.context["cl"].result_list)


def paris(*args: int) -> datetime:
    """`paris(2026, 11, 9, 10)`: that wall-clock time in Paris."""
    return datetime(*args, tzinfo=PARIS)


def gmt(value: datetime) -> str:
    """An instant as WooCommerce writes its `*_gmt` dates: naive, to the second."""
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def load_demo() -> str:
    """Run `manage.py load_demo` (password "demo-password"); what it printed."""
    from django.core.management import call_command

    out = StringIO()
    call_command("load_demo", password="demo-password", stdout=out)
    return out.getvalue()


def write_preferences(subscription, actor=None, partial=True, **values):
    """Change a subscription's preferences through the service (by the system unless
    `actor`); what the service returns."""
    from core.actors import Actor
    from preferences import services

    return services.preferences_update(
        subscription=subscription,
        values=values,
        actor=actor or Actor.system(),
        source="system",
        partial=partial,
    )
