"""What a subscriber sees (portal/views/home.py): their subscriptions and the next box of
each, a subscription's coming deliveries and history, their past boxes, their charges.

Every read is scoped to one organization *and* one customer, and reads a fixed number
of queries whatever the number of subscriptions, boxes or charges. Texts are in the
active language (the customer's), dates and times in the organization's time zone.
Staff notes, reasons and actors' names never reach these pages: a history row says
"you" or the organization's name, nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import formats
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _

from carriers.models import Parcel
from core import clock, cycles
from core.actors import ActorKind
from crm.models import Customer, Organization
from fulfillment.models import Shipment
from portal.models import PortalSettings
from portal.selectors import frequency_label, money
from preferences import validation
from preferences.models import PreferenceChange, SubscriptionPreference
from preferences.selectors import PreferenceRow, preference_rows, preference_schema
from returns.models import ReturnConfig, ReturnRequest
from returns.services import window_last_day
from satisfaction.models import SatisfactionSurvey
from subscriptions.models import (
    Charge,
    Subscription,
    SubscriptionEvent,
)
from subscriptions.selectors import ScheduleCycle, subscription_schedule

Status = Subscription.Status
#: Coming deliveries on a subscription's page.
UPCOMING = 6
#: History rows on a subscription's page.
HISTORY = 15
#: Past boxes and charges listed (the most recent).
LIST_LIMIT = 50
ENDED = (Status.CANCELED, Status.EXPIRED)


# --- Small words -------------------------------------------------------------------------


def day(value: date | datetime | None, organization: Organization) -> str:
    """A date as a subscriber reads it ("10 December 2026"), in the organization's time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(organization.tzinfo).date()
    return formats.date_format(value, "j F Y")


def moment(value: datetime, organization: Organization) -> str:
    """An instant as a subscriber reads it ("Wednesday 9 December, 12:00")."""
    return formats.date_format(value.astimezone(organization.tzinfo), "l j F, H:i")


def frequency_text(subscription: Subscription) -> str:
    """ "Every week", "Every 2 months"."""
    return frequency_label(subscription.billing_period, subscription.billing_interval)


# --- Subscriptions and their next box ----------------------------------------------------


@dataclass(frozen=True)
class ItemRow:
    product: str
    variant: str  # the variant's options ("1 kg"), empty for a simple product
    quantity: int
    total: str


@dataclass(frozen=True)
class NextBox:
    """The next box a change can still reach: when it is charged and ships, its cut-off."""

    charged_on: str
    ships_on: str
    cutoff: str
    #: "2 days, 3 hours left to change it", or empty when the cut-off has passed.
    countdown: str


@dataclass
class SubscriptionCard:
    subscription: Subscription
    status: str
    items: list[ItemRow]
    price: str
    frequency: str
    next_box: NextBox | None
    preferences: list[PreferenceRow]
    managed: bool  # the product manages it (native): schedule actions are possible here
    ending: str = ""  # "Ends on ...": canceled at the end of the period
    paused_until: str = ""
    links: list = field(default_factory=list)  # the view's: the changes it may link to


def _item_rows(subscription: Subscription) -> list[ItemRow]:
    return [
        ItemRow(
            product=item.product.name,
            variant=item.variant.label if item.variant_id else "",
            quantity=item.quantity,
            total=money(item.total, subscription.currency),
        )
        for item in subscription.items.all()
    ]


def _price(subscription: Subscription) -> str:
    total = sum((item.total for item in subscription.items.all()), Decimal("0.00"))
    return money(total, subscription.currency)


def _next_box(subscription: Subscription, find, now: datetime) -> NextBox | None:
    """The next box a change made now can still reach, if one is planned.

    The current cycle's, when it is charged and its batch's cut-off is still ahead (a
    monthly box charged on the 1st ships with the batch of the week); otherwise the next
    charged cycle's (`Subscription.next_due`: a paused one's first after its resume date).
    """
    if subscription.status in ENDED:
        return None
    organization = subscription.organization
    cycle, starts_at = None, subscription.current_period_start
    if starts_at is not None:
        candidate = find(starts_at)
        # A batch holds the cycles starting from the previous cut-off (its `starts_at`).
        opens_at = (
            candidate.batch.starts_at
            if candidate.batch is not None
            else candidate.cutoff_at - timedelta(days=7)
        )
        if opens_at <= starts_at < candidate.cutoff_at and candidate.cutoff_at > now:
            cycle = candidate
    if cycle is None:
        due = subscription.next_due()
        if due is None:
            return None
        starts_at = due[1]
        cycle = find(starts_at)
    countdown = ""
    if cycle.cutoff_at > now:
        countdown = _("%(time)s left to change it.") % {
            "time": timeuntil(cycle.cutoff_at, now, depth=2)
        }
    return NextBox(
        charged_on=day(starts_at, organization),
        ships_on=day(cycle.ships_on, organization),
        cutoff=moment(cycle.cutoff_at, organization),
        countdown=countdown,
    )


