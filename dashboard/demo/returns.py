"""Demo after-sales cases for `manage.py load_demo`: one case at every step, and one overdue.

On the demo's delivered boxes, through the services with the clock passed
explicitly, as the after-sales desk would have done it over the last week:

- resolved by a credit on the next charge, and by a replacement (a line of
  the open batch), and one rejected with its reason: closed;
- received, approved, and requested (due in two days): open, on their way;
- one requested five days ago and never answered: past its due date, so the
  admin flags it and the 8:00 list names it.

The return settings name the demo staff member as the default assignee.
Case texts are what the roaster's customers and staff would write: in French.
Idempotent: an organization that has cases already gets none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Max
from django.utils import timezone

from core.actors import Actor
from crm.models import Organization
from dashboard.demo import subscriptions as subscriptions_demo
from fulfillment import services as fulfillment
from fulfillment.models import Shipment
from returns import services
from returns.models import ReturnRequest
from subscriptions.models import Subscription, SubscriptionEvent

Status = ReturnRequest.Status


@dataclass(frozen=True)
class Case:
    """One demo case: where it ends, and how long ago the customer asked."""

    status: str
    reason: str
    description: str
    opened_days_ago: float
    resolution: str = ""
    amount: Decimal | None = None
    note: str = ""
    one_item: bool = False  # the request names one product of the box, not the whole box
    goods_back: bool = True  # received before resolved; False: the customer keeps the box


# Closed cases first: a shipment may get a second case once its first is closed.
CASES = (
    Case(
        Status.RESOLVED,
        "damaged",
        "Le sachet est arrivé déchiré, un tiers du café s'est renversé dans le carton.",
        8,
        resolution=ReturnRequest.Resolution.CREDIT,
        amount=Decimal("5.00"),
        note="Geste commercial : 5 € déduits du prochain prélèvement.",
        goods_back=False,
    ),
    Case(
        Status.RESOLVED,
        "wrong_item",
        "J'ai reçu un décaféiné au lieu de mon café habituel.",
        6,
        resolution=ReturnRequest.Resolution.REPLACEMENT,
        note="Le bon café part avec la prochaine box.",
        one_item=True,
    ),
    Case(
        Status.REJECTED,
        "changed_mind",
        "Finalement je n'aime pas cette origine, puis-je la renvoyer ?",
        4,
        note=(
            "Un café ouvert ne peut pas être repris. Vous pouvez écarter cette origine "
            "dans vos préférences."
        ),
    ),
    Case(Status.REQUESTED, "missing", "Colis indiqué livré mais jamais reçu.", 5),  # overdue
    Case(
        Status.RECEIVED,
        "not_as_described",
        "Mouture espresso alors que j'ai demandé des grains.",
        2.2,
        note="Sachet reçu à l'atelier, non ouvert.",
    ),
    Case(
        Status.APPROVED,
        "damaged",
        "Carton écrasé, le sachet semble percé.",
        2,
        note="Étiquette de retour prépayée envoyée à la cliente.",
    ),
    Case(Status.REQUESTED, "other", "Le café a un goût de brûlé, est-ce normal ?", 1),
)


def load(*, organization: Organization, staff) -> dict[str, int]:
    """The organization's return settings and demo cases. Returns counts for the summary."""
    config = services.return_config_ensure(organization=organization)
    if staff is not None and config.default_assignee_id is None:
        assignable = staff.memberships.filter(
            organization=organization, role__in=services.ASSIGNABLE_ROLES
        ).exists()
        if assignable:
            config.default_assignee = staff
            config.save(update_fields=["default_assignee", "updated_at"])
    if ReturnRequest.objects.filter(organization=organization).exists():
        return {"cases": 0, "overdue": 0}
    actor = Actor.for_user(staff) if staff else Actor.system("demo")
    now = timezone.now()
    taken: dict[int, bool] = {}  # shipment id -> has an open case
    created = 0
    for spec in CASES:
        opened_at = now - timedelta(days=spec.opened_days_ago)
        shipment = _shipment_for(organization, config, spec, opened_at, taken, actor)
        if shipment is None:  # a small organization: fewer boxes than cases
            continue
        _build(organization, shipment, spec, opened_at, actor)
        taken[shipment.pk] = spec.status in ReturnRequest.OPEN
        created += 1
    overdue = sum(
        case.is_overdue(now) for case in ReturnRequest.objects.filter(organization=organization)
    )
    return {"cases": created, "overdue": overdue}


