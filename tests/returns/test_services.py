"""After-sales services: every action from every status, the window, and each resolution."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from fulfillment import services as fulfillment
from fulfillment.models import Batch, BatchLine, Shipment
from returns import services
from returns.models import ReturnConfig, ReturnNote, ReturnReason, ReturnRequest
from subscriptions import renewals
from subscriptions.models import Charge, SubscriptionEvent
from tests.factories import (
    MembershipFactory,
    ProductFactory,
    UserFactory,
    api_key_for,
    billing_settings,
    delivered_boxes,
    opened_case,
)

pytestmark = pytest.mark.django_db

S = ReturnRequest.Status
NOW = timezone.now()


@pytest.fixture
def shipment(org_a):
    billing_settings(org_a, gateway="test")
    return delivered_boxes(org_a, delivered_at=NOW - timedelta(days=3))[0]


def case_in(status, org, shipment, staff):
    """A case brought to `status` through the services."""
    actor = Actor.for_user(staff)
    case = opened_case(org, shipment, staff)
    paths = {
        S.REQUESTED: [],
        S.APPROVED: ["approve"],
        S.REJECTED: ["reject"],
        S.RECEIVED: ["approve", "receive"],
        S.RESOLVED: ["approve", "receive", "resolve"],
        S.CANCELED: ["cancel"],
    }
    for action in paths[status]:
        ACTIONS[action](case, actor, staff)
    case.refresh_from_db()
    assert case.status == status
    return case


ACTIONS = {
    "approve": lambda c, a, u: services.return_approve(case=c, actor=a),
    "reject": lambda c, a, u: services.return_reject(case=c, actor=a, reason="Past the date"),
    "receive": lambda c, a, u: services.return_receive(case=c, actor=a),
    "resolve": lambda c, a, u: services.return_resolve(case=c, actor=a, resolution="none"),
    "cancel": lambda c, a, u: services.return_cancel(case=c, actor=a),
    "reassign": lambda c, a, u: services.return_reassign(case=c, actor=a, assignee=u),
}
# (status, action) -> status after; absent: refused with 409 and nothing written.
ALLOWED = {
    (S.REQUESTED, "approve"): S.APPROVED,
    (S.REQUESTED, "reject"): S.REJECTED,
    (S.REQUESTED, "cancel"): S.CANCELED,
    (S.REQUESTED, "reassign"): S.REQUESTED,
    (S.APPROVED, "receive"): S.RECEIVED,
    (S.APPROVED, "resolve"): S.RESOLVED,
    (S.APPROVED, "cancel"): S.CANCELED,
    (S.APPROVED, "reassign"): S.APPROVED,
    (S.RECEIVED, "resolve"): S.RESOLVED,
    (S.RECEIVED, "reassign"): S.RECEIVED,
}
CASES = [(status, action) for status in S.values for action in ACTIONS]


@pytest.mark.parametrize(("status", "action"), CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_every_action_from_every_status(status, action, org_a, shipment, staff_user_a):
    case = case_in(status, org_a, shipment, staff_user_a)
    other = UserFactory(username="paul")
    MembershipFactory(user=other, organization=org_a, role="admin")
    notes = case.notes.count()
    before = ReturnRequest.objects.filter(pk=case.pk).values().get()
    expected = ALLOWED.get((status, action))
    actor = Actor.for_user(staff_user_a)
    if expected is None:
        with pytest.raises(ConflictError) as refused:
            ACTIONS[action](case, actor, other)
        assert refused.value.extra["status"] == status
        assert ReturnRequest.objects.filter(pk=case.pk).values().get() == before
        assert case.notes.count() == notes
        return
    ACTIONS[action](case, actor, other)
    case.refresh_from_db()
    assert case.status == expected
    assert case.notes.count() == notes + 1
    latest = case.notes.latest("id")
    assert (latest.actor_user, latest.actor_label) == (staff_user_a, "claire")
    if action == "reassign":
        assert (case.assignee, latest.kind) == (other, "assigned")
    else:
        assert (latest.kind, latest.from_status, latest.to_status) == ("status", status, expected)
    assert (case.closed_at is not None) == (expected not in ReturnRequest.OPEN)


def test_open_fills_the_case_from_the_shipment_and_its_settings(org_a, shipment, staff_user_a):
    config = services.return_config_ensure(organization=org_a)
    ReturnConfig.objects.filter(pk=config.pk).update(
        service_level_days=2, default_assignee=staff_user_a
    )
    case = opened_case(org_a, shipment, staff_user_a, description=" Bag torn ", now=NOW)

    assert (case.customer_id, case.line_id, case.subscription_id) == (
        shipment.customer_id,
        shipment.line_id,
        shipment.line.subscription_id,
    )
    assert (case.status, case.reason.code, case.description) == ("requested", "damaged", "Bag torn")
    assert case.assignee == staff_user_a
    assert case.due_at == NOW + timedelta(days=2)
    assert [note.kind for note in case.notes.all()] == ["opened", "assigned"]
    assert {note.created_at for note in case.notes.all()} == {NOW}

    later = NOW + timedelta(hours=5)
    services.return_reject(case=case, actor=Actor.for_user(staff_user_a), reason="Used", now=later)
    case.refresh_from_db()
    assert case.closed_at == later
    assert case.notes.latest("id").created_at == later


def _window_case(org, staff, delivered_at, now, **kwargs):
    shipment = delivered_boxes(org, delivered_at=delivered_at)[0]
    return opened_case(org, shipment, staff, now=now, **kwargs)


def test_one_day_outside_the_window_is_refused_and_an_override_is_in_the_timeline(
    org_a, staff_user_a
):
    billing_settings(org_a, gateway="test")
    tz = org_a.tzinfo
    delivered = datetime(2026, 11, 2, 17, 30, tzinfo=tz)  # window 14 days: until 16 Nov
    last_minute = datetime(2026, 11, 16, 23, 59, tzinfo=tz)
    one_day_late = datetime(2026, 11, 17, 0, 1, tzinfo=tz)
    shipment = delivered_boxes(org_a, delivered_at=delivered)[0]

    with pytest.raises(ApplicationError) as refused:
        opened_case(org_a, shipment, staff_user_a, now=one_day_late)
    assert "closed on" in refused.value.message
    assert refused.value.extra["window_closed_on"] == "2026-11-16"
    assert "override_reason" in refused.value.extra["fields"]
    assert not ReturnRequest.objects.exists()

    case = opened_case(
        org_a, shipment, staff_user_a, now=one_day_late, override_reason="Loyal customer since 2019"
    )
    assert case.window_override == "Loyal customer since 2019"
    override = case.notes.get(kind="override")
    assert (override.text, override.actor_user) == ("Loyal customer since 2019", staff_user_a)
    assert override.data == {"window_closed_on": "2026-11-16"}

    services.return_cancel(case=case, actor=Actor.for_user(staff_user_a))
    in_time = opened_case(
        org_a, shipment, staff_user_a, now=last_minute, override_reason="not needed"
    )
    assert in_time.window_override == ""
    assert not in_time.notes.filter(kind="override").exists()


def test_only_a_staff_member_can_override_the_window(org_a, staff_user_a):
    billing_settings(org_a, gateway="test")
    shipment = delivered_boxes(org_a, delivered_at=NOW - timedelta(days=30))[0]
    key, _clear = api_key_for(org_a, name="helpdesk")
    with pytest.raises(ApplicationError, match="Only a staff member"):
        services.return_open(
            organization=org_a,
            shipment=shipment,
            reason="damaged",
            actor=Actor.for_api_key(key),
            override_reason="please",
        )
    assert not ReturnRequest.objects.exists()


def test_another_organizations_shipment_cannot_be_the_subject(org_a, org_b, staff_user_a):
    billing_settings(org_b, gateway="test")
    foreign = delivered_boxes(org_b, delivered_at=NOW - timedelta(days=1))[0]
    for subject in (foreign, foreign.pk):
        with pytest.raises(ApplicationError) as refused:
            opened_case(org_a, subject, staff_user_a)
        assert refused.value.extra["fields"] == {"shipment": ["Unknown shipment."]}
    assert not ReturnRequest.objects.exists()
    assert not ReturnNote.objects.exists()
    assert not ReturnConfig.objects.filter(organization=org_b).exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": "bored"}, "reason"),
        ({"items": [{"product": 0, "quantity": 1}]}, "items"),
        ({"items": [{"product": "PRODUCT", "quantity": 5}]}, "items"),
        ({"items": [{"product": "PRODUCT", "quantity": 0}]}, "items"),
        ({"assignee": "OUTSIDER"}, "assignee"),
    ],
)
def test_open_refuses_bad_input_and_writes_nothing(org_a, shipment, staff_user_a, kwargs, field):
    product = shipment.line.items[0]["product"]
    outsider = UserFactory(username="outsider")
    for key, value in list(kwargs.items()):
        if key == "items":
            kwargs[key] = [
                {**item, "product": product if item["product"] == "PRODUCT" else item["product"]}
                for item in value
            ]
        if value == "OUTSIDER":
            kwargs[key] = outsider
    with pytest.raises(ApplicationError) as refused:
        opened_case(org_a, shipment, staff_user_a, **kwargs)
    assert field in refused.value.extra["fields"]
    assert not ReturnRequest.objects.exists()


def test_a_shipment_has_one_open_case_at_a_time(org_a, shipment, staff_user_a):
    first = opened_case(org_a, shipment, staff_user_a)
    with pytest.raises(ConflictError, match=f"Case {first.pk} is already open"):
        opened_case(org_a, shipment, staff_user_a)
    services.return_reject(case=first, actor=Actor.for_user(staff_user_a), reason="No photo")
    assert opened_case(org_a, shipment, staff_user_a).pk != first.pk


def test_reject_needs_a_reason(org_a, shipment, staff_user_a):
    case = opened_case(org_a, shipment, staff_user_a)
    with pytest.raises(ApplicationError):
        services.return_reject(case=case, actor=Actor.for_user(staff_user_a), reason="  ")
    case.refresh_from_db()
    assert case.status == "requested"


def _approved(org, shipment, staff, **kwargs):
    case = opened_case(org, shipment, staff, **kwargs)
    return services.return_approve(case=case, actor=Actor.for_user(staff))


def test_a_replacement_is_a_line_of_the_next_open_batch_and_ships_with_it(org_a, staff_user_a):
    billing_settings(org_a, gateway="test")
    coffee, mug = ProductFactory(organization=org_a), ProductFactory(organization=org_a)
    shipment = delivered_boxes(
        org_a, delivered_at=NOW - timedelta(days=2), items=[(coffee, 2), (mug, 1)]
    )[0]
    case = _approved(org_a, shipment, staff_user_a, items=[{"product": mug.pk, "quantity": 1}])
    services.return_resolve(case=case, actor=Actor.for_user(staff_user_a), resolution="replacement")

    case.refresh_from_db()
    line = case.replacement_line
    batch = Batch.objects.get(organization=org_a, status="open")
    assert (line.batch, line.kind, line.status, line.cycle, line.charge) == (
        batch,
        "replacement",
        "ready",
        None,
        None,
    )
    assert [(item["product"], item["quantity"]) for item in line.items] == [(mug.pk, 1)]
    assert line.address["line1"] == "12 rue des Lilas"
    assert case.notes.filter(kind="replacement").exists()

    # The batch is locked at its cut-off, the box packed and dispatched with the others.
    actor = Actor.system("warehouse")
    fulfillment.batch_lock(batch=batch, actor=actor)
    line.refresh_from_db()
    assert (line.batch_id, line.status, line.items[0]["product"]) == (batch.pk, "ready", mug.pk)
    fulfillment.line_prepare(line=line, actor=actor)
    report = fulfillment.batch_dispatch(batch=batch, actor=actor)
    line.refresh_from_db()
    assert line.status == "shipped"
    assert report.shipped >= 1
    assert Shipment.objects.get(line=line).customer_id == shipment.customer_id


def test_a_replacement_not_packed_rolls_to_the_next_batch(org_a, shipment, staff_user_a):
    case = _approved(org_a, shipment, staff_user_a)
    services.return_resolve(case=case, actor=Actor.for_user(staff_user_a), resolution="replacement")
    case.refresh_from_db()
    batch = case.replacement_line.batch
    actor = Actor.system("warehouse")
    fulfillment.batch_lock(batch=batch, actor=actor)
    fulfillment.batch_dispatch(batch=batch, actor=actor)
    case.replacement_line.refresh_from_db()
    assert case.replacement_line.status == "rolled"
    copy = BatchLine.objects.get(rolled_from=case.replacement_line)
    assert (copy.kind, copy.status, copy.batch.status) == ("replacement", "ready", "open")


def test_a_credit_reduces_the_next_native_charge_by_exactly_its_amount(
    org_a, shipment, staff_user_a
):
    subscription = shipment.line.subscription
    items_total = sum(item.total for item in subscription.items.all())
    case = _approved(org_a, shipment, staff_user_a)
    services.return_resolve(
        case=case, actor=Actor.for_user(staff_user_a), resolution="credit", amount="4.30"
    )
    case.refresh_from_db()
    assert (case.status, case.resolution, case.amount) == ("resolved", "credit", Decimal("4.30"))
    event = subscription.events.get(kind=SubscriptionEvent.Kind.CREDIT_GRANTED)
    assert event.data["amount"] == "4.30"

    subscription.refresh_from_db()
    renewals.create_due_charges(
        now=subscription.next_charge_at + timedelta(seconds=1), subscription_ids=[subscription.pk]
    )
    charge = Charge.objects.get(subscription=subscription, cycle=subscription.next_cycle)
    assert charge.amount == items_total - Decimal("4.30")
    subscription.refresh_from_db()
    assert subscription.adjustment == 0


def test_a_refund_is_recorded_against_the_boxs_charge(org_a, shipment, staff_user_a):
    charge = shipment.line.charge
    case = _approved(org_a, shipment, staff_user_a)
    with pytest.raises(ApplicationError) as too_much:
        services.return_resolve(
            case=case,
            actor=Actor.for_user(staff_user_a),
            resolution="refund",
            amount=charge.amount + Decimal("0.01"),
        )
    assert "amount" in too_much.value.extra["fields"]
    case.refresh_from_db()
    assert case.status == "approved"

    services.return_resolve(
        case=case, actor=Actor.for_user(staff_user_a), resolution="refund", amount=charge.amount
    )
    case.refresh_from_db()
    charge.refresh_from_db()
    assert (case.refund, case.charge, case.amount) == ("recorded", charge, charge.amount)
    assert (charge.status, charge.refunded_amount) == ("refunded", charge.amount)
    assert charge.subscription.events.filter(kind="charge_refunded").count() == 1


@pytest.mark.parametrize(
    ("resolution", "amount"),
    [("refund", None), ("credit", "-3"), ("credit", "abc"), ("none", "5"), ("gift", None)],
)
def test_resolve_refuses_bad_input_and_moves_no_money(
    org_a, shipment, staff_user_a, resolution, amount
):
    case = _approved(org_a, shipment, staff_user_a)
    subscription = shipment.line.subscription
    with pytest.raises(ApplicationError):
        services.return_resolve(
            case=case, actor=Actor.for_user(staff_user_a), resolution=resolution, amount=amount
        )
    case.refresh_from_db()
    subscription.refresh_from_db()
    assert (case.status, case.resolution, subscription.adjustment) == ("approved", "", 0)


def test_another_organizations_reason_is_refused_even_with_the_same_code(
    org_a, org_b, shipment, staff_user_a
):
    services.return_config_ensure(organization=org_b)
    foreign = ReturnReason.objects.get(organization=org_b, code="damaged")
    with pytest.raises(ApplicationError) as refused:
        opened_case(org_a, shipment, staff_user_a, reason=foreign)
    assert refused.value.extra["fields"]["reason"] == [
        "Not a reason of the shipment's organization."
    ]
    assert not ReturnRequest.objects.exists()


# --- Settings ----------------------------------------------------------------------------


def test_settings_are_created_once_with_the_default_reasons(org_a, org_b):
    services.return_config_ensure(organization=org_a)

    services.return_configs_ensure(organization_ids=[org_a.pk, org_b.pk])
    services.return_configs_ensure(organization_ids=[org_a.pk, org_b.pk])

    assert ReturnConfig.objects.filter(organization__in=[org_a, org_b]).count() == 2
    reasons = ReturnReason.objects.filter(organization=org_b).count()
    assert reasons == ReturnReason.objects.filter(organization=org_a).count() > 0


def test_the_default_assignee_must_be_staff_of_the_organization(org_a, org_b, staff_user_a):
    viewer = UserFactory(username="vera")
    MembershipFactory(user=viewer, organization=org_a, role="viewer")
    outsider = UserFactory(username="bruno")
    MembershipFactory(user=outsider, organization=org_b, role="staff")

    for refused_user in (viewer, outsider):
        with pytest.raises(ApplicationError) as refused:
            services.return_config_update(
                organization=org_a,
                window_days=30,
                service_level_days=2,
                default_assignee=refused_user,
            )
        assert refused.value.extra["fields"]["default_assignee"] == [
            "Not an administrator or staff member of this organization."
        ]
    assert not ReturnConfig.objects.filter(organization=org_a, window_days=30).exists()

    config = services.return_config_update(
        organization=org_a, window_days=30, service_level_days=2, default_assignee=staff_user_a
    )

    config.refresh_from_db()
    assert (config.window_days, config.service_level_days, config.default_assignee) == (
        30,
        2,
        staff_user_a,
    )


def test_a_reason_is_added_then_retired_and_keeps_its_code(org_a, org_b):
    services.return_config_ensure(organization=org_a)

    melted = services.return_reason_save(
        organization=org_a, code="melted", label="Melted", labels={"fr": "Fondu"}, position=9
    )
    services.return_reason_save(organization=org_a, reason=melted, active=False, position=2)

    melted.refresh_from_db()
    assert (melted.code, melted.labels, melted.active, melted.position) == (
        "melted",
        {"fr": "Fondu"},
        False,
        2,
    )
    with pytest.raises(TypeError):
        services.return_reason_save(organization=org_a, reason=melted, code="frozen")
    with pytest.raises(ValueError, match="another organization"):
        services.return_reason_save(organization=org_b, reason=melted, active=True)


def test_a_reason_with_a_code_already_used_is_refused(org_a):
    services.return_config_ensure(organization=org_a)

    with pytest.raises(ApplicationError) as refused:
        services.return_reason_save(organization=org_a, code="damaged", label="Again")

    assert "fields" in refused.value.extra
    assert ReturnReason.objects.filter(organization=org_a, code="damaged").count() == 1
