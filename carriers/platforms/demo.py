"""A fictitious carrier platform, for development and the demo data: no network, no keys.

`make run` shows labels and tracking without a platform's credentials: the demo
organization's carrier account names this platform ("Demo (fictitious)"), and
the labels run, the admin and the tracking pull use it through the same
interface as Sendcloud (`carriers.platforms.base`). It is allowed only where
nothing real ships: when `settings.DEBUG` or `settings.CARRIERS_DEMO_PLATFORM`
is true (never in production settings); elsewhere the account form, the labels
service and `platform_for` refuse it.

It keeps nothing: everything it answers is computed from what it is asked.

- A parcel: its id and tracking number come from the request's reference (a
  retry with the same reference gets the same ones, as a real platform's 409)
  and from the minute it was created, which the tracking number carries so that
  its status can be told later. A box whose address lacks its street, postcode
  or city is refused, with the platform's kind of message.
- Its label: an A6 PDF drawn here (`label_pdf`), marked "DEMO — fictitious
  label" on every edge, with the address, the weight and a Code128 barcode of
  the tracking number. The admin serves it from the parcel's page.
- Its tracking: "announced" when created, "on its way" `EN_ROUTE_AFTER` later,
  "delivered" `DELIVERED_AFTER` after its creation (`parcel_status`, read by the
  periodic pull, applied by `carriers.tracking` like any platform's status).
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from carriers.platforms.base import (
    LabelMissing,
    ParcelCreated,
    ParcelRefused,
    ParcelRequest,
    ParcelStatus,
    PlatformUnavailable,
)
from core import clock
from fulfillment.pdf import printable

#: The `CarrierAccount.Platform` value naming it.
NAME = "demo"
#: After its label, when a demo parcel is on its way, then delivered.
EN_ROUTE_AFTER = timedelta(hours=12)
DELIVERED_AFTER = timedelta(days=2)
#: "DEMO", the minute of its creation (since the epoch), four digits of its reference.
TRACKING = re.compile(r"DEMO(\d{8})(\d{4})")
#: Printed on every label, in French whatever the language: it is on the parcel.
WATERMARK = "DÉMO — étiquette fictive"
#: The statuses, in Sendcloud's words (what `carriers.tracking.MEANINGS` reads).
ANNOUNCED = ("announced", "Announced")
EN_ROUTE = ("shipment-on-route", "Shipment on route")
DELIVERED = ("delivered", "Delivered")


def allowed() -> bool:
    """Whether the fictitious platform may be used here (development, demos, tests)."""
    return bool(settings.DEBUG or getattr(settings, "CARRIERS_DEMO_PLATFORM", False))


def refusal() -> str:
    """Why it may not be used here, for staff (the form) and the services' errors."""
    return _(
        "The demo carrier platform is fictitious: its labels ship nothing. It can only be "
        "used in development (DEBUG or CARRIERS_DEMO_PLATFORM), not with these settings."
    )


