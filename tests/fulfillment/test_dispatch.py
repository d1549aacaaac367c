"""Charge-then-ship, from the lock to the last delivery: only paid boxes ever ship."""

from datetime import timedelta

import pytest
import time_machine

from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from fulfillment import services
from fulfillment.models import Batch, BatchLine, FulfillmentSettings, Shipment, line_code
from subscriptions import renewals
from subscriptions.models import Charge
from subscriptions.services import charge_mark_paid, subscription_cancel
from tests.factories import SubscriptionFactory, billing_settings, open_batch
from tests.fulfillment.test_lock import CUTOFF

pytestmark = pytest.mark.django_db

STAFF = Actor.system("packing room")


@pytest.fixture
def locked(org_a):
    """A locked batch of four weekly boxes whose charges wait (manual gateway)."""
    billing_settings(org_a, gateway="manual")
    batch = open_batch(org_a, CUTOFF)
    subscriptions = [
        SubscriptionFactory(
            customer__organization=org_a,
            status="active",
            billing_period="week",
            billing_anchor=CUTOFF - timedelta(days=9),
        )
        for _ in range(4)
    ]
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()  # cycle 1 charged: pending, staff mark payments by hand
    services.lock_due_batches(now=CUTOFF + timedelta(minutes=1))
    batch.refresh_from_db()
    lines = {line.subscription_id: line for line in batch.lines.all()}
    return batch, [lines[s.pk] for s in subscriptions]


def pay(line):
    charge = Charge.objects.get(subscription_id=line.subscription_id, cycle=line.cycle)
    charge_mark_paid(charge=charge, actor=STAFF)


def status(line) -> str:
    line.refresh_from_db()
    return line.status


def test_a_line_waits_for_its_payment_then_is_ready_at_once(locked):
    _batch, lines = locked
    assert {status(line) for line in lines} == {"awaiting_payment"}
    with pytest.raises(ConflictError, match="not paid"):
        services.line_prepare(line=lines[0], actor=STAFF)
    pay(lines[0])
    assert status(lines[0]) == "ready"
    services.line_prepare(line=lines[0], actor=STAFF)
    assert status(lines[0]) == "prepared"


def test_dispatch_ships_prepared_paid_lines_and_rolls_or_excludes_the_rest(locked, org_a):
    batch, (prepared, paid_only, unpaid, ended) = locked
    for line in (prepared, paid_only):
        pay(line)
    services.line_prepare_code(organization=org_a, code=line_code(prepared.pk), actor=STAFF)
    subscription_cancel(subscription=ended.subscription, actor=STAFF, reason="moving abroad")

    report = services.batch_dispatch(batch=batch, actor=STAFF, carrier="Colissimo")

    batch.refresh_from_db()
    assert batch.status == "dispatched"
    assert (report.shipped, report.rolled, report.excluded) == (1, 2, 1)
    shipment = Shipment.objects.get(batch=batch)
    assert (shipment.line_id, shipment.carrier, shipment.status) == (
        prepared.pk,
        "Colissimo",
        "created",
    )
    assert shipment.address == prepared.address
    assert status(prepared) == "shipped"
    assert status(paid_only) == "rolled"
    assert status(unpaid) == "rolled"
    assert status(ended) == "excluded"
    assert "ended" in ended.reason
    # The rolled ones wait in the next batch, with their cycle and payment state.
    nxt = Batch.objects.get(pk=report.next_batch)
    assert nxt.status == "open"
    copies = {line.rolled_from_id: line for line in nxt.lines.all()}
    assert copies[paid_only.pk].status == "ready"
    assert copies[unpaid.pk].status == "awaiting_payment"
    assert copies[unpaid.pk].cycle == unpaid.cycle
    # Paid later, the rolled box becomes ready where it now is.
    pay(unpaid)
    assert status(copies[unpaid.pk]) == "ready"


def test_the_settings_can_exclude_unpaid_lines_instead(locked, org_a):
    FulfillmentSettings.objects.create(
        organization=org_a, unpaid_lines=FulfillmentSettings.UnpaidLines.EXCLUDE
    )
    batch, lines = locked
    services.batch_dispatch(batch=batch, actor=STAFF)
    assert {status(line) for line in lines} == {"excluded"}
    assert {line.reason for line in lines} == {"Not paid at dispatch."}
    assert not Shipment.objects.exists()


def test_an_unpaid_line_never_reaches_a_shipment(locked):
    batch, lines = locked
    for line in lines:
        pay(line)
        services.line_prepare(line=line, actor=STAFF)
    # One payment is refunded after the box was packed.
    refunded = lines[0]
    Charge.objects.filter(subscription_id=refunded.subscription_id, cycle=refunded.cycle).update(
        status=Charge.Status.REFUNDED
    )
    services.batch_dispatch(batch=batch, actor=STAFF)
    shipped = set(Shipment.objects.values_list("line_id", flat=True))
    assert shipped == {line.pk for line in lines[1:]}
    assert status(refunded) == "excluded"
    assert not Shipment.objects.exclude(line__charge__status=Charge.Status.PAID).exists()