def subscription_cards(
    *,
    organization: Organization,
    subscriptions: list[Subscription],
    now: datetime | None = None,
    schema: list[validation.FieldSpec] | None = None,
) -> list[SubscriptionCard]:
    """Each subscription as its card shows it (five queries, whatever their number):
    status, items, price, frequency, next box and its preferences now."""
    now = now or clock.now()
    for subscription in subscriptions:
        subscription.organization = organization  # its calendar reads the time zone
    if schema is None:
        schema = preference_schema(organization=organization)
    stored = dict(
        SubscriptionPreference.objects.filter(
            organization=organization, subscription__in=[s.pk for s in subscriptions]
        ).values_list("subscription_id", "values")
    )
    starts = [s.current_period_start for s in subscriptions if s.current_period_start]
    find = cycles.calendar().cycle_finder(organization=organization, first=min([now, *starts]))
    cards = []
    for subscription in subscriptions:
        values = validation.resolve(schema, stored.get(subscription.pk) or {})
        ending = ""
        if subscription.cancel_at_period_end and subscription.current_period_end:
            ending = _("Ends on %(date)s, at the end of the period already paid.") % {
                "date": day(subscription.current_period_end, organization)
            }
        paused_until = ""
        if subscription.status == Status.PAUSED:
            paused_until = (
                _("Paused until %(date)s.") % {"date": day(subscription.resume_at, organization)}
                if subscription.resume_at
                else _("Paused until you resume it.")
            )
        cards.append(
            SubscriptionCard(
                subscription=subscription,
                status=subscription.get_status_display(),
                items=_item_rows(subscription),
                price=_price(subscription),
                frequency=frequency_text(subscription),
                next_box=_next_box(subscription, find, now),
                preferences=[row for row in preference_rows(schema, values) if not row.retired],
                managed=subscription.is_native,
                ending=ending,
                paused_until=paused_until,
            )
        )
    return cards


# --- What the subscriber has to do --------------------------------------------------------


@dataclass(frozen=True)
class ToDo:
    surveys: list[SatisfactionSurvey] = field(default_factory=list)
    cases: list[ReturnRequest] = field(default_factory=list)
    past_due: bool = False

    def __bool__(self) -> bool:
        return bool(self.surveys or self.cases or self.past_due)


def to_do(
    *,
    organization: Organization,
    customer: Customer,
    settings: PortalSettings,
    subscriptions: list[Subscription],
    now: datetime | None = None,
) -> ToDo:
    """Surveys waiting for an answer and after-sales cases under way (two queries)."""
    now = now or clock.now()
    surveys = []
    if settings.allow_surveys:
        surveys = list(
            SatisfactionSurvey.objects.filter(
                organization=organization,
                customer=customer,
                status=SatisfactionSurvey.Status.SENT,
                expires_at__gt=now,
            ).order_by("expires_at", "id")
        )
        for survey in surveys:
            survey.box_date = day(survey.delivered_at, organization)
    cases = []
    if settings.allow_cases:
        cases = list(
            ReturnRequest.objects.filter(
                organization=organization, customer=customer, status__in=ReturnRequest.OPEN
            )
            .select_related("reason")
            .order_by("-opened_at", "-id")
        )
    past_due = any(s.status == Status.PAST_DUE for s in subscriptions)
    return ToDo(surveys=surveys, cases=cases, past_due=past_due)


# --- A subscription's page -----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A coming cycle: when it is charged and ships, skipped or not, and what may be done."""

    on: str  # the local date it starts (YYYY-MM-DD): portal:skip / portal:unskip's `on`
    charged_on: str
    ships_on: str
    cutoff: str
    skipped: bool
    amount: str
    can_skip: bool
    can_unskip: bool


