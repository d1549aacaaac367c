"""Reads for the portal's after-sales and survey pages (portal/views/cases.py).

Everything is read through the signed-in customer: another customer's case, box or
survey is simply not in these querysets. The customer's timeline of a case is not the
staff's: staff notes, assignments and window overrides stay internal (`ReturnNote` has no
visibility flag), so the customer reads the opening, the photos, each status change (with
the reason only for a rejection: the one text staff write *for* the customer) and the
resolution, read from the case itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import formats
from django.utils.translation import gettext as _

from core import clock
from crm.models import Customer, Organization
from fulfillment.models import Shipment
from returns.models import ReturnConfig, ReturnNote, ReturnRequest
from returns.services import window_last_day
from satisfaction.models import SatisfactionSurvey, SurveyOptOut

NoteKind = ReturnNote.Kind
Status = ReturnRequest.Status
Resolution = ReturnRequest.Resolution

#: The timeline entries a customer reads (the others are the staff's).
CUSTOMER_KINDS = (NoteKind.OPENED, NoteKind.PHOTOS, NoteKind.STATUS)


def return_config_of(*, organization: Organization) -> ReturnConfig:
    """The organization's return rules; the defaults (unsaved) if it never set them: a
    page that only reads must not write them."""
    config = ReturnConfig.objects.filter(organization=organization).first()
    return config or ReturnConfig(organization=organization)


def customer_cases(*, customer: Customer) -> QuerySet[ReturnRequest]:
    """The customer's cases, newest first, with what their list shows (constant queries)."""
    return (
        ReturnRequest.objects.filter(organization_id=customer.organization_id, customer=customer)
        .select_related("reason", "shipment")
        .order_by("-opened_at", "-id")
    )


def customer_case(*, customer: Customer, case_id: int) -> ReturnRequest | None:
    return (
        customer_cases(customer=customer)
        .select_related("replacement_line__batch", "organization")
        .filter(pk=case_id)
        .first()
    )


def customer_shipments(*, customer: Customer) -> QuerySet[Shipment]:
    """The customer's delivered boxes: what a case may be opened about."""
    return Shipment.objects.filter(
        organization_id=customer.organization_id,
        customer=customer,
        status=Shipment.Status.DELIVERED,
    ).select_related("line", "batch")


@dataclass(frozen=True)
class OpenableBox:
    shipment: Shipment
    last_day: date


def boxes_open_to_cases(*, customer: Customer, now: datetime | None = None) -> list[OpenableBox]:
    """The customer's delivered boxes still inside the return window and with no open case,
    most recent first, with the window's last day (two queries whatever their number)."""
    now = now or clock.now()
    config = return_config_of(organization=customer.organization)
    today = now.astimezone(customer.organization.tzinfo).date()
    open_case = ReturnRequest.objects.filter(shipment=OuterRef("pk"), status__in=ReturnRequest.OPEN)
    shipments = (
        customer_shipments(customer=customer)
        .annotate(has_open_case=Exists(open_case))
        .filter(has_open_case=False)
        # Older boxes are outside any window: not read (the day's bounds are checked below).
        .filter(delivered_at__gte=now - timedelta(days=config.window_days + 2))
        .order_by("-delivered_at", "-id")
    )
    boxes = []
    for shipment in shipments:
        last_day = window_last_day(config=config, shipment=shipment)
        if last_day is not None and today <= last_day:
            boxes.append(OpenableBox(shipment=shipment, last_day=last_day))
    return boxes


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    title: str
    text: str = ""


def _status_label(value: str) -> str:
    return str(Status(value).label) if value in Status.values else value


def customer_timeline(*, case: ReturnRequest) -> list[TimelineEntry]:
    """What the customer reads of the case's timeline, oldest first (one query)."""
    notes = case.notes.filter(kind__in=CUSTOMER_KINDS).order_by("created_at", "id")
    entries = []
    for note in notes:
        if note.kind == NoteKind.OPENED:
            entries.append(TimelineEntry(note.created_at, _("Case opened")))
        elif note.kind == NoteKind.PHOTOS:
            count = len((note.data or {}).get("photos", []))
            entries.append(
                TimelineEntry(note.created_at, _("Photos added: %(count)s") % {"count": count})
            )
        else:
            title = _("%(from)s → %(to)s") % {
                "from": _status_label(note.from_status),
                "to": _status_label(note.to_status),
            }
            text = note.text if note.to_status == Status.REJECTED else ""
            entries.append(TimelineEntry(note.created_at, title, text))
    return entries


def resolution_text(*, case: ReturnRequest) -> str:
    """What the customer gets, once the case is resolved ("" before)."""
    if case.status != Status.RESOLVED or not case.resolution:
        return ""
    amount = formats.number_format(case.amount, 2, use_l10n=True) if case.amount is not None else ""
    if case.resolution == Resolution.REFUND:
        return _("Refund of %(amount)s %(currency)s.") % {
            "amount": amount,
            "currency": case.currency,
        }
    if case.resolution == Resolution.CREDIT:
        return _("Credit of %(amount)s %(currency)s on your next payment.") % {
            "amount": amount,
            "currency": case.currency,
        }
    if case.resolution == Resolution.REPLACEMENT:
        line = case.replacement_line
        if line is not None and line.batch_id:
            return _("A replacement box, shipped with the box of %(date)s.") % {
                "date": formats.date_format(
                    line.batch.cutoff_at.astimezone(case.organization.tzinfo)
                )
            }
        return _("A replacement box.")
    return _("Closed: nothing is owed.")


# --- Surveys ---------------------------------------------------------------------------------


def customer_surveys(*, customer: Customer) -> QuerySet[SatisfactionSurvey]:
    """The customer's surveys that were sent (scheduled ones are not theirs to see yet)."""
    return (
        SatisfactionSurvey.objects.filter(
            organization_id=customer.organization_id, customer=customer
        )
        .exclude(
            status__in=[SatisfactionSurvey.Status.SCHEDULED, SatisfactionSurvey.Status.CANCELED]
        )
        .select_related("shipment", "organization")
    )


def pending_surveys(*, customer: Customer, now: datetime | None = None) -> list[SatisfactionSurvey]:
    """Sent, not answered, still open: what the portal offers to answer."""
    return list(
        customer_surveys(customer=customer)
        .filter(status=SatisfactionSurvey.Status.SENT, expires_at__gt=now or clock.now())
        .order_by("expires_at", "id")
    )


def surveys_stopped(*, customer: Customer) -> bool:
    return SurveyOptOut.objects.filter(customer=customer).exists()
