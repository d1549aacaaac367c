"""A customer's whole story on one page: what staff read before answering them.

Subscriptions with their next box, charges and what is owed, lifetime value,
boxes with their tracking, after-sales cases, survey answers, preferences and
addresses. A fixed number of queries whatever the number of subscriptions,
charges, boxes or cases (each list is one query; the long ones show their
latest `RECENT` rows and link to the whole list).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, Sum

from crm.models import Address, Customer, CustomerEmail, CustomerNote
from fulfillment.models import Shipment
from preferences.models import SubscriptionPreference
from preferences.selectors import preference_rows, preference_schema
from returns.models import ReturnRequest
from satisfaction.models import SatisfactionSurvey
from subscriptions.models import Charge, Subscription, SubscriptionNote
from subscriptions.selectors import items_prefetch

#: The latest rows of each long list shown on the page.
RECENT = 10


@dataclass
class CustomerStory:
    customer: Customer
    subscriptions: list[Subscription]
    #: Per subscription id: its preferences as rows (label, value as staff read it).
    preferences: dict[int, list] = field(default_factory=dict)
    addresses: list[Address] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    charges_count: int = 0
    #: Per currency: paid minus refunded, and what failed charges owe.
    lifetime: dict[str, Decimal] = field(default_factory=dict)
    owed: dict[str, Decimal] = field(default_factory=dict)
    shipments: list[Shipment] = field(default_factory=list)
    shipments_count: int = 0
    cases: list[ReturnRequest] = field(default_factory=list)
    cases_count: int = 0
    open_cases: int = 0
    surveys: list[SatisfactionSurvey] = field(default_factory=list)
    surveys_count: int = 0
    #: Staff notes on the customer and on their subscriptions, newest first.
    notes: list[CustomerNote | SubscriptionNote] = field(default_factory=list)
    emails: list[CustomerEmail] = field(default_factory=list)


def customer_story(*, customer: Customer) -> CustomerStory:
    """Everything about `customer` (about a dozen queries, whatever their history's length)."""
    organization = customer.organization
    subscriptions = list(
        Subscription.objects.filter(organization=organization, customer=customer)
        .select_related("shipping_address")
        .prefetch_related(items_prefetch())
        .order_by("-created_at", "-pk")
    )
    story = CustomerStory(customer=customer, subscriptions=subscriptions)

    schema = preference_schema(organization=organization)
    stored = {
        row.subscription_id: row.values
        for row in SubscriptionPreference.objects.filter(
            organization=organization, subscription__customer=customer
        )
    }
    story.preferences = {
        subscription.pk: preference_rows(schema, stored.get(subscription.pk, {}))
        for subscription in subscriptions
    }
    story.addresses = list(
        Address.objects.filter(organization=organization, customer=customer).order_by("kind", "pk")
    )

    charges = Charge.objects.filter(organization=organization, subscription__customer=customer)
    story.charges = list(charges.order_by("-period_start", "-pk")[:RECENT])
    lifetime: dict[str, Decimal] = defaultdict(Decimal)
    owed: dict[str, Decimal] = defaultdict(Decimal)
    totals = charges.values("currency").annotate(
        count=Count("pk"),
        paid=Sum(
            F("amount") - F("refunded_amount"),
            filter=Q(status__in=[Charge.Status.PAID, Charge.Status.REFUNDED]),
        ),
        failed=Sum("amount", filter=Q(status=Charge.Status.FAILED)),
    )
    for row in totals.order_by("currency"):
        story.charges_count += row["count"]
        if row["paid"]:
            lifetime[row["currency"]] += row["paid"]
        if row["failed"]:
            owed[row["currency"]] += row["failed"]
    story.lifetime, story.owed = dict(lifetime), dict(owed)

    shipments = Shipment.objects.filter(organization=organization, customer=customer)
    story.shipments = list(
        shipments.select_related("batch").order_by("-created_at", "-pk")[:RECENT]
    )
    story.shipments_count = shipments.count()

    cases = ReturnRequest.objects.filter(organization=organization, customer=customer)
    story.cases = list(cases.order_by("-opened_at", "-pk")[:RECENT])
    counts = cases.aggregate(
        all=Count("pk"), open=Count("pk", filter=Q(status__in=ReturnRequest.OPEN))
    )
    story.cases_count, story.open_cases = counts["all"], counts["open"]

    surveys = SatisfactionSurvey.objects.filter(
        organization=organization, customer=customer, answered_at__isnull=False
    )
    story.surveys = list(surveys.order_by("-answered_at", "-pk")[:RECENT])
    story.surveys_count = surveys.count()

    notes = [
        *CustomerNote.objects.filter(organization=organization, customer=customer).order_by(
            "-created_at", "-pk"
        )[:RECENT],
        *SubscriptionNote.objects.filter(
            organization=organization, subscription__customer=customer
        ).order_by("-created_at", "-pk")[:RECENT],
    ]
    story.notes = sorted(notes, key=lambda note: note.created_at, reverse=True)[:RECENT]
    story.emails = list(
        CustomerEmail.objects.filter(organization=organization, customer=customer).order_by(
            "-sent_at", "-pk"
        )[:RECENT]
    )
    return story
