"""Demo subscriptions for `manage.py load_demo`: every status, with charges and history.

Everything goes through the services and the renewal code, as in production:
`services.subscription_create` with a start in the past, then
`renewals.renew_one(now=...)` at each past cycle date and each dunning retry
time, in time order (the test gateway pays, or declines an address containing
`+decline`), then staff actions (pause, skip, cancel...). So when the load
prints its summary nothing is due before then: the beat's first renewal run
finds nothing to do and the printed numbers stay true. No clock is faked: each
step is then dated when it happened in the story (`dated`): the sign-up at its
start, each renewal's events and charge at its cycle date (a retry's at its
time), a transfer staff marked paid the next day, a fixed term's end at its
last day, staff's actions in the office hours of the day or two before the
load, a period-end cancellation at the period's end. Only what happens at
the load (a sign-up starting now, or later) keeps the load's time.

Only the demo's own subscriptions are touched (`renew_one` is scoped to one
subscription): other organizations are left to the beat's renewal run.

Idempotent: each demo customer gets its subscription only if it has none, so a
second `load_demo` creates nothing (and keeps whatever changed since).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Max
from django.utils import timezone

from core.actors import Actor
from crm.models import Address, Customer, Organization, Product, Variant
from subscriptions import renewals, schedule, services
from subscriptions.models import BillingSettings, Charge, Subscription, SubscriptionEvent

Status = Subscription.Status
RENEWALS = Actor.system("renewals")  # what the beat's renewal run records
#: Staff act in the office, at this local time, in the days just before the load.
OFFICE_AT = time(10, 30)
#: How long before the load staff's latest actions go back at most.
RECENT = timedelta(days=2)


@dataclass(frozen=True)
class Person:
    email: str
    first_name: str
    last_name: str
    line1: str
    postcode: str
    city: str


# Customers the subscriptions need beyond load_demo's own: the test gateway
# declines `+decline` (always) and `+decline-1` (the first attempt), and
# leaves `+pending` charges pending.
PUREA_CUSTOMERS = [
    Person(
        "nathan.moreau+decline@example.fr",
        "Nathan",
        "Moreau",
        "5 rue Paradis",
        "13001",
        "Marseille",
    ),
    Person(
        "manon.laurent+decline@example.fr",
        "Manon",
        "Laurent",
        "27 rue Foch",
        "34000",
        "Montpellier",
    ),
    Person(
        "arthur.fournier+decline-1@example.fr",
        "Arthur",
        "Fournier",
        "11 rue Gambetta",
        "87000",
        "Limoges",
    ),
    Person(
        "gabriel.fontaine@example.fr", "Gabriel", "Fontaine", "6 place Stanislas", "54000", "Nancy"
    ),
    Person("sarah.girard@example.fr", "Sarah", "Girard", "33 rue de Siam", "29200", "Brest"),
    Person("paul.roux@example.fr", "Paul", "Roux", "4 rue des Halles", "37000", "Tours"),
    # The weekly regulars: a box every week, so every week's batch has its boxes to pack,
    # ship, survey and ask about, whatever day the demo is loaded.
    Person("adele.blanc@example.fr", "Adèle", "Blanc", "7 place Grenette", "38000", "Grenoble"),
    Person("maxime.garcia@example.fr", "Maxime", "Garcia", "3 quai Vauban", "66000", "Perpignan"),
    Person(
        "juliette.faure@example.fr", "Juliette", "Faure", "10 rue Saint-Pierre", "14000", "Caen"
    ),
    Person(
        "antoine.rousseau@example.fr", "Antoine", "Rousseau", "12 rue de Vesle", "51100", "Reims"
    ),
    Person(
        "zoe.mercier+pending@example.fr",
        "Zoé",
        "Mercier",
        "19 rue du Gros-Horloge",
        "76000",
        "Rouen",
    ),
]
TEA_CUSTOMERS = [
    Person("alice.garnier@example.fr", "Alice", "Garnier", "8 rue Saint-Jean", "21000", "Dijon"),
    Person("theo.chevalier@example.fr", "Théo", "Chevalier", "2 place Plumereau", "37000", "Tours"),
]


@dataclass
class Spec:
    """One demo subscription: who, what, since when, and what happened to it."""

    email: str
    items: list[tuple[str, int]]  # (sku, quantity)
    period: str = "month"
    interval: int = 1
    start: str = "now"  # "now", or "-3 months", "-9 weeks", "+5 days", "-1 hours"...
    trial: str | None = None  # trial end, same notation
    fixed_cycles: int | None = None  # a fixed term of this many cycles
    charge_until: str = "now"  # charge the past cycles up to this instant
    then: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # staff actions
    staff_pays: bool = False  # manual gateway: staff mark each pending charge paid


PUREA = [
    Spec("camille.martin@example.fr", [("PUR-ETH-250", 2)], start="-5 months"),
    Spec("lucas.bernard@example.fr", [("PUR-ESP-250", 1)], period="week", start="-9 weeks"),
    Spec(
        "emma.dubois@example.fr",
        [("PUR-DIS-250", 1)],
        start="-3 months",
        then=[("pause", {"resume_at": "+3 weeks", "reason": "Vacances d'été"})],
    ),
    Spec(
        "hugo.thomas@example.fr",
        [("PUR-COL-250", 1)],
        period="week",
        interval=2,
        start="-10 weeks",
        then=[("skip", {"reason": "Encore du café d'avance"})],
    ),
    Spec(
        "chloe.robert@example.fr",
        [("PUR-DEC-250", 1)],
        start="-4 months",
        then=[("cancel_at_period_end", {"reason": "Déménage à l'étranger"})],
    ),
    Spec(
        "louis.richard@example.fr",
        [("PUR-BRA-1KG", 1)],
        start="-6 months",
        then=[("cancel", {"reason": "Trop de café à la maison"})],
    ),
    # A gift of three months that ran its course.
    Spec("lea.petit@example.fr", [("PUR-DIS-250", 1)], start="-5 months", fixed_cycles=3),
    # Asked to stop at the end of a period that is over: the renewal run ended it.
    Spec(
        "olivia.smith@example.co.uk",
        [("PUR-ETH-250", 1)],
        period="week",
        start="-8 weeks",
        charge_until="-3 weeks",
        then=[("cancel_at_period_end", {"reason": "Prefers to buy in the shop"}), ("end", {})],
    ),
    Spec("jules.durand@example.fr", [("PUR-ESP-1KG", 1)], trial="+14 days"),
    Spec("ines.leroy@example.fr", [("PUR-COL-250", 1), ("PUR-DEC-250", 1)], start="+5 days"),
    # Card declined at the end of the trial: past due, retried on the dunning schedule.
    Spec(
        "nathan.moreau+decline@example.fr",
        [("PUR-ESP-250", 1)],
        period="week",
        start="-3 weeks",
        trial="-2 days",
    ),
    # Declined once, at the end of its trial an hour before the load: past due now,
    # paid by the dunning retry a day after that failure (tomorrow, as a rule).
    Spec(
        "arthur.fournier+decline-1@example.fr",
        [("PUR-BRA-1KG", 1)],
        start="-6 weeks",
        trial="-1 hours",
    ),
    # Declined at sign-up: pending until a retry succeeds.
    Spec("manon.laurent+decline@example.fr", [("PUR-ETH-250", 1)]),
    Spec("zoe.mercier+pending@example.fr", [("PUR-ETH-250", 1)]),
    Spec(
        "gabriel.fontaine@example.fr",
        [("PUR-ESP-1KG", 1)],
        start="-2 months",
        then=[("change_schedule", {"period": "week", "interval": 2})],
    ),
    Spec(
        "sarah.girard@example.fr",
        [("PUR-COL-250", 1)],
        start="-6 weeks",
        then=[("change_items", {"items": [("PUR-COL-1KG", 1), ("PUR-DEC-250", 1)]})],
    ),
    Spec(
        "paul.roux@example.fr",
        [("PUR-COL-250", 1)],
        period="week",
        start="-6 weeks",
        then=[("pause", {"reason": "En pause jusqu'à nouvel ordre"})],
    ),
    Spec("adele.blanc@example.fr", [("PUR-ETH-250", 1)], period="week", start="-14 weeks"),
    # Two sizes of one coffee: one 250 g bag and two 1 kg bags, two items of one product.
    Spec(
        "maxime.garcia@example.fr",
        [("PUR-ESP-250", 1), ("PUR-ESP-1KG", 2)],
        period="week",
        start="-13 weeks",
    ),
    Spec("juliette.faure@example.fr", [("PUR-COL-250", 2)], period="week", start="-12 weeks"),
    Spec("antoine.rousseau@example.fr", [("PUR-DIS-250", 1)], period="week", start="-11 weeks"),
]

# Manual gateway: staff mark each charge paid once the transfer arrives.
TEA = [
    Spec("alice.garnier@example.fr", [("THE-SEN-100", 2)], start="-3 months", staff_pays=True),
    Spec("theo.chevalier@example.fr", [("THE-SEN-100", 1)]),  # waits for staff
]


def load(*, purea: Organization, tea: Organization, purea_staff, tea_staff) -> dict[str, Any]:
    """Create the demo subscriptions that do not exist yet; return what there is.

    Dates are relative to now (the services' clock). Returns {"created": n,
    "by_status": Counter(status -> count over both organizations)}.
    """
    now = timezone.now()
    BillingSettings.objects.update_or_create(
        organization=purea, defaults={"gateway": BillingSettings.Gateway.TEST}
    )
    BillingSettings.objects.update_or_create(
        organization=tea, defaults={"gateway": BillingSettings.Gateway.MANUAL}
    )
    _customers(purea, PUREA_CUSTOMERS)
    _customers(tea, TEA_CUSTOMERS)
    created = 0
    for organization, specs, staff in ((purea, PUREA, purea_staff), (tea, TEA, tea_staff)):
        actor = Actor.for_user(staff)
        for spec in specs:
            created += _build(organization, spec, actor, now) is not None
    return {"created": created, "by_status": by_status(purea, tea)}


def by_status(*organizations: Organization) -> Counter:
    """How many native subscriptions of these organizations per status (the summary's)."""
    return Counter(
        Subscription.objects.filter(
            organization__in=organizations, source=Subscription.Source.NATIVE
        ).values_list("status", flat=True)
    )


def summary(result: dict[str, Any]) -> str:
    """One line: how many demo subscriptions per status."""
    counts = result["by_status"]
    parts = [
        f"{counts[status]} {label.lower()}"
        for status, label in Status.choices
        if counts.get(status)
    ]
    return (
        f"Demo subscriptions ({result['created']} new): {sum(counts.values())} in all, "
        + ", ".join(parts)
        + "."
    )


# --- Building one subscription ---------------------------------------------------


def _customers(organization: Organization, people: list[Person]) -> None:
    for person in people:
        customer, _created = Customer.objects.update_or_create(
            organization=organization,
            email=person.email,
            defaults={"first_name": person.first_name, "last_name": person.last_name},
        )
        Address.objects.update_or_create(
            organization=organization,
            customer=customer,
            kind=Address.Kind.SHIPPING,
            defaults={
                "name": f"{person.first_name} {person.last_name}",
                "line1": person.line1,
                "postcode": person.postcode,
                "city": person.city,
                "country": "FR",
            },
        )


def _at(when: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """ "now", "<+/-n> hours" from the hour now began, or "<+/-n> <days|weeks|months>"
    from today 09:00 local time."""
    if when == "now":
        return now
    amount, unit = when.split()
    if unit in ("hour", "hours"):
        return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=int(amount))
    nine = now.astimezone(tz).replace(hour=9, minute=0, second=0, microsecond=0)
    period = unit.rstrip("s")
    return schedule.cycle_start(anchor=nine, period=period, interval=1, cycle=int(amount), tz=tz)


def _items(organization: Organization, items: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """(SKU, quantity) as items: a variant's SKU names the variant (and its product), a
    simple product's SKU the product."""
    variants = {
        v.sku: v
        for v in Variant.objects.filter(organization=organization).select_related("product")
    }
    products = {p.sku: p for p in Product.objects.filter(organization=organization)}
    return [
        {"product": variants[sku].product, "variant": variants[sku], "quantity": quantity}
        if sku in variants
        else {"product": products[sku], "quantity": quantity}
        for sku, quantity in items
    ]


def _build(organization: Organization, spec: Spec, actor: Actor, now: datetime):
    customer = Customer.objects.get(organization=organization, email=spec.email)
    if Subscription.objects.filter(customer=customer).exists():
        return None
    tz = ZoneInfo(organization.timezone)
    start_at = _at(spec.start, now=now, tz=tz)
    trial_ends_at = _at(spec.trial, now=now, tz=tz) if spec.trial else None
    ends_at = None
    if spec.fixed_cycles:
        ends_at = schedule.term_end(
            anchor=trial_ends_at or start_at,
            period=spec.period,
            interval=spec.interval,
            cycles=spec.fixed_cycles,
            tz=tz,
        )
    began, marks = timezone.now(), _marks()
    subscription = services.subscription_create(
        organization=organization,
        customer=customer,
        items=_items(organization, spec.items),
        actor=actor,
        billing_period=spec.period,
        billing_interval=spec.interval,
        start_at=start_at,
        trial_ends_at=trial_ends_at,
        ends_at=ends_at,
    )
    # Signed up when it started (a later start: signed up now).
    signed_up = min(start_at, now)
    _date(Subscription.objects.filter(pk=subscription.pk), signed_up, began, marks)
    Customer.objects.filter(pk=customer.pk, created_at__gt=signed_up).update(created_at=signed_up)
    _charge_past_cycles(
        subscription,
        until=_at(spec.charge_until, now=now, tz=tz),
        staff=actor if spec.staff_pays else None,
        now=now,
    )
    if ends_at is not None and ends_at <= now:
        with dated(pk=subscription.pk, at=ends_at):  # its last day: the renewal run ended it
            services.subscription_expire(subscription=subscription, actor=RENEWALS)
    moments = _moments(subscription, spec.then, now, tz)
    for (action, options), at in zip(spec.then, moments, strict=True):
        with dated(pk=subscription.pk, at=at):
            _act(subscription, action, options, actor, now=now, tz=tz)
    return subscription


def _charge_past_cycles(
    subscription: Subscription, *, until: datetime, staff: Actor | None, now: datetime
) -> None:
    """Replay the beat's renewal run for this subscription up to `until`, in time order.

    At each moment something fell due (a cycle date, or a failed charge's dunning
    retry time) the subscription is renewed as the run would have renewed it then,
    and what that wrote is dated then; so after the load nothing is due before
    `until`, and the beat's first run finds nothing the demo should have done.
    With the manual gateway, `staff` (if given) marks each pending charge paid, the
    day after (the transfer's time), or half-way to now for the latest.
    """
    moment: datetime | None = None
    while True:
        subscription.refresh_from_db()
        # The run does what is late at its next pass: never before the last moment.
        moment = _due_at(subscription, after=moment)
        if moment is None or moment > until:
            return
        before = _state(subscription)
        with dated(pk=subscription.pk, at=moment):
            report = renewals.renew_one(subscription_id=subscription.pk, now=moment)
        if report.errors:
            raise RuntimeError(f"demo renewal of subscription {subscription.pk}: {report.errors}")
        if report.pending and staff is not None:
            paid_at = min(moment + timedelta(days=1), moment + (now - moment) / 2)
            with dated(pk=subscription.pk, at=paid_at):
                for charge in subscription.charges.filter(status=Charge.Status.PENDING):
                    services.charge_mark_paid(
                        charge=charge, actor=staff, reference=f"VIR-{charge.pk:06d}"
                    )
        if _state(subscription) == before:  # nothing moved: the next pass would loop
            raise RuntimeError(
                f"demo renewal of subscription {subscription.pk} at {moment} changed nothing"
            )


def _due_at(subscription: Subscription, *, after: datetime | None) -> datetime | None:
    """When the renewal run next has something to do for it (not before `after`): its
    next cycle's charge (not created yet), or a failed charge's retry, whichever first.

    The same conditions as the run's (`renewals.create_due_charges`, `attempt_charges`).
    """
    moments = [
        max(at, after or at)
        for at in subscription.charges.filter(
            status=Charge.Status.FAILED, next_retry_at__isnull=False
        )
        .order_by("next_retry_at")
        .values_list("next_retry_at", flat=True)[:1]
    ]
    if (
        subscription.status in (Status.PENDING, Status.ACTIVE)
        and subscription.next_charge_at is not None
        and not subscription.cancel_at_period_end
        and not subscription.charges.filter(cycle=subscription.next_cycle).exists()
    ):
        at = max(subscription.next_charge_at, after or subscription.next_charge_at)
        if subscription.ends_at is None or subscription.ends_at > at:
            moments.append(at)
    return min(moments, default=None)


def _state(subscription: Subscription) -> tuple:
    """What a renewal moves: the subscription's status and next charge, its charges."""
    subscription.refresh_from_db()
    return (
        subscription.status,
        subscription.next_cycle,
        subscription.next_charge_at,
        sorted(subscription.charges.values_list("pk", "status", "attempts")),
    )


# --- Dating the story -------------------------------------------------------------


@contextmanager
def dated(at: datetime | None, **subscriptions: Any) -> Iterator[None]:
    """Date what the block writes for the subscriptions filtered, at `at` (when in the story).

    The services stamp events, charges and the subscriptions' own times with the
    clock, and the demo replays its past at load time: the rows the block wrote
    (events and charges created, payments, failures, pauses, cancellations, ends,
    subscriptions created) are dated afterwards. `None`, or a moment not before
    the block began, leaves them as they are: it happens now.
    """
    scope = Subscription.objects.filter(**subscriptions)
    began = timezone.now()
    marks = _marks()
    yield
    if at is not None:
        _date(scope, at, began, marks)


def _marks() -> tuple[int, int]:
    """The latest event and charge ids, 0 for none."""
    return (
        SubscriptionEvent.objects.aggregate(latest=Max("pk"))["latest"] or 0,
        Charge.objects.aggregate(latest=Max("pk"))["latest"] or 0,
    )


def _date(scope, at: datetime, began: datetime, marks: tuple[int, int]) -> None:
    if at >= began:
        return
    events, charges = marks
    SubscriptionEvent.objects.filter(subscription__in=scope, pk__gt=events).update(created_at=at)
    mine = Charge.objects.filter(subscription__in=scope)
    mine.filter(pk__gt=charges).update(created_at=at)
    for name in ("paid_at", "first_failed_at", "updated_at"):
        mine.filter(**{f"{name}__gte": began}).update(**{name: at})
    for name in ("created_at", "paused_at", "canceled_at", "ended_at", "updated_at"):
        scope.filter(**{f"{name}__gte": began}).update(**{name: at})


def _moments(
    subscription: Subscription, actions: list[tuple[str, dict]], now: datetime, tz: ZoneInfo
) -> list[datetime]:
    """When each staff action happened: after the subscription's history, before now.

    Staff act in the office (`OFFICE_AT`) on the day or two before the load, one
    action after the other; the renewal run ends a period-end cancellation at the
    period's end, so the actions before it come before that.
    """
    if not actions:
        return []
    subscription.refresh_from_db()
    last = subscription.events.aggregate(latest=Max("created_at"))["latest"]
    end = subscription.current_period_end if any(a == "end" for a, _ in actions) else None
    before = min(end or now, now)
    after = max(last, before - RECENT)
    staff = iter(_office_moments(sum(a != "end" for a, _ in actions), after, before, tz))
    return [before if action == "end" else next(staff) for action, _options in actions]


def _office_moments(count: int, after: datetime, before: datetime, tz: ZoneInfo) -> list[datetime]:
    """`count` moments spread between `after` and `before`, at `OFFICE_AT` when that fits."""
    moments: list[datetime] = []
    for index in range(1, count + 1):
        point = after + (before - after) * index / (count + 1)
        office = datetime.combine(point.astimezone(tz).date(), OFFICE_AT, tzinfo=tz)
        floor = moments[-1] if moments else after
        moments.append(office if floor < office < before else point)
    return moments


def _act(subscription, action, options, actor, *, now, tz) -> None:
    if action == "pause":
        resume_at = options.get("resume_at")
        services.subscription_pause(
            subscription=subscription,
            actor=actor,
            resume_at=_at(resume_at, now=now, tz=tz) if resume_at else None,
            reason=options["reason"],
        )
    elif action == "skip":
        services.subscription_skip(subscription=subscription, actor=actor, reason=options["reason"])
    elif action in ("cancel", "cancel_at_period_end"):
        services.subscription_cancel(
            subscription=subscription,
            actor=actor,
            reason=options["reason"],
            at_period_end=action == "cancel_at_period_end",
        )
    elif action == "end":  # what the renewal run does once the period is over
        services.subscription_end_at_period_end(subscription=subscription, actor=RENEWALS)
    elif action == "change_schedule":
        services.subscription_change_schedule(
            subscription=subscription,
            actor=actor,
            billing_period=options["period"],
            billing_interval=options["interval"],
        )
    elif action == "change_items":
        services.subscription_change_items(
            subscription=subscription,
            actor=actor,
            items=_items(subscription.organization, options["items"]),
        )
    else:
        raise ValueError(f"unknown demo action {action!r}")
