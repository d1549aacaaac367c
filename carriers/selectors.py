"""Reads of the carriers app, each scoped to one organization."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from carriers.api.filters import ParcelFilter
from carriers.models import CarrierAccount, Parcel
from core.errors import ApplicationError
from crm.models import Organization
from fulfillment.models import Batch, BatchLine
from fulfillment.parcels import LineParcel


def carrier_account_for(*, organization: Organization) -> CarrierAccount | None:
    """The organization's carrier account, if it has one."""
    return (
        CarrierAccount.objects.filter(organization=organization)
        .prefetch_related("country_methods")
        .first()
    )


def shipping_method_for(*, account: CarrierAccount, country: str) -> str:
    """The shipping method to `country`: its own where set, else the account's."""
    for rule in account.country_methods.all():
        if str(rule.country) == (country or "").upper():
            return rule.shipping_method
    return account.shipping_method


def parcel_list(*, organization: Organization, filters=None) -> QuerySet[Parcel]:
    """The organization's parcels, by batch and line; `filters`: batch, line, state
    (query parameters; invalid ones raise `ApplicationError`, 400)."""
    parcels = (
        Parcel.objects.filter(organization=organization)
        .select_related("line__shipment")
        .order_by("batch_id", "line_id")
    )
    if filters is None:
        return parcels
    filterset = ParcelFilter(filters, queryset=parcels)
    if not filterset.is_valid():
        fields = {name: list(errors) for name, errors in filterset.errors.items()}
        raise ApplicationError(_("Invalid input."), {"fields": fields})
    return filterset.qs


def parcel_for_shipment(*, organization: Organization, shipment_id: int) -> Parcel | None:
    """The parcel of a shipment's box, if it was labelled through a carrier account."""
    return (
        Parcel.objects.filter(organization=organization, line__shipment__id=shipment_id)
        .select_related("line__shipment")
        .first()
    )


def batch_parcel_counts(*, batch: Batch) -> dict[str, int]:
    """How many of the batch's parcels are in each state."""
    rows = (
        Parcel.objects.filter(batch=batch)
        .order_by()
        .values_list("state")
        .annotate(count=Count("id"))
    )
    return dict(rows)


#: The boxes of a batch that go out to the carrier: each one needs a label.
OUTGOING_LINES = (BatchLine.Status.PREPARED, BatchLine.Status.SHIPPED)


@dataclass(frozen=True)
class BatchLabels:
    """The labelled parcels of a batch's boxes, in the boxes' order, and the boxes without."""

    parcels: list[Parcel]
    unlabelled: list[str]  # the codes of the boxes with no label


def batch_labels(*, batch: Batch, line_ids: Iterable[int] | None = None) -> BatchLabels:
    """Which boxes of the batch have a label: all its outgoing boxes (prepared or
    shipped), or the lines `line_ids` of it (a selection; others' ids are ignored).

    One query, whatever the number of boxes.
    """
    lines = BatchLine.objects.filter(batch=batch, organization_id=batch.organization_id)
    if line_ids is None:
        lines = lines.filter(status__in=OUTGOING_LINES)
    else:
        lines = lines.filter(pk__in=list(line_ids))
    lines = (
        lines.select_related("parcel").defer("items", "address", "parcel__address").order_by("pk")
    )
    parcels, unlabelled = [], []
    for line in lines:
        parcel = getattr(line, "parcel", None)
        labelled = parcel is not None and parcel.state == Parcel.State.LABELLED
        if labelled and parcel.platform_parcel_id:
            parcels.append(parcel)
        else:
            unlabelled.append(line.code)
    return BatchLabels(parcels=parcels, unlabelled=unlabelled)


class LineParcelsOfCarriers:
    """Fulfillment's port onto the parcels (`fulfillment.parcels.LineParcels`)."""

    FIELDS = (
        "line_id",
        "state",
        "carrier",
        "tracking_number",
        "tracking_url",
        "carrier_status",
        "carrier_status_message",
        "carrier_status_at",
    )

    def of_lines(self, *, line_ids: list[int]) -> dict[int, LineParcel]:
        rows = Parcel.objects.filter(line_id__in=line_ids).order_by().values(*self.FIELDS)
        return {row["line_id"]: LineParcel(**row) for row in rows}