def upcoming_deliveries(
    *, subscription: Subscription, now: datetime | None = None, count: int = UPCOMING
) -> list[Delivery]:
    """The next cycles as the staff's schedule reads them (`subscription_schedule`)."""
    organization = subscription.organization
    rows: list[ScheduleCycle] = subscription_schedule(
        subscription=subscription, count=count, now=now
    )
    return [
        Delivery(
            on=row.starts_at.astimezone(organization.tzinfo).date().isoformat(),
            charged_on=day(row.starts_at, organization),
            ships_on=day(row.batch.ships_on, organization),
            cutoff=moment(row.batch.cutoff_at, organization),
            skipped=row.state == "skipped",
            amount=money(row.amount, subscription.currency) if row.amount is not None else "",
            can_skip=row.can_skip,
            can_unskip=row.can_unskip,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    when: str
    text: str
    by: str  # "You", the organization's name, or the shop


def _event_text(event: SubscriptionEvent, organization: Organization) -> str | None:
    """An event in the subscriber's words; None for what is the back office's business."""
    Kind = SubscriptionEvent.Kind
    data = event.data or {}

    def when(key: str) -> str:
        value = data.get(key)
        return day(datetime.fromisoformat(value), organization) if value else ""

    if event.kind == Kind.PAUSED and data.get("resume_at"):
        return _("Paused until %(date)s") % {"date": when("resume_at")}
    if event.kind == Kind.SKIPPED and data.get("cycle_date"):
        return _("Delivery of %(date)s skipped") % {"date": when("cycle_date")}
    if event.kind == Kind.UNSKIPPED and data.get("cycle_date"):
        return _("Delivery of %(date)s restored") % {"date": when("cycle_date")}
    if event.kind == Kind.CANCEL_SCHEDULED and data.get("at"):
        return _("Cancellation requested: it ends on %(date)s") % {"date": when("at")}
    texts = {
        Kind.CREATED: _("Subscription started"),
        Kind.ACTIVATED: _("Subscription active"),
        Kind.PAUSED: _("Paused"),
        Kind.RESUMED: _("Resumed"),
        Kind.SKIPPED: _("A delivery skipped"),
        Kind.UNSKIPPED: _("A skipped delivery restored"),
        Kind.NEXT_DATE_MOVED: _("Next delivery date moved"),
        Kind.SCHEDULE_CHANGED: _("Frequency changed"),
        Kind.ITEMS_CHANGED: _("Products changed"),
        Kind.CANCEL_SCHEDULED: _("Cancellation requested"),
        Kind.CANCEL_WITHDRAWN: _("Cancellation withdrawn"),
        Kind.CANCELED: _("Subscription canceled"),
        Kind.EXPIRED: _("Subscription ended"),
        Kind.PAST_DUE: _("Payment overdue"),
        Kind.RECOVERED: _("Payment received: the subscription is active again"),
        Kind.CHARGE_PAID: _("Payment received"),
        Kind.CHARGE_FAILED: _("Payment failed"),
        Kind.ADDRESS_CHANGED: _("Shipping address changed"),
        Kind.CHARGE_REFUNDED: _("Refund"),
        Kind.CREDIT_GRANTED: _("Credit on your next payment"),
    }
    return texts.get(event.kind)  # renewals and the shop's updates: not the subscriber's


def _by(kind: str, organization_name: str) -> str:
    if kind == ActorKind.CUSTOMER:
        return _("You")
    if kind == ActorKind.WOOCOMMERCE:
        return _("The shop")
    return organization_name


def subscription_history(
    *,
    subscription: Subscription,
    organization_name: str,
    limit: int = HISTORY,
) -> list[HistoryRow]:
    """Its recent events and preference changes, newest first (two queries)."""
    organization = subscription.organization
    rows = []
    events = SubscriptionEvent.objects.filter(
        organization=organization, subscription=subscription
    ).order_by("-created_at", "-id")
    # Renewals write one event a cycle: read enough to still fill the page.
    for event in events[: limit * 3]:
        text = _event_text(event, organization)
        if text is not None:
            rows.append(
                HistoryRow(
                    event.created_at,
                    moment(event.created_at, organization),
                    text,
                    _by(event.actor_kind, organization_name),
                )
            )
    changes = PreferenceChange.objects.filter(
        organization=organization, subscription=subscription
    ).order_by("-changed_at", "-id")
    for change in changes[:limit]:
        rows.append(
            HistoryRow(
                change.changed_at,
                moment(change.changed_at, organization),
                _("Preferences changed, from the box of %(date)s")
                % {"date": day(change.effective_cycle, organization)},
                _by(change.actor_kind, organization_name),
            )
        )
    rows.sort(key=lambda row: row.at, reverse=True)
    return rows[:limit]


# --- Past boxes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxRow:
    shipment: Shipment
    date: str
    items: list[dict[str, Any]]
    status: str
    carrier: str
    tracking_number: str
    tracking_url: str
    #: The case under way about it, if any (followed from the box).
    open_case: ReturnRequest | None
    #: The last day a case may be opened, when one may be opened now; else empty.
    case_until: str


def box_list(
    *,
    organization: Organization,
    customer: Customer,
    now: datetime | None = None,
    limit: int = LIST_LIMIT,
) -> list[BoxRow]:
    """The customer's shipped boxes, newest first (four queries whatever their number)."""
    now = now or clock.now()
    shipments = list(
        Shipment.objects.filter(organization=organization, customer=customer)
        .select_related("line", "batch")
        .order_by("-created_at", "-id")[:limit]
    )
    line_ids = [shipment.line_id for shipment in shipments]
    tracking = {
        line_id: url
        for line_id, url in Parcel.objects.filter(
            organization=organization, line_id__in=line_ids
        ).values_list("line_id", "tracking_url")
        if url
    }
    cases: dict[int, list[ReturnRequest]] = defaultdict(list)
    for case in ReturnRequest.objects.filter(
        organization=organization, customer=customer, shipment__in=[s.pk for s in shipments]
    ).order_by("opened_at", "id"):
        cases[case.shipment_id].append(case)
    config = ReturnConfig.objects.filter(organization=organization).first()
    config = config or ReturnConfig(organization=organization)  # the default window
    config.organization = organization
    today = now.astimezone(organization.tzinfo).date()
    rows = []
    for shipment in shipments:
        shipment.organization = organization
        open_case = next((case for case in cases[shipment.pk] if case.is_open), None)
        case_until = ""
        if shipment.status == Shipment.Status.DELIVERED and open_case is None:
            last_day = window_last_day(config=config, shipment=shipment)
            if last_day is not None and today <= last_day:
                case_until = day(last_day, organization)
        rows.append(
            BoxRow(
                shipment=shipment,
                date=day(shipment.shipped_at or shipment.batch.ships_on, organization),
                items=list(shipment.line.items or []),
                status=shipment.get_status_display(),
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                tracking_url=tracking.get(shipment.line_id, ""),
                open_case=open_case,
                case_until=case_until,
            )
        )
    return rows


# --- Charges ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeRow:
    charge: Charge
    date: str
    period: str
    amount: str
    status: str
    #: What it means for the subscriber, in a sentence ("We will try again on ...").
    note: str
    refunded: str


@dataclass(frozen=True)
class Owed:
    amount: str
    charges: int
    #: Some of it is the shop's to collect (a subscription the shop manages).
    in_shop: bool


def _charge_status(charge: Charge) -> str:
    return {
        Charge.Status.SCHEDULED: _("To come"),
        Charge.Status.PENDING: _("Being processed"),
        Charge.Status.PAID: _("Paid"),
        Charge.Status.FAILED: _("Failed"),
        Charge.Status.REFUNDED: _("Refunded"),
        Charge.Status.VOIDED: _("Not charged"),
    }.get(charge.status, charge.get_status_display())


def _charge_note(charge: Charge, organization: Organization) -> str:
    if charge.status != Charge.Status.FAILED:
        return ""
    if not charge.subscription.is_native:
        return _("The payment failed: please settle it in the shop.")
    if charge.next_retry_at:
        return _("The payment failed. We will try again on %(date)s.") % {
            "date": day(charge.next_retry_at, organization)
        }
    return _("The payment failed. Please contact us to settle it.")


def charge_list(
    *, organization: Organization, customer: Customer, limit: int = LIST_LIMIT
) -> tuple[list[ChargeRow], list[Owed]]:
    """The customer's charges, newest first, and what is owed per currency (two queries)."""
    charges = list(
        Charge.objects.filter(organization=organization, subscription__customer=customer)
        .exclude(status=Charge.Status.SCHEDULED)
        .select_related("subscription")
        .order_by("-period_start", "-id")[:limit]
    )
    rows = []
    for charge in charges:
        charge.subscription.organization = organization
        refunded = ""
        if charge.refunded_amount:
            refunded = money(charge.refunded_amount, charge.currency)
        rows.append(
            ChargeRow(
                charge=charge,
                date=day(
                    charge.paid_at or charge.first_failed_at or charge.period_start, organization
                ),
                period=_("%(start)s to %(end)s")
                % {
                    "start": day(charge.period_start, organization),
                    "end": day(charge.period_end, organization),
                },
                amount=money(charge.amount, charge.currency),
                status=_charge_status(charge),
                note=_charge_note(charge, organization),
                refunded=refunded,
            )
        )
    failed = Charge.objects.filter(
        organization=organization,
        subscription__customer=customer,
        status=Charge.Status.FAILED,
    ).values_list("currency", "amount", "subscription__source")
    totals: dict[str, list] = {}
    for currency, amount, source in failed:
        total = totals.setdefault(currency, [Decimal("0.00"), 0, False])
        total[0] += amount
        total[1] += 1
        total[2] = total[2] or source != Subscription.Source.NATIVE
    owed = [
        Owed(money(amount, currency), count, in_shop)
        for currency, (amount, count, in_shop) in sorted(totals.items())
    ]
    return rows, owed