def _build(organization, shipment: Shipment, spec: Case, opened_at: datetime, actor) -> None:
    items = None
    if spec.one_item and shipment.line.items:
        first = shipment.line.items[0]  # its variant too: a box may hold two of a product's
        items = [{"product": first["product"], "variant": first.get("variant"), "quantity": 1}]
    case = services.return_open(
        organization=organization,
        shipment=shipment,
        reason=spec.reason,
        actor=actor,
        description=spec.description,
        items=items,
        now=opened_at,
    )
    now = timezone.now()

    def step(count: int) -> datetime:
        """Each step half a day after the one before, as staff would work, never ahead."""
        return min(opened_at + timedelta(hours=12 * count), now)

    if spec.status == Status.REJECTED:
        services.return_reject(case=case, actor=actor, reason=spec.note, now=step(1))
        return
    if spec.status == Status.REQUESTED:
        return
    services.return_approve(
        case=case,
        actor=actor,
        note=spec.note if spec.status == Status.APPROVED else "",
        now=step(1),
    )
    if spec.status == Status.RECEIVED or (spec.status == Status.RESOLVED and spec.goods_back):
        services.return_receive(
            case=case,
            actor=actor,
            note=spec.note if spec.status == Status.RECEIVED else "",
            now=step(2),
        )
    if spec.status == Status.RESOLVED:
        resolved_at = step(3)
        if spec.resolution == ReturnRequest.Resolution.CREDIT:
            resolved_at = _after_history(shipment.line.subscription_id, resolved_at, now)
        # A credit is recorded on the subscription: dated when it was granted too.
        with subscriptions_demo.dated(at=resolved_at, pk=shipment.line.subscription_id):
            services.return_resolve(
                case=case,
                actor=actor,
                resolution=spec.resolution,
                amount=spec.amount,
                note=spec.note,
                now=resolved_at,
            )


def _after_history(subscription_id: int, at: datetime, now: datetime) -> datetime:
    """`at`, or just after the subscription's latest event if that came later.

    A credit is deducted from the next charge: granted after the latest renewal
    (replayed before the cases), within the hour, never after now.
    """
    latest = SubscriptionEvent.objects.filter(subscription_id=subscription_id).aggregate(
        latest=Max("created_at")
    )["latest"]
    if latest is None or latest < at:
        return at
    return latest + min(timedelta(hours=1), (now - latest) / 2)


def _shipment_for(organization, config, spec: Case, opened_at, taken, actor) -> Shipment | None:
    """A box the customer could ask about at `opened_at`: delivered before, still in the window.

    A box with no case first, the oldest first (the recent ones are left for
    the recent cases); then one whose case is closed; last, a parcel still on
    its way is delivered (the demo's dispatched batch keeps a few on their way
    otherwise).
    """
    shipments = (
        Shipment.objects.filter(organization=organization)
        .exclude(status=Shipment.Status.CREATED)
        .select_related("line__subscription", "organization")
        .order_by("delivered_at", "id")
    )
    delivered = [s for s in shipments if s.status == Shipment.Status.DELIVERED]
    fits = [s for s in delivered if _fits(config, s, spec, opened_at)]
    for shipment in [s for s in fits if s.pk not in taken] + [
        s for s in fits if taken.get(s.pk) is False
    ]:
        return shipment
    for shipment in shipments.filter(status=Shipment.Status.SHIPPED):
        at = min(shipment.shipped_at + timedelta(days=2), opened_at - timedelta(hours=2))
        shipment.delivered_at = at  # would it fit, once delivered then?
        if at > shipment.shipped_at and _fits(config, shipment, spec, opened_at):
            fulfillment.shipment_transition(shipment=shipment, action="deliver", actor=actor, at=at)
            shipment.refresh_from_db()
            return shipment
    return None


def _fits(config, shipment: Shipment, spec: Case, opened_at: datetime) -> bool:
    if shipment.delivered_at is None or shipment.delivered_at > opened_at - timedelta(hours=1):
        return False
    last_day = services.window_last_day(config=config, shipment=shipment)
    if opened_at.astimezone(config.organization.tzinfo).date() > last_day:
        return False
    subscription = shipment.line.subscription
    if spec.resolution == ReturnRequest.Resolution.CREDIT:
        # A credit needs a native subscription with a next charge to deduct it from.
        return subscription.is_native and subscription.status not in (
            Subscription.Status.CANCELED,
            Subscription.Status.EXPIRED,
        )
    return True
