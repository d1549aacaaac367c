"""The renewal run: what Celery beat does every few minutes to keep subscriptions moving.

In order:
1. end the subscriptions canceled at period end whose period is over, expire
   fixed-term ones past their end, and resume paused ones whose resume date came;
2. create the charge of every native subscription whose `next_charge_at` has
   passed: set-based, a few queries per chunk of due subscriptions, one charge
   per (subscription, cycle) guaranteed by a unique constraint;
3. send each scheduled charge to the organization's gateway, one short
   transaction per charge holding its row lock (`skip_locked`, so two runs at
   once never charge the same row), and apply the answer;
4. retry the failed charges whose dunning retry time came.

Every step is idempotent: running the whole thing twice, or two runs at once,
charges each cycle once. WooCommerce subscriptions are never charged here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from core import clock
from core.actors import Actor
from subscriptions import services
from subscriptions.gateways import ChargeResult, get_gateway
from subscriptions.models import BillingSettings, Charge, Subscription, SubscriptionItem

logger = logging.getLogger(__name__)

Status = Subscription.Status
CHUNK = 500
ZERO = Decimal("0.00")


@dataclass
class RenewalReport:
    ended: int = 0
    expired: int = 0
    resumed: int = 0
    charges_created: int = 0
    paid: int = 0
    failed: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)


def run(*, now: datetime | None = None, limit: int | None = None) -> RenewalReport:
    """One renewal run at `now` (the clock's by default): every step reads that instant."""
    now = now or clock.now()
    actor = Actor.system("renewals")
    report = RenewalReport()
    _end_and_resume(now=now, actor=actor, report=report)
    report.charges_created = create_due_charges(now=now, limit=limit)
    attempt_charges(now=now, actor=actor, report=report)
    return report


def _each(queryset, service, report: RenewalReport, counter: str, **kwargs) -> None:
    for pk in queryset.values_list("pk", flat=True):
        try:
            service(subscription=pk, **kwargs)
        except Exception as exc:  # one bad row must not stop the others
            logger.exception("renewals: %s failed for subscription %s", service.__name__, pk)
            report.errors.append(f"{service.__name__}({pk}): {exc}")
        else:
            setattr(report, counter, getattr(report, counter) + 1)


def _end_and_resume(*, now: datetime, actor: Actor, report: RenewalReport) -> None:
    live = [Status.ACTIVE, Status.PAUSED, Status.PAST_DUE]
    # The shop decides when its own subscriptions end or resume; the sync mirrors it.
    native = Subscription.objects.filter(source=Subscription.Source.NATIVE)
    _each(
        native.filter(status__in=live, cancel_at_period_end=True, current_period_end__lte=now),
        services.subscription_end_at_period_end,
        report,
        "ended",
        actor=actor,
        now=now,
    )
    _each(
        native.filter(status__in=live, ends_at__lte=now),
        services.subscription_expire,
        report,
        "expired",
        actor=actor,
        now=now,
    )
    _each(
        native.filter(status=Status.PAUSED, resume_at__lte=now),
        services.subscription_resume,
        report,
        "resumed",
        actor=actor,
        now=now,
    )


def _due(now: datetime, subscription_ids=None):
    existing = Charge.objects.filter(subscription=OuterRef("pk"), cycle=OuterRef("next_cycle"))
    return (
        Subscription.objects.filter(
            source=Subscription.Source.NATIVE,
            status__in=[Status.PENDING, Status.ACTIVE],
            next_charge_at__lte=now,
            cancel_at_period_end=False,
        )
        .exclude(Q(ends_at__isnull=False) & Q(ends_at__lte=now))
        .exclude(Exists(existing))
        .filter(**({} if subscription_ids is None else {"pk__in": subscription_ids}))
    )


def create_due_charges(*, now: datetime, limit: int | None = None, subscription_ids=None) -> int:
    """Create the charge of each due subscription's next cycle; return how many.

    Per chunk: lock the due rows (skipping rows another run holds), read their
    items and timezones, insert the charges and move each subscription's
    pro-rata adjustment onto its charge. A constant number of queries per chunk.
    """
    created = 0
    while limit is None or created < limit:
        size = CHUNK if limit is None else min(CHUNK, limit - created)
        with transaction.atomic():
            subscriptions = list(
                _due(now, subscription_ids)
                .select_for_update(of=("self",), skip_locked=True)
                .select_related("organization")
                .order_by("next_charge_at", "pk")[:size]
            )
            if not subscriptions:
                break
            # Another run may have charged some of them between our query's snapshot
            # and our lock: a fresh read, under the lock, tells.
            charged = set(
                Charge.objects.filter(
                    subscription__in=[s.pk for s in subscriptions],
                    cycle__in={s.next_cycle for s in subscriptions},
                ).values_list("subscription_id", "cycle")
            )
            picked = len(subscriptions)
            subscriptions = [s for s in subscriptions if (s.pk, s.next_cycle) not in charged]
            totals: dict[int, Decimal] = {}
            for item in SubscriptionItem.objects.filter(
                subscription__in=[s.pk for s in subscriptions]
            ).values_list("subscription_id", "unit_price", "quantity"):
                totals[item[0]] = totals.get(item[0], ZERO) + item[1] * item[2]
            charges = []
            for subscription in subscriptions:
                start, end = subscription.cycle_bounds(subscription.next_cycle)
                items_total = totals.get(subscription.pk, ZERO)
                due = items_total + subscription.adjustment
                amount = max(due, ZERO)
                charges.append(
                    Charge(
                        organization_id=subscription.organization_id,
                        subscription_id=subscription.pk,
                        cycle=subscription.next_cycle,
                        period_start=start,
                        period_end=end,
                        amount=amount,
                        adjustment=amount - items_total,
                        currency=subscription.currency,
                    )
                )
                # A credit larger than the cycle carries over to the next one.
                subscription.adjustment = min(due, ZERO)
            Charge.objects.bulk_create(charges, ignore_conflicts=True)  # belt and braces
            Subscription.objects.bulk_update(subscriptions, ["adjustment"])
            created += len(charges)
            if picked < size:
                break
    return created


def attempt_charges(*, now: datetime, actor: Actor, report: RenewalReport) -> None:
    """Send scheduled charges, and failed ones whose retry time came, to their gateway."""
    ready = Q(subscription__source=Subscription.Source.NATIVE) & (
        Q(status=Charge.Status.SCHEDULED) | Q(status=Charge.Status.FAILED, next_retry_at__lte=now)
    )
    gateways = dict(BillingSettings.objects.values_list("organization_id", "gateway"))
    last_pk = 0
    while True:
        pks = list(
            Charge.objects.filter(ready, pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", flat=True)[:CHUNK]
        )
        if not pks:
            return
        last_pk = pks[-1]
        for pk in pks:
            _attempt(pk, now=now, actor=actor, report=report, ready=ready, gateways=gateways)


def _attempt(pk: int, *, now, actor, report, ready, gateways) -> None:
    try:
        with transaction.atomic():
            charge = (
                Charge.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("subscription__customer")
                .filter(ready, pk=pk)
                .first()
            )
            if charge is None:  # another run has it, or it is done
                return
            gateway = get_gateway(gateways.get(charge.organization_id, "manual"))
            # A cycle fully paid by credits costs nothing: no gateway, nobody to ask.
            result = ChargeResult("paid") if charge.amount == 0 else gateway.charge(charge)
            charge = services.charge_apply_result(
                charge=charge, result=result, actor=actor, gateway=gateway.name, now=now
            )
    except Exception as exc:
        logger.exception("renewals: charge %s failed", pk)
        report.errors.append(f"charge({pk}): {exc}")
        return
    counter = {"paid": "paid", "failed": "failed", "pending": "pending"}[charge.status]
    setattr(report, counter, getattr(report, counter) + 1)


def renew_one(*, subscription_id: int, now: datetime | None = None) -> RenewalReport:
    """Charge one subscription now if it is due (just after its creation, for example).

    What the run's charging steps do, for this subscription only: its due cycle is
    charged, and a failed charge whose dunning retry time came is retried.
    """
    now = now or clock.now()
    actor = Actor.system("renewals")
    report = RenewalReport()
    report.charges_created = create_due_charges(now=now, subscription_ids=[subscription_id])
    ready = Q(subscription__source=Subscription.Source.NATIVE) & (
        Q(status=Charge.Status.SCHEDULED) | Q(status=Charge.Status.FAILED, next_retry_at__lte=now)
    )
    gateways = dict(BillingSettings.objects.values_list("organization_id", "gateway"))
    for pk in Charge.objects.filter(ready, subscription_id=subscription_id).values_list(
        "pk", flat=True
    ):
        _attempt(pk, now=now, actor=actor, report=report, ready=ready, gateways=gateways)
    return report


def charge_cycle_now(
    *, subscription: Subscription, actor: Actor, as_of: datetime, now: datetime | None = None
) -> Charge | None:
    """Charge one subscription's next cycle now, as the run would at `as_of` (its date, or
    now if that has passed): the same charge (items plus what is carried), the same
    gateway, the same handling of its answer. A failed charge of that cycle is attempted
    again now. The caller (`services.subscription_charge_now`) holds the subscription's
    lock and has checked the rules. None if the gateway could not be reached.
    """
    now = now or clock.now()
    create_due_charges(now=as_of, subscription_ids=[subscription.pk])
    ready = Q(status__in=[Charge.Status.SCHEDULED, Charge.Status.FAILED])
    charge = (
        Charge.objects.filter(ready, subscription_id=subscription.pk, cycle=subscription.next_cycle)
        .values_list("pk", flat=True)
        .first()
    )
    if charge is None:
        return None
    gateways = dict(
        BillingSettings.objects.filter(organization_id=subscription.organization_id).values_list(
            "organization_id", "gateway"
        )
    )
    report = RenewalReport()
    _attempt(
        charge,
        now=now,
        actor=actor,
        report=report,
        ready=ready,
        gateways=gateways,
    )
    if report.errors:
        return None
    return Charge.objects.get(pk=charge)
