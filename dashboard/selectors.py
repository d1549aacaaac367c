"""What the admin's home page shows for one organization, read in a bounded number of queries.

Each reader returns plain figures; `dashboard.views` links each to the admin
list it counts, and the tests check the list shows that many rows. Periods
("this month", a week) are the organization's, in its time zone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When

from core.actors import ActorKind
from core.periods import days_bounds, local_midnight, month_bounds, today_in, week_start
from crm.models import Organization
from fulfillment import exports
from fulfillment.models import Batch, BatchLine
from preferences.models import PreferenceChange
from returns.models import ReturnRequest
from satisfaction import selectors as satisfaction_selectors
from subscriptions.models import (
    BillingPeriod,
    Charge,
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
)
from woocommerce import selectors as woocommerce_selectors
from woocommerce.models import WooCommerceStore

Status = Subscription.Status
#: Weeks on the trend charts, the current one included.
TREND_WEEKS = 12
#: How many months one billing period is, to turn a charge into a monthly amount.
MONTHS_PER_PERIOD = {
    BillingPeriod.DAY: Decimal(12) / Decimal(365),
    BillingPeriod.WEEK: Decimal(12) / Decimal(52),
    BillingPeriod.MONTH: Decimal(1),
    BillingPeriod.YEAR: Decimal(12),
}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Total:
    """An amount in the organization's currency. Amounts in another currency (a shop can
    sell in several) are never added into it: they are listed apart, with how many
    subscriptions they come from."""

    amount: Money
    left_out: list[Money] = field(default_factory=list)
    left_out_subscriptions: int = 0


def _total(organization: Organization, rows) -> Total:
    """`rows`: (currency, amount, subscriptions), one or more per currency."""
    amounts: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    for currency, amount, subscriptions in rows:
        amounts[currency] = amounts.get(currency, Decimal(0)) + amount
        counts[currency] = counts.get(currency, 0) + subscriptions
    own = organization.currency
    return Total(
        amount=Money(amounts.pop(own, Decimal(0)).quantize(CENT), own),
        left_out=[Money(amounts[c].quantize(CENT), c) for c in sorted(amounts)],
        left_out_subscriptions=sum(n for c, n in counts.items() if c != own),
    )


@dataclass(frozen=True)
class TrendPoint:
    """A week of a trend: its Monday, and the value at its end (now for the current week)."""

    week: date
    value: int | None


@dataclass(frozen=True)
class Subscribers:
    active: int
    paused: int
    past_due: int
    #: Subscriptions under way (active, paused or past due) at the end of each week.
    trend: list[TrendPoint]


@dataclass(frozen=True)
class Movements:
    """This month's new subscriptions (started in it) and churn (canceled and ended in it)."""

    start: datetime
    end: datetime
    new: int
    churned: int


@dataclass(frozen=True)
class PastDue:
    count: int
    #: The failed charges of the past-due subscriptions.
    owed: Total


@dataclass(frozen=True)
class NextBatch:
    batch: Batch
    #: The content is a preview (the batch is open: its boxes are not yet lines).
    preview: bool
    #: (status, label, count) in the lines' order of statuses.
    lines: list[tuple[str, str, int]]
    boxes: int
    production: list[exports.PlanProduct]
    #: An open batch's boxes due before its cut-off that a lock now would move to the next
    #: batch (their cycle starts later); `boxes` is what a lock now would freeze.
    later: int = 0


@dataclass(frozen=True)
class Satisfaction:
    #: The last `RECENT_DAYS` days, today included: what the card leads with.
    recent: satisfaction_selectors.NpsSummary
    #: The calendar month so far, shown beside it once it has answers.
    this_month: satisfaction_selectors.NpsSummary
    #: The trend's weeks: from `trend_start` (a Monday) to now.
    trend_start: datetime


@dataclass(frozen=True)
class Returns:
    open: int
    overdue: int


@dataclass(frozen=True)
class SubscriberChanges:
    """What subscribers changed themselves (in their portal) since Monday."""

    start: datetime
    changes: int
    subscriptions: int


@dataclass(frozen=True)
class StoreHealth:
    store: WooCommerceStore
    last_delivery_at: datetime | None
    failed: int
    waiting: int


@dataclass(frozen=True)
class Dashboard:
    organization: Organization
    now: datetime
    subscribers: Subscribers
    revenue: Total
    movements: Movements
    past_due: PastDue
    next_batch: NextBatch | None
    satisfaction: Satisfaction
    to_dispatch: list[BatchToDispatch]
    returns: Returns
    stores: list[StoreHealth] = field(default_factory=list)
    subscriber_changes: SubscriberChanges | None = None


