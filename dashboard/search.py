"""One search box for the back office: whatever a staff member has in hand.

A customer (e-mail, name, phone), a subscription or an after-sales case (its
number), a shop order (its number), a batch line (the code on its packing slip)
or a parcel (its tracking number), in the organization the member works in.

One query per kind of row, whatever the number of hits (at most `MAX_HITS` of
each kind); a query that cannot be a number, a code or a tracking number never
asks for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q, Value
from django.db.models.functions import Concat
from django.utils.translation import gettext_lazy as _

from crm.models import Customer, Organization
from fulfillment.models import BatchLine, Shipment, line_pk_from_code
from returns.models import ReturnRequest
from subscriptions.models import Subscription
from woocommerce.models import Resource, WooMapping, WooOrder

MIN_LENGTH = 2
MAX_LENGTH = 100
MAX_HITS = 10

#: "#1234", "1234": a number staff read on a page, an e-mail or the shop.
NUMBER = re.compile(r"#?\s*(\d{1,18})")

KINDS = {
    "customer": _("Customer"),
    "subscription": _("Subscription"),
    "order": _("Shop order"),
    "case": _("After-sales case"),
    "line": _("Batch line"),
    "shipment": _("Parcel"),
}


@dataclass(frozen=True)
class Hit:
    kind: str
    pk: int
    title: str
    detail: str
    #: The row's model, for the caller to link it (the admin page, the API address).
    model: type

    @property
    def kind_label(self) -> str:
        return str(KINDS[self.kind])


class QueryError(ValueError):
    """The search text is empty, too short or too long."""


def clean_query(raw: str | None) -> str:
    # No NUL (PostgreSQL refuses it in a text); runs of spaces are one.
    query = " ".join((raw or "").replace("\x00", "").split())
    if len(query) < MIN_LENGTH:
        raise QueryError(_("Type at least %(count)s characters to search.") % {"count": MIN_LENGTH})
    if len(query) > MAX_LENGTH:
        raise QueryError(_("Type at most %(count)s characters to search.") % {"count": MAX_LENGTH})
    return query


def _name(customer: Customer) -> str:
    full = f"{customer.first_name} {customer.last_name}".strip()
    return f"{full} <{customer.email}>" if full else customer.email


def search(*, organization: Organization, query: str) -> list[Hit]:
    """Every kind of row `query` may name, in a fixed order of kinds (at most 6 queries)."""
    query = clean_query(query)
    number_match = NUMBER.fullmatch(query)
    number = int(number_match[1]) if number_match else None
    hits: list[Hit] = []

    customers = (
        Customer.objects.filter(organization=organization)
        .annotate(searched_name=Concat("first_name", Value(" "), "last_name"))
        .filter(
            Q(email__icontains=query)
            | Q(searched_name__icontains=query)
            | Q(last_name__icontains=query)
            | Q(phone__icontains=query)
        )
        .order_by("last_name", "first_name", "pk")[:MAX_HITS]
    )
    hits += [Hit("customer", c.pk, _name(c), c.phone, Customer) for c in customers]

    if number is not None:
        # Its number here, or the shop's number of a mirrored one.
        mirrored = WooMapping.objects.filter(
            organization=organization, resource=Resource.SUBSCRIPTION, woo_id=number
        ).values("object_id")
        subscriptions = (
            Subscription.objects.filter(organization=organization)
            .filter(Q(pk=number) | Q(pk__in=mirrored))
            .select_related("customer")
            .order_by("pk")[:MAX_HITS]
        )
        hits += [
            Hit(
                "subscription",
                s.pk,
                str(_("Subscription %(number)s") % {"number": s.pk}),
                f"{_name(s.customer)} · {s.get_status_display()}",
                Subscription,
            )
            for s in subscriptions
        ]

    order_number = Q(number__iexact=query.lstrip("#"))
    if number is not None:
        order_number |= Q(woo_id=number)
    orders = (
        WooOrder.objects.filter(organization=organization)
        .filter(order_number)
        .select_related("customer", "store")
        .order_by("pk")[:MAX_HITS]
    )
    hits += [
        Hit(
            "order",
            o.pk,
            str(_("Order %(number)s") % {"number": o.number or o.woo_id}),
            " · ".join(part for part in (o.store.name, o.customer and _name(o.customer)) if part),
            WooOrder,
        )
        for o in orders
    ]

    if number is not None:
        cases = (
            ReturnRequest.objects.filter(organization=organization, pk=number)
            .select_related("customer")
            .order_by("pk")[:MAX_HITS]
        )
        hits += [
            Hit(
                "case",
                r.pk,
                str(r),
                f"{_name(r.customer)} · {r.get_status_display()}",
                ReturnRequest,
            )
            for r in cases
        ]

    line_pk = line_pk_from_code(query.replace(" ", ""))
    if line_pk is not None:
        lines = (
            BatchLine.objects.filter(organization=organization, pk=line_pk)
            .select_related("customer", "batch")
            .order_by("pk")
        )
        hits += [
            Hit(
                "line",
                line.pk,
                str(line),
                f"{_name(line.customer)} · {line.batch} · {line.get_status_display()}",
                BatchLine,
            )
            for line in lines
        ]

    tracking = query.replace(" ", "")
    if len(tracking) >= 4:  # a tracking number, not a fragment of a name
        shipments = (
            Shipment.objects.filter(organization=organization, tracking_number__iexact=tracking)
            .select_related("customer")
            .order_by("pk")[:MAX_HITS]
        )
        hits += [
            Hit(
                "shipment",
                s.pk,
                f"{s.carrier} {s.tracking_number}".strip(),
                f"{_name(s.customer)} · {s.get_status_display()}",
                Shipment,
            )
            for s in shipments
        ]
    return hits
