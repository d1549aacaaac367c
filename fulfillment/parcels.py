"""The carrier platform's parcel of each box, as fulfillment reads it (a port).

Labels and tracking belong to `carriers`, which sits above fulfillment: fulfillment
must not import it (the layers contract in pyproject.toml), yet a shipment shows
its parcel (the API) and takes its carrier and tracking at dispatch. So
fulfillment asks this port, and carriers installs the implementation when the
app registry is ready (`carriers.apps.CarriersConfig.ready`,
`carriers.selectors.LineParcels`). Without it, no box has a parcel.

Values only cross it: a box's (batch line's) id in, a `LineParcel` out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class LineParcel:
    """A box's parcel on the carrier platform: its label state, tracking and last status."""

    line_id: int
    state: str  # pending, labelled, refused (carriers' `Parcel.State`)
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    carrier_status: str = ""
    carrier_status_message: str = ""
    carrier_status_at: datetime | None = None

    @property
    def labelled(self) -> bool:
        return self.state == "labelled"


class LineParcels(Protocol):
    def of_lines(self, *, line_ids: list[int]) -> dict[int, LineParcel]:
        """The parcels of these boxes, by line id (boxes without one left out); one query."""


_source: LineParcels | None = None


def install(source: LineParcels) -> None:
    global _source
    _source = source


def parcels_of_lines(*, line_ids: Iterable[int]) -> dict[int, LineParcel]:
    """The parcels of these boxes by line id; empty when no carriers app is installed."""
    ids = sorted(set(line_ids))
    if _source is None or not ids:
        return {}
    return _source.of_lines(line_ids=ids)