def week_ends(*, now: datetime, tz, weeks: int = TREND_WEEKS) -> list[tuple[date, datetime]]:
    """(Monday, end) of the last `weeks` weeks in `tz`, oldest first; the current one ends now."""
    monday = week_start(today_in(now, tz))
    ends = []
    for back in range(weeks - 1, -1, -1):
        start = monday - timedelta(weeks=back)
        ends.append((start, min(local_midnight(start + timedelta(days=7), tz), now)))
    return ends


def subscribers(*, organization: Organization, now: datetime) -> Subscribers:
    """One query: today's counts per status, and the trend from start and end dates."""
    ends = week_ends(now=now, tz=organization.tzinfo)
    under_way = {
        f"week_{index}": Count(
            "pk",
            filter=~Q(status=Status.PENDING)
            & Q(started_at__lte=end)
            & (Q(ended_at__isnull=True) | Q(ended_at__gt=end)),
        )
        for index, (_monday, end) in enumerate(ends)
    }
    counts = Subscription.objects.filter(organization=organization).aggregate(
        active=Count("pk", filter=Q(status=Status.ACTIVE)),
        paused=Count("pk", filter=Q(status=Status.PAUSED)),
        past_due=Count("pk", filter=Q(status=Status.PAST_DUE)),
        **under_way,
    )
    trend = [
        TrendPoint(monday, counts[f"week_{index}"]) for index, (monday, _end) in enumerate(ends)
    ]
    return Subscribers(counts["active"], counts["paused"], counts["past_due"], trend)


def monthly_revenue(*, organization: Organization) -> Total:
    """MRR: what the active subscriptions' items cost, brought to one month.

    A weekly box is 52/12 of its price a month, a two-monthly one half of it.
    Credits and one-off adjustments are left out: they are not recurring. So are
    subscriptions in another currency than the organization's (listed apart).
    """
    rows = (
        SubscriptionItem.objects.filter(
            organization=organization, subscription__status=Status.ACTIVE
        )
        .values_list(
            "subscription__currency",
            "subscription__billing_period",
            "subscription__billing_interval",
        )
        .annotate(
            total=Sum(F("quantity") * F("unit_price")),
            subscriptions=Count("subscription", distinct=True),
        )
        .order_by()
    )
    return _total(
        organization,
        (
            (currency, total / (MONTHS_PER_PERIOD[period] * interval), subscriptions)
            for currency, period, interval, total, subscriptions in rows
        ),
    )


def movements(*, organization: Organization, now: datetime) -> Movements:
    start, end = month_bounds(now, organization.tzinfo)
    counts = Subscription.objects.filter(organization=organization).aggregate(
        new=Count("pk", filter=Q(started_at__gte=start, started_at__lt=end)),
        churned=Count(
            "pk", filter=Q(status=Status.CANCELED, ended_at__gte=start, ended_at__lt=end)
        ),
    )
    return Movements(start, end, counts["new"], counts["churned"])


def past_due(*, organization: Organization) -> PastDue:
    count = Subscription.objects.filter(organization=organization, status=Status.PAST_DUE).count()
    owed = (
        Charge.objects.filter(
            organization=organization,
            status=Charge.Status.FAILED,
            subscription__status=Status.PAST_DUE,
        )
        .values_list("currency")
        .annotate(total=Sum("amount"), subscriptions=Count("subscription", distinct=True))
        .order_by("currency")
    )
    return PastDue(count, _total(organization, owed))


#: A locked batch's lines that still ask something of the packing team.
TO_DISPATCH = (BatchLine.Status.AWAITING_PAYMENT, BatchLine.Status.READY, BatchLine.Status.PREPARED)


@dataclass(frozen=True)
class BatchToDispatch:
    batch: Batch
    boxes: int


def next_batch(*, organization: Organization) -> NextBatch | None:
    """The next batch: the open one (its cut-off ahead), else the oldest locked one.

    A locked batch waiting to be dispatched is listed by `to_dispatch`, beside
    it; an earlier, empty locked batch never hides the open one. Read in the
    active language (the production plan's preference labels).
    """
    batch = (
        Batch.objects.filter(
            organization=organization, status__in=[Batch.Status.LOCKED, Batch.Status.OPEN]
        )
        .select_related("organization")
        .order_by(
            Case(When(status=Batch.Status.OPEN, then=Value(0)), default=Value(1)), "cutoff_at"
        )
        .first()
    )
    if batch is None:
        return None
    content = exports.batch_content(batch=batch)
    counts = Counter(parcel.status for parcel in content.parcels)
    lines = [
        (status, str(label), counts[status])
        for status, label in BatchLine.Status.choices
        if counts[status]
    ]
    return NextBatch(
        batch=batch,
        preview=content.preview,
        lines=lines,
        boxes=len(content.parcels),
        production=exports.production(content),
        later=content.later,
    )


