"""What a carrier platform does for us, whatever platform it is.

Fulfillment knows nothing of platforms; `carriers.services` speaks to one
through this interface only, so a second platform is a new module beside
`sendcloud.py` and a new `CarrierAccount.Platform` choice, nothing else.

Values only cross it: a `ParcelRequest` in, a `ParcelCreated` out, or an
exception saying whose fault it is. `ParcelRefused` is the box's (the platform
said no to this address, this weight...: staff fix it and retry);
`PlatformUnavailable` is everyone's (keys refused, network down, the platform
failing): the run stops and every box not yet labelled waits for the next one.
A label document is bytes (a PDF) out, or `LabelMissing` when the platform has
none for the parcel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Credentials:
    public_key: str
    secret_key: str


@dataclass(frozen=True)
class ParcelRequest:
    """One box to label.

    `reference` is unique per box and per attempt after a refusal: the
    platform refuses a second shipment with the same reference, which is what
    makes a retry after a crash safe. `address` is a batch line's frozen
    address (`crm.models.Address.CONTENT_FIELDS`).
    """

    reference: str
    order_number: str
    address: dict[str, str]
    weight_grams: int
    shipping_method: str
    sender_address_id: int | None = None
    email: str = ""
    label_size: str = "a6"


@dataclass(frozen=True)
class ParcelCreated:
    """A labelled parcel as the platform describes it."""

    parcel_id: str
    shipment_id: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    label_url: str = ""
    carrier_code: str = ""
    carrier_name: str = ""
    status_code: str = ""
    status_message: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ParcelStatus:
    """A parcel's current status as the platform reports it (the periodic pull)."""

    code: str
    message: str = ""
    at: datetime | None = None  # when the carrier reported it


class PlatformError(Exception):
    """The platform did not label the box."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ParcelRefused(PlatformError):
    """The platform refused this box; `message` is its own words, for staff."""


class PlatformUnavailable(PlatformError):
    """Keys refused, network or platform failure: not the box's fault, try later."""


class LabelMissing(PlatformError):
    """The platform has no label document for this parcel (cancelled, unknown to it)."""


class CarrierPlatform(Protocol):
    #: False for a platform that draws its documents here from the product's own rows
    #: (the fictitious demo platform): it is asked in the caller's thread, whose database
    #: connection it needs, not in the pool that fetches a remote platform's labels.
    remote: bool = True

    def create_parcel(self, request: ParcelRequest) -> ParcelCreated:
        """Create and announce one parcel and get its label; raises `PlatformError`."""
        ...

    def find_parcel(self, reference: str) -> ParcelCreated | None:
        """The labelled parcel created earlier with this `reference`, if any.

        Asked before creating again when an earlier attempt may have reached the
        platform without our recording its answer (a crash, a timeout).
        """
        ...

    def parcel_status(self, tracking_number: str) -> ParcelStatus | None:
        """The parcel's current status (None when the platform does not know it).

        Asked for parcels whose status webhooks never came; raises `PlatformError`.
        """
        ...

    def label_pdf(self, parcel_id: str, *, paper_size: str = "a6") -> bytes:
        """The parcel's label as a PDF document, one label per page of `paper_size`.

        Fetched from the platform's own address for it (never a link read from an
        answer); raises `LabelMissing` when it has none, else `PlatformError`.
        """
        ...
