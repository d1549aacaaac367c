"""The lifecycle services: every action from every status, and what each one keeps."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.forms.models import model_to_dict
from django.utils import timezone

from core.actors import Actor, ActorKind
from core.errors import ApplicationError, ConflictError
from subscriptions import services
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import (
    AddressFactory,
    ChargeFactory,
    CustomerFactory,
    ProductFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

S = Subscription.Status
STAFF = Actor(ActorKind.USER, label="test staff")


def _items(subscription):
    product = ProductFactory(organization=subscription.organization, unit_price=Decimal("30.00"))
    return [{"product": product, "quantity": 2}]


# Each action as staff would call it, with valid arguments.
ACTIONS = {
    "pause": lambda s: services.subscription_pause(subscription=s, actor=STAFF),
    "resume": lambda s: services.subscription_resume(subscription=s, actor=STAFF),
    "skip": lambda s: services.subscription_skip(subscription=s, actor=STAFF),
    "change_schedule": lambda s: services.subscription_change_schedule(
        subscription=s, actor=STAFF, billing_period="week", billing_interval=2
    ),
    "change_items": lambda s: services.subscription_change_items(
        subscription=s, actor=STAFF, items=_items(s)
    ),
    "cancel": lambda s: services.subscription_cancel(subscription=s, actor=STAFF, reason="Moving"),
    "cancel_at_period_end": lambda s: services.subscription_cancel(
        subscription=s, actor=STAFF, reason="Too much coffee", at_period_end=True
    ),
    "expire": lambda s: services.subscription_expire(subscription=s, actor=STAFF),
    "withdraw_cancellation": lambda s: services.subscription_withdraw_cancellation(
        subscription=s, actor=STAFF
    ),
}
# What a subscription needs, besides its status, for the action to make sense
# (by action, or by (status, action)).
SETUP = {
    "withdraw_cancellation": {"cancel_at_period_end": True, "cancel_reason": "Moving"},
    # Paused, a skip acts on the first cycle after the resume date: it needs one.
    (S.PAUSED, "skip"): {"resume_at": timezone.now() + timedelta(days=45)},
}


def _setup(status, action):
    return SETUP.get((status, action), SETUP.get(action, {}))


# (status, action) -> the status after it; absent: refused.
ALLOWED = {
    (S.ACTIVE, "pause"): S.PAUSED,
    (S.PAUSED, "resume"): S.ACTIVE,
    (S.ACTIVE, "skip"): S.ACTIVE,
    (S.PAUSED, "skip"): S.PAUSED,
    **{(s, "change_schedule"): s for s in (S.PENDING, S.ACTIVE, S.PAUSED)},
    **{(s, "change_items"): s for s in (S.PENDING, S.ACTIVE, S.PAUSED)},
    **{(s, "cancel"): S.CANCELED for s in (S.PENDING, S.ACTIVE, S.PAUSED, S.PAST_DUE)},
    (S.ACTIVE, "cancel_at_period_end"): S.ACTIVE,
    (S.PAUSED, "cancel_at_period_end"): S.PAUSED,
    **{(s, "expire"): S.EXPIRED for s in (S.ACTIVE, S.PAUSED, S.PAST_DUE)},
    **{(s, "withdraw_cancellation"): s for s in (S.ACTIVE, S.PAUSED, S.PAST_DUE)},
}

CASES = [(status, action) for status in S.values for action in ACTIONS]


def _state(subscription):
    """Everything a refused action must leave as it was."""
    subscription = Subscription.objects.get(pk=subscription.pk)
    return (
        model_to_dict(subscription, exclude=["id"]) | {"updated_at": subscription.updated_at},
        list(subscription.items.values_list("product_id", "quantity", "unit_price")),
        list(subscription.charges.values_list("cycle", "status", "amount")),
        subscription.events.count(),
    )


@pytest.mark.parametrize(("status", "action"), CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_every_action_from_every_status(status, action):
    # Given a subscription in `status`
    subscription = SubscriptionFactory(status=status, **_setup(status, action))
    events_before = subscription.events.count()
    expected = ALLOWED.get((status, action))

    if expected is None:
        # When a refused action is attempted, then it raises 409 and nothing changes
        before = _state(subscription)
        with pytest.raises(ConflictError) as refused:
            ACTIONS[action](subscription)
        assert refused.value.status == 409
        assert status.replace("_", " ") in refused.value.message.lower()
        assert _state(subscription) == before
    else:
        # When an allowed action is taken, then the status is as expected, with one event
        ACTIONS[action](subscription)
        subscription.refresh_from_db()
        assert subscription.status == expected
        assert subscription.events.count() == events_before + 1
        event = subscription.events.first()
        assert (event.from_status, event.to_status) == (status, expected)
        assert event.actor_label == "test staff"


def _cancel_scheduled(subscription):
    services.subscription_cancel(
        subscription=subscription, actor=STAFF, reason="Moving", at_period_end=True
    )


def _next_charge_under_way(subscription):
    start, end = subscription.cycle_bounds(subscription.next_cycle)
    subscription.charges.create(
        organization=subscription.organization,
        cycle=subscription.next_cycle,
        period_start=start,
        period_end=end,
        amount=Decimal("12.50"),
        currency="EUR",
        status=Charge.Status.PENDING,
    )


# Allowed by the status, refused by the state beside it (409, a clear message, nothing
# changed): (status, given, action, what the message says).
REFUSED_IN_STATE = [
    (S.PAUSED, None, "skip", "no resume date"),
    (S.ACTIVE, _cancel_scheduled, "change_items", "Withdraw the cancellation"),
    (S.PAUSED, _cancel_scheduled, "change_items", "Withdraw the cancellation"),
    (S.ACTIVE, _next_charge_under_way, "skip", "already being charged"),
    (S.ACTIVE, _next_charge_under_way, "change_schedule", "already being charged"),
    (S.PAUSED, _next_charge_under_way, "change_schedule", "already being charged"),
]


@pytest.mark.parametrize(
    ("status", "given", "action", "says"),
    REFUSED_IN_STATE,
    ids=[f"{s}-{g.__name__ if g else 'no_resume_date'}-{a}" for s, g, a, _ in REFUSED_IN_STATE],
)
def test_an_action_the_state_refuses_says_why_and_changes_nothing(status, given, action, says):
    # Given a subscription in `status` whose state refuses the action
    subscription = SubscriptionFactory(status=status)
    if given is not None:
        given(subscription)
    before = _state(subscription)

    # When it is attempted, then it is a 409 saying why, and nothing changes
    with pytest.raises(ConflictError, match=says) as refused:
        ACTIONS[action](subscription)
    assert refused.value.status == 409
    assert _state(subscription) == before


def test_a_woocommerce_subscription_refuses_staff_actions_and_says_why():
    # Given a subscription the shop charges
    subscription = SubscriptionFactory(status=S.ACTIVE, source=Subscription.Source.WOOCOMMERCE)

    # When staff pause it, then it is refused with the reason, and nothing changes
    with pytest.raises(ConflictError, match="WooCommerce"):
        services.subscription_pause(subscription=subscription, actor=STAFF)
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE


def test_a_woocommerce_subscription_refuses_an_api_key():
    subscription = SubscriptionFactory(status=S.ACTIVE, source=Subscription.Source.WOOCOMMERCE)
    actor = Actor("api_key", label="shop portal")

    with pytest.raises(ConflictError):
        services.subscription_skip(subscription=subscription, actor=actor)


# --- Create ---------------------------------------------------------------------------


def test_create_makes_a_pending_subscription_due_now_with_one_event():
    # Given a customer with a shipping address and a product
    customer = CustomerFactory()
    address = AddressFactory(customer=customer)
    product = ProductFactory(organization=customer.organization, unit_price=Decimal("18.00"))

    # When a subscription is created
    subscription = services.subscription_create(
        organization=customer.organization,
        customer=customer,
        items=[{"product": product, "quantity": 2}],
        actor=STAFF,
    )

    # Then it is pending, due now, ships to the address, at the product's price
    assert subscription.status == S.PENDING
    assert subscription.next_charge_at == subscription.billing_anchor
    assert subscription.shipping_address == address
    assert subscription.currency == customer.organization.currency
    assert [(i.quantity, i.unit_price) for i in subscription.items.all()] == [(2, Decimal("18.00"))]
    assert list(subscription.events.values_list("kind", flat=True)) == ["created"]


def test_create_with_a_trial_is_active_and_first_charged_at_the_trial_end():
    customer = CustomerFactory()
    product = ProductFactory(organization=customer.organization)
    trial_end = timezone.now() + timedelta(days=14)

    subscription = services.subscription_create(
        organization=customer.organization,
        customer=customer,
        items=[{"product": product}],
        actor=STAFF,
        trial_ends_at=trial_end,
    )

    assert subscription.status == S.ACTIVE
    assert subscription.next_charge_at == trial_end


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"billing_interval": 0}, "billing_interval"),
        ({"billing_period": "fortnight"}, "billing_period"),
        ({"items": []}, "items"),
        ({"items": [{"product": 999999}]}, "items"),
        ({"items": "other-organization"}, "items"),
        ({"items": "zero-quantity"}, "items"),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(org_a, org_b, override, field):
    customer = CustomerFactory(organization=org_a)
    product = ProductFactory(organization=org_a)
    items = override.pop("items", [{"product": product}])
    if items == "other-organization":
        items = [{"product": ProductFactory(organization=org_b)}]
    elif items == "zero-quantity":
        items = [{"product": product, "quantity": 0}]

    with pytest.raises(ApplicationError) as refused:
        services.subscription_create(
            organization=org_a, customer=customer, items=items, actor=STAFF, **override
        )

    assert field in refused.value.extra["fields"]
    assert not Subscription.objects.exists()
    assert not SubscriptionEvent.objects.exists()


def test_create_refuses_another_organizations_customer(org_a, org_b):
    customer = CustomerFactory(organization=org_b)
    product = ProductFactory(organization=org_a)

    with pytest.raises(ApplicationError) as refused:
        services.subscription_create(
            organization=org_a, customer=customer, items=[{"product": product}], actor=STAFF
        )

    assert "customer" in refused.value.extra["fields"]
    assert not Subscription.objects.exists()


# --- Pause, skip, change: what they keep ------------------------------------------------


def test_pause_refuses_a_resume_date_in_the_past_and_changes_nothing():
    subscription = SubscriptionFactory(status=S.ACTIVE)

    with pytest.raises(ApplicationError) as refused:
        services.subscription_pause(
            subscription=subscription, actor=STAFF, resume_at=timezone.now() - timedelta(hours=1)
        )

    assert "resume_at" in refused.value.extra["fields"]
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert subscription.events.count() == 0


def test_skip_moves_the_next_charge_one_cycle_and_records_the_skipped_cycle():
    # Given an active monthly subscription whose next charge is cycle 1
    subscription = SubscriptionFactory(status=S.ACTIVE)
    cycle_1, cycle_2 = subscription.cycle_start(1), subscription.cycle_start(2)

    # When staff skip the next cycle
    subscription = services.subscription_skip(subscription=subscription, actor=STAFF)

    # Then cycle 1 is skipped and the next charge is cycle 2's date
    assert subscription.skipped_cycles == [1]
    assert (subscription.next_cycle, subscription.next_charge_at) == (2, cycle_2)
    assert subscription.events.first().data["cycle_date"] == cycle_1.isoformat()


def test_a_skipped_cycle_a_resume_date_and_a_pending_cancel_survive_changes():
    # Given a subscription with a skipped cycle, whose items then change
    subscription = SubscriptionFactory(status=S.ACTIVE)
    resume_at = timezone.now() + timedelta(days=10)
    services.subscription_skip(subscription=subscription, actor=STAFF)
    services.subscription_change_items(
        subscription=subscription, actor=STAFF, items=_items(subscription)
    )

    # When it is canceled at period end, paused until a date, and its schedule changes
    services.subscription_cancel(
        subscription=subscription, actor=STAFF, reason="Moving", at_period_end=True
    )
    services.subscription_pause(subscription=subscription, actor=STAFF, resume_at=resume_at)
    subscription = services.subscription_change_schedule(
        subscription=subscription, actor=STAFF, billing_period="week", billing_interval=2
    )

    # Then each scheduled change is still there
    assert subscription.resume_at == resume_at
    assert subscription.cancel_at_period_end is True
    assert subscription.skipped_cycles == [1]
    assert subscription.next_cycle == 2


def test_change_schedule_keeps_the_next_charge_date_and_counts_from_it():
    subscription = SubscriptionFactory(status=S.ACTIVE)
    next_charge_at = subscription.next_charge_at

    subscription = services.subscription_change_schedule(
        subscription=subscription, actor=STAFF, billing_period="week", billing_interval=2
    )

    assert subscription.next_charge_at == next_charge_at
    assert subscription.cycle_start(subscription.next_cycle + 1) == next_charge_at + timedelta(
        weeks=2
    )


def test_change_items_mid_period_carries_the_pro_rata_difference_to_the_next_charge():
    # Given an active subscription of one 20.00 product, paid for a 30-day period
    start = timezone.now().replace(year=2026, month=4, day=1, hour=10, minute=0, second=0)
    with time_machine.travel(start, tick=False):
        product = ProductFactory(unit_price=Decimal("20.00"))
        subscription = SubscriptionFactory(
            status=S.ACTIVE, customer__organization=product.organization, items=[(product, 1)]
        )
    assert subscription.current_period_end - subscription.current_period_start == timedelta(days=30)

    # When, half-way through, the customer changes to two of a 20.00 product
    with time_machine.travel(start + timedelta(days=15), tick=False):
        subscription = services.subscription_change_items(
            subscription=subscription, actor=STAFF, items=[{"product": product, "quantity": 2}]
        )

    # Then half the old amount is credited and half the new one charged: +10.00 next time
    assert subscription.adjustment == Decimal("10.00")
    proration = subscription.events.first().data["proration"]
    assert (proration["credit"], proration["charge"]) == ("10.00", "20.00")


def test_change_items_and_back_at_once_nets_to_zero():
    product = ProductFactory(unit_price=Decimal("17.30"))
    subscription = SubscriptionFactory(
        status=S.ACTIVE, customer__organization=product.organization, items=[(product, 1)]
    )
    with time_machine.travel(subscription.current_period_start + timedelta(days=7, seconds=13)):
        services.subscription_change_items(
            subscription=subscription, actor=STAFF, items=[{"product": product, "quantity": 3}]
        )
        subscription = services.subscription_change_items(
            subscription=subscription, actor=STAFF, items=[{"product": product, "quantity": 1}]
        )

    assert subscription.adjustment == Decimal("0.00")


def test_cancel_now_voids_unpaid_charges_and_requires_a_reason():
    subscription = SubscriptionFactory(status=S.PAST_DUE)
    charge = subscription.charges.create(
        organization=subscription.organization,
        cycle=1,
        period_start=subscription.cycle_start(1),
        period_end=subscription.cycle_start(2),
        amount=Decimal("12.50"),
        currency="EUR",
        status=Charge.Status.FAILED,
        next_retry_at=timezone.now() + timedelta(days=1),
    )

    with pytest.raises(ApplicationError) as refused:
        services.subscription_cancel(subscription=subscription, actor=STAFF, reason="  ")
    assert "reason" in refused.value.extra["fields"]

    subscription = services.subscription_cancel(
        subscription=subscription, actor=STAFF, reason="Customer asked"
    )
    charge.refresh_from_db()
    assert subscription.status == S.CANCELED
    assert subscription.next_charge_at is None
    assert (charge.status, charge.next_retry_at) == (Charge.Status.VOIDED, None)
    assert subscription.events.first().reason == "Customer asked"


def test_a_second_cancel_at_period_end_is_refused():
    subscription = SubscriptionFactory(status=S.ACTIVE)
    services.subscription_cancel(
        subscription=subscription, actor=STAFF, reason="Moving", at_period_end=True
    )

    with pytest.raises(ConflictError):
        services.subscription_cancel(
            subscription=subscription, actor=STAFF, reason="Moving", at_period_end=True
        )
    assert subscription.events.count() == 1


def test_withdrawing_a_scheduled_cancellation_keeps_the_subscription_renewing():
    # Given an active subscription canceled at period end
    subscription = SubscriptionFactory(status=S.ACTIVE)
    services.subscription_cancel(
        subscription=subscription, actor=STAFF, reason="Too expensive", at_period_end=True
    )

    # When the customer changes their mind
    subscription = services.subscription_withdraw_cancellation(
        subscription=subscription, actor=STAFF, reason="Stays after a discount"
    )

    # Then nothing is scheduled any more, and the history says what was withdrawn
    assert (subscription.cancel_at_period_end, subscription.cancel_reason) == (False, "")
    event = subscription.events.first()
    assert (event.kind, event.data["cancel_reason"]) == ("cancel_withdrawn", "Too expensive")


def test_withdrawing_when_nothing_is_scheduled_is_refused_with_a_clear_message():
    subscription = SubscriptionFactory(status=S.ACTIVE)

    with pytest.raises(ConflictError, match="No cancellation is scheduled"):
        services.subscription_withdraw_cancellation(subscription=subscription, actor=STAFF)
    assert subscription.events.count() == 0


# --- Charges recorded by staff ----------------------------------------------------------


@pytest.mark.parametrize(
    "mark",
    [
        lambda charge: services.charge_mark_paid(charge=charge, actor=STAFF),
        lambda charge: services.charge_mark_failed(charge=charge, actor=STAFF, reason="Bounced"),
    ],
    ids=["paid", "failed"],
)
def test_a_woocommerce_charge_is_not_recorded_by_hand_and_nothing_changes(mark):
    # Given a waiting charge of a subscription the shop charges
    subscription = SubscriptionFactory(status=S.ACTIVE, source=Subscription.Source.WOOCOMMERCE)
    charge = ChargeFactory(subscription=subscription, cycle=1, status=Charge.Status.PENDING)
    before = _state(subscription)

    # When staff record it paid or failed, then the service refuses: the shop records it
    with pytest.raises(ConflictError, match="WooCommerce") as refused:
        mark(charge)

    assert refused.value.extra == {"charge": charge.pk, "source": "woocommerce"}
    charge.refresh_from_db()
    assert (charge.status, charge.attempts) == (Charge.Status.PENDING, 0)
    assert _state(subscription) == before
