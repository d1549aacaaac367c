"""The delivery calendar, as the layers below fulfillment see it (a port).

Fulfillment owns batches and the cut-off rule. Two layers below it need an answer from
them: preferences (which box a change made now reaches) and subscriptions (the schedule
by date, and the refusal to skip a cycle whose box is already locked). They must not
import fulfillment (the layers contract in pyproject.toml), so they ask this port, and
fulfillment installs the implementation when the app registry is ready
(`fulfillment.apps.FulfillmentConfig.ready`, `fulfillment.selectors.DeliveryCalendar`).

The port carries values only (dates, instants, a batch's id and status): nothing below
fulfillment holds a fulfillment model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Cycle:
    """A cycle of the organization's calendar: its batch if it exists yet, else the one the
    calendar will create (`batch_id` None, `status` "planned")."""

    cycle_date: date
    cutoff_at: datetime
    ships_on: date
    batch_id: int | None = None
    status: str = "planned"  # the batch's status, or "planned"
    batch: Any = None  # the batch row itself, for the fulfillment layer's own callers


class DeliveryCalendar(Protocol):
    def cycle_at(self, *, organization: Any, at: datetime) -> Cycle:
        """The cycle something done at `at` first counts for (the cut-off rule)."""

    def cycle_finder(self, *, organization: Any, first: datetime) -> Callable[[datetime], Cycle]:
        """A function giving the cycle a subscription cycle starting at an instant (not
        before `first`) ships in; a fixed number of queries whatever the calls."""

    def locked_cycles(
        self, *, organization_id: int, subscription_id: int, cycles: Iterable[int]
    ) -> dict[int, date]:
        """The subscription's cycles among `cycles` a batch line holds, with its batch's date."""


_calendar: DeliveryCalendar | None = None


def install(calendar: DeliveryCalendar) -> None:
    global _calendar
    _calendar = calendar


def calendar() -> DeliveryCalendar:
    if _calendar is None:  # pragma: no cover - fulfillment is always installed
        raise RuntimeError("No delivery calendar installed: is the fulfillment app installed?")
    return _calendar


def cycle_at(*, organization: Any, at: datetime) -> Cycle:
    return calendar().cycle_at(organization=organization, at=at)