def test_the_batch_completes_when_its_last_shipment_is_closed(locked):
    batch, lines = locked
    for line in lines[:2]:
        pay(line)
        services.line_prepare(line=line, actor=STAFF)
    services.batch_dispatch(batch=batch, actor=STAFF)
    first, second = Shipment.objects.filter(batch=batch).order_by("id")
    with pytest.raises(ConflictError, match="not delivered"):
        services.batch_complete(batch=batch, actor=STAFF)
    services.shipment_update(shipment=first, actor=STAFF, tracking_number=" 6A123 ")
    services.shipment_transition(shipment=first, action="ship", actor=STAFF)
    services.shipment_transition(shipment=first, action="deliver", actor=STAFF)
    batch.refresh_from_db()
    assert batch.status == "dispatched"
    services.shipment_transition(shipment=second, action="mark_lost", actor=STAFF)
    batch.refresh_from_db()
    assert batch.status == "completed"
    first.refresh_from_db()
    assert (first.tracking_number, first.status) == ("6A123", "delivered")
    assert first.shipped_at
    assert first.delivered_at
    assert first.closed_at
    with pytest.raises(ConflictError):
        services.shipment_transition(shipment=first, action="ship", actor=STAFF)


def test_actions_from_the_wrong_status_are_refused_and_change_nothing(locked, org_a):
    batch, lines = locked
    with pytest.raises(ConflictError):
        services.batch_complete(batch=batch, actor=STAFF)
    with pytest.raises(ConflictError):
        services.batch_cancel(batch=batch, actor=STAFF)
    with pytest.raises(ConflictError):
        services.batch_lock(batch=batch, actor=STAFF)
    batch.refresh_from_db()
    assert batch.status == "locked"
    nxt = Batch.objects.get(organization=org_a, status="open")
    with pytest.raises(ConflictError):
        services.batch_dispatch(batch=nxt, actor=STAFF)
    # Lines of an open batch are not prepared.
    pay(lines[0])
    services.batch_dispatch(batch=batch, actor=STAFF)
    rolled = BatchLine.objects.get(batch=nxt, rolled_from=lines[0])
    with pytest.raises(ConflictError, match="locked"):
        services.line_prepare(line=rolled, actor=STAFF)


def test_bulk_prepare_reports_what_it_cannot_do_and_refuses_other_organizations_ids(
    locked, org_a, org_b
):
    _batch, lines = locked
    pay(lines[0])
    pay(lines[1])
    services.line_prepare(line=lines[1], actor=STAFF)
    report = services.lines_prepare(
        organization=org_a, line_ids=[line.pk for line in lines[:3]], actor=STAFF
    )
    assert report.done == [lines[0].pk]
    assert set(report.refused) == {lines[1].pk, lines[2].pk}
    assert "paid" in report.refused[lines[2].pk]
    with pytest.raises(ApplicationError) as error:
        services.lines_prepare(organization=org_b, line_ids=[lines[3].pk], actor=STAFF)
    assert error.value.status == 404
    assert status(lines[3]) == "awaiting_payment"


def test_a_mistyped_code_is_refused(locked, org_a):
    _batch, lines = locked
    code = line_code(lines[0].pk)
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    with pytest.raises(ApplicationError) as error:
        services.line_prepare_code(organization=org_a, code=wrong, actor=STAFF)
    assert error.value.status == 400


def test_a_code_scanned_while_packing_another_batch_is_refused(locked, org_a):
    """The packing room scans a box of the next batch on this batch's pile."""
    batch, lines = locked
    other = services.batch_open_next(organization=org_a)
    stray = BatchLine.objects.create(
        organization=org_a,
        batch=other,
        subscription=lines[0].subscription,
        customer=lines[0].customer,
        cycle=99,
    )

    with pytest.raises(ConflictError) as error:
        services.line_prepare_code(organization=org_a, code=stray.code, actor=STAFF, batch=batch)

    assert error.value.message.startswith(f"Line {stray.code} is in the batch of ")
    assert error.value.message.endswith(", not this one: nothing was changed.")
    stray.refresh_from_db()
    assert stray.status == BatchLine.Status.AWAITING_PAYMENT


def test_a_canceled_batch_leaves_its_cycles_to_the_next_one(org_a):
    billing_settings(org_a)
    batch = open_batch(org_a, CUTOFF)
    subscription = SubscriptionFactory(
        customer__organization=org_a,
        status="active",
        billing_period="week",
        billing_anchor=CUTOFF - timedelta(days=9),
    )
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()
        services.batch_cancel(batch=batch, actor=STAFF)  # closed this week
    nxt = Batch.objects.get(organization=org_a, status="open")
    assert nxt.starts_at == batch.starts_at
    services.lock_due_batches(now=nxt.cutoff_at + timedelta(minutes=1))
    cycles = sorted(nxt.lines.values_list("cycle", flat=True))
    assert cycles == [1, 2]  # last week's box and this week's
    assert set(nxt.lines.values_list("subscription_id", flat=True)) == {subscription.pk}