def tracking_number(reference: str, created_at: datetime) -> str:
    minute = int(created_at.timestamp() // 60)
    digits = int(hashlib.sha256(reference.encode()).hexdigest(), 16) % 10_000
    return f"DEMO{minute:08d}{digits:04d}"


def created_at_of(tracking: str) -> datetime | None:
    match = TRACKING.fullmatch(tracking or "")
    if match is None:
        return None
    return datetime.fromtimestamp(int(match.group(1)) * 60, tz=UTC)


class DemoPlatform:
    """The fictitious platform (`CarrierPlatform`); `now` is its clock (the product's)."""

    name = NAME
    remote = False  # its labels are drawn from the product's parcel rows

    def __init__(self, *, now=clock.now):
        if not allowed():
            raise PlatformUnavailable(refusal())
        self.now = now

    def create_parcel(self, request: ParcelRequest) -> ParcelCreated:
        address = request.address or {}
        missing = [
            label
            for key, label in (("line1", "street"), ("postcode", "postal code"), ("city", "city"))
            if not str(address.get(key, "")).strip()
        ]
        if missing:  # the platform's words, as Sendcloud would answer
            raise ParcelRefused(f"Demo platform: the address has no {', '.join(missing)}.")
        tracking = tracking_number(request.reference, self.now())
        parcel_id = f"demo-{hashlib.sha256(request.reference.encode()).hexdigest()[:12]}"
        code, message = ANNOUNCED
        return ParcelCreated(
            parcel_id=parcel_id,
            shipment_id=parcel_id,
            tracking_number=tracking,
            # The back office's own parcel list is its tracking page: there is no other.
            tracking_url=f"{reverse('admin:carriers_parcel_changelist')}?q={tracking}",
            label_url="",  # served from the parcel's page (`label_pdf`)
            carrier_code=NAME,
            carrier_name=_("Demo carrier (fictitious)"),
            status_code=code,
            status_message=message,
        )

    def label_pdf(self, parcel_id: str, *, paper_size: str = "a6") -> bytes:
        """The label of a demo parcel, always A6 (the merged sheet lays A6 labels out)."""
        from carriers.models import CarrierAccount, Parcel

        parcel = (
            Parcel.objects.select_related("line")
            .filter(
                account__platform=CarrierAccount.Platform.DEMO,
                platform_parcel_id=parcel_id,
                state=Parcel.State.LABELLED,
            )
            .first()
        )
        if parcel is None:
            raise LabelMissing(f"Demo platform: no parcel {parcel_id}.")
        return parcel_label(parcel)

    def find_parcel(self, reference: str) -> ParcelCreated | None:
        # It keeps nothing; creating again with the reference gives the same ids.
        return None

    def parcel_status(self, tracking_number: str) -> ParcelStatus | None:
        created = created_at_of(tracking_number)
        if created is None:
            return None
        elapsed = self.now() - created
        if elapsed >= DELIVERED_AFTER:
            (code, message), at = DELIVERED, created + DELIVERED_AFTER
        elif elapsed >= EN_ROUTE_AFTER:
            (code, message), at = EN_ROUTE, created + EN_ROUTE_AFTER
        else:
            (code, message), at = ANNOUNCED, created
        return ParcelStatus(code=code, message=message, at=at)


def parcel_label(parcel) -> bytes:
    """A demo parcel's label, drawn from what the product keeps of it (the platform keeps
    nothing: the product's parcel row is its memory)."""
    return draw_label(
        tracking=parcel.tracking_number,
        address=parcel.address or parcel.line.address or {},
        weight_grams=parcel.weight_grams,
        order_number=parcel.code,
    )


def draw_label(
    *, tracking: str, address: dict, weight_grams: int | None, order_number: str
) -> bytes:
    """The demo parcel's label: an A6 page, marked fictitious, its barcode the tracking number."""
    buffer = io.BytesIO()
    width, height = A6
    canvas = Canvas(buffer, pagesize=A6)
    canvas.setTitle(f"{WATERMARK} {tracking}")
    margin = 6 * mm
    # Fictitious, in a band at the top and across the page.
    canvas.setFillColor(colors.HexColor("#b00020"))
    canvas.rect(0, height - 14 * mm, width, 14 * mm, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    canvas.setFont("Helvetica-Bold", 13)
    canvas.drawCentredString(width / 2, height - 9 * mm, printable(WATERMARK))
    canvas.saveState()
    canvas.setFillColor(colors.HexColor("#f2c4cb"))
    canvas.setFont("Helvetica-Bold", 30)
    canvas.translate(width / 2, height / 2)
    canvas.rotate(35)
    canvas.drawCentredString(0, 0, printable("DÉMO"))
    canvas.restoreState()
    # The address.
    canvas.setFillColor(colors.black)
    top = height - 22 * mm
    canvas.setFont("Helvetica", 8)
    canvas.drawString(margin, top, printable(_("Deliver to")))
    lines = [
        address.get("name", ""),
        address.get("company", ""),
        address.get("line1", ""),
        address.get("line2", ""),
        f"{address.get('postcode', '')} {address.get('city', '')}".strip(),
        address.get("country", ""),
    ]
    canvas.setFont("Helvetica-Bold", 12)
    y = top - 6 * mm
    for line in (line for line in lines if line):
        canvas.drawString(margin, y, printable(line)[:40])
        y -= 5.5 * mm
    canvas.setFont("Helvetica", 9)
    details = [_("Order %(number)s") % {"number": order_number}]
    if weight_grams:
        details.append(f"{weight_grams / 1000:.3f} kg")
    canvas.drawString(margin, y - 2 * mm, printable(" · ".join(details)))
    # The tracking number and its barcode.
    barcode = Code128(tracking, barWidth=0.33 * mm, barHeight=18 * mm, humanReadable=False)
    barcode.drawOn(canvas, (width - barcode.width) / 2, 16 * mm)
    canvas.setFont("Helvetica-Bold", 11)
    canvas.drawCentredString(width / 2, 10 * mm, tracking)
    canvas.setFont("Helvetica", 7)
    canvas.drawCentredString(width / 2, 5 * mm, printable(WATERMARK))
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