def to_dispatch(*, organization: Organization) -> list[BatchToDispatch]:
    """Locked batches with boxes still to prepare or ship, oldest first (one query)."""
    batches = (
        Batch.objects.filter(organization=organization, status=Batch.Status.LOCKED)
        .annotate(waiting=Count("lines", filter=Q(lines__status__in=TO_DISPATCH)))
        .filter(waiting__gt=0)
        .order_by("cutoff_at")
    )
    return [BatchToDispatch(batch, batch.waiting) for batch in batches]


def satisfaction(*, organization: Organization, now: datetime) -> Satisfaction:
    """The NPS of the last 30 days and of the calendar month so far (two queries each)."""
    tz = organization.tzinfo
    recent_start, recent_end = days_bounds(now, tz, satisfaction_selectors.RECENT_DAYS)
    month_start, month_end = month_bounds(now, tz)
    first_week = week_ends(now=now, tz=tz)[0][0]
    return Satisfaction(
        recent=satisfaction_selectors.nps_summary(
            organization=organization, start=recent_start, end=recent_end
        ),
        this_month=satisfaction_selectors.nps_summary(
            organization=organization, start=month_start, end=month_end
        ),
        trend_start=local_midnight(first_week, tz),
    )


def returns(*, organization: Organization, now: datetime) -> Returns:
    counts = ReturnRequest.objects.filter(
        organization=organization, status__in=ReturnRequest.OPEN
    ).aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=now)))
    return Returns(counts["open"], counts["overdue"])


def this_week_start(*, now: datetime, tz) -> datetime:
    """Monday 00:00 of `now`'s week in `tz`."""
    return local_midnight(week_start(today_in(now, tz)), tz)


def subscriber_events(*, since: datetime) -> QuerySet[SubscriptionEvent]:
    """Subscription events a subscriber made themselves since `since` (every organization:
    callers scope it)."""
    return SubscriptionEvent.objects.filter(actor_kind=ActorKind.CUSTOMER, created_at__gte=since)


def portal_preference_changes(*, since: datetime) -> QuerySet[PreferenceChange]:
    """Preference changes made in the subscribers' portal since `since` (every organization:
    callers scope it)."""
    return PreferenceChange.objects.filter(
        source=PreferenceChange.Source.PORTAL, changed_at__gte=since
    )


def subscriber_changes(*, organization: Organization, now: datetime) -> SubscriberChanges:
    """This week's changes by subscribers, and how many subscriptions they touch (one query:
    the events and the preference changes counted per subscription, together)."""
    start = this_week_start(now=now, tz=organization.tzinfo)
    events = (
        subscriber_events(since=start)
        .filter(organization=organization)
        .values_list("subscription_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    preferences = (
        portal_preference_changes(since=start)
        .filter(organization=organization)
        .values_list("subscription_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    rows = list(events.union(preferences, all=True))
    return SubscriberChanges(
        start=start,
        changes=sum(count for _subscription, count in rows),
        subscriptions=len({subscription for subscription, _count in rows}),
    )


def store_health(*, organization: Organization) -> list[StoreHealth]:
    """Each shop of the organization: its last delivery, and how many failed or wait."""
    stores = woocommerce_selectors.store_list_with_health(
        stores=WooCommerceStore.objects.filter(organization=organization)
    )
    return [
        StoreHealth(store, store.last_delivery_at, store.failed_count, store.waiting_count)
        for store in stores.order_by("name", "pk")
    ]


def dashboard(*, organization: Organization, now: datetime) -> Dashboard:
    return Dashboard(
        organization=organization,
        now=now,
        subscribers=subscribers(organization=organization, now=now),
        revenue=monthly_revenue(organization=organization),
        movements=movements(organization=organization, now=now),
        past_due=past_due(organization=organization),
        next_batch=next_batch(organization=organization),
        to_dispatch=to_dispatch(organization=organization),
        satisfaction=satisfaction(organization=organization, now=now),
        returns=returns(organization=organization, now=now),
        stores=store_health(organization=organization),
        subscriber_changes=subscriber_changes(organization=organization, now=now),
    )
