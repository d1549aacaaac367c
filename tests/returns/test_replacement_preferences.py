"""A replacement box carries the preferences of the box it replaces, everywhere the packing
room reads them: the batch's preview, the pick list and the packing slips, open and locked.

The subscriber changes their grind after the first box shipped: the replacement is the
first box again (espresso), their next cycle's box follows the change (filter).
"""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.urls import reverse

from core.actors import Actor
from crm.models import Membership
from fulfillment import services as fulfillment
from fulfillment.models import Batch, BatchLine
from preferences.services import preferences_update
from returns import services
from subscriptions import renewals
from subscriptions.models import Subscription
from tests.factories import (
    AddressFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    coffee_schema,
    member,
    open_batch,
)

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris
AFTER = CUTOFF + timedelta(days=3)  # the customer reports the damaged box
ORIGINAL = {"grind": "espresso", "roast": "dark", "decaf": False}
ORIGINAL_TEXT = "Grind: Espresso, Roast: Dark, Decaf: No"
CHANGED_TEXT = "Grind: Filter, Roast: Dark, Decaf: No"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _set(subscription, values):
    preferences_update(
        subscription=subscription, values=values, actor=Actor.system(), source="system"
    )


@pytest.fixture
def replacement(org_a):
    """The original box locked with espresso, shipped and delivered; the grind changed to
    filter afterwards; the case resolved by a replacement in the open batch."""
    billing_settings(org_a, gateway="test")
    coffee_schema(org_a)
    coffee = ProductFactory(organization=org_a, sku="COF-1", name="Ethiopia")
    batch = open_batch(org_a, CUTOFF)
    actor = Actor.system("warehouse")
    with time_machine.travel(CUTOFF - timedelta(days=3), tick=False):
        subscription = SubscriptionFactory(
            customer__organization=org_a,
            customer__first_name="Alice",
            status="active",
            billing_period="week",
            billing_anchor=CUTOFF - timedelta(days=9),
            items=[(coffee, 1)],
        )
        address = AddressFactory(customer=subscription.customer)
        Subscription.objects.filter(pk=subscription.pk).update(shipping_address=address)
        _set(subscription, ORIGINAL)
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()
    fulfillment.batch_lock(batch=batch, actor=actor, now=CUTOFF + timedelta(minutes=1))
    original = batch.lines.get(subscription=subscription)
    fulfillment.line_prepare(line=original, actor=actor)
    fulfillment.batch_dispatch(batch=batch, actor=actor, now=CUTOFF + timedelta(days=1))
    shipment = batch.shipments.get()
    fulfillment.shipment_transition(
        shipment=shipment, action="deliver", actor=actor, at=CUTOFF + timedelta(days=2)
    )
    with time_machine.travel(AFTER, tick=False):
        _set(subscription, {"grind": "filter"})
        desk = Actor.system("after-sales")
        case = services.return_open(
            organization=org_a, shipment=shipment, reason="damaged", actor=desk
        )
        services.return_approve(case=case, actor=desk)
        services.return_resolve(case=case, actor=desk, resolution="replacement")
    case.refresh_from_db()
    original.refresh_from_db()
    return case.replacement_line, original


def _pick_list(client, batch) -> list[dict[str, str]]:
    url = reverse("fulfillment:batch-export", args=[batch.pk, "pick-list.csv"])
    text = client.get(url, **EN).content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def _slips(client, batch) -> list[str]:
    url = reverse("fulfillment:batch-export", args=[batch.pk, "packing-slips.html"])
    html = unescape(client.get(url, **EN).content.decode())
    return [re.sub(r"<[^>]+>", " ", slip) for slip in html.split('<article class="slip">')[1:]]


def _slip_says(slip: str, label: str, value: str) -> bool:
    return re.search(rf"{label}\s+{value}", slip) is not None


def test_the_replacement_line_keeps_the_original_boxs_preferences(replacement):
    line, original = replacement

    assert original.preferences == ORIGINAL
    assert line.kind == BatchLine.Kind.REPLACEMENT
    assert line.preferences == ORIGINAL


def test_preview_pick_list_and_slip_carry_them_while_open_and_once_locked(
    org_a, replacement, admin_client_for
):
    line, _original = replacement
    batch = line.batch
    client = admin_client_for(member(org_a, Membership.Role.STAFF))

    with time_machine.travel(batch.cutoff_at - timedelta(hours=1), tick=False):
        page = client.get(reverse("admin:fulfillment_batch_change", args=[batch.pk]), **EN)
        open_rows = _pick_list(client, batch)
        open_slips = _slips(client, batch)

    # The preview: the replacement (marked so) with espresso, the next cycle with filter.
    rows = page.context["preview"]["rows"]
    assert sorted((row["replacement"], row["preferences"]) for row in rows) == [
        ("", CHANGED_TEXT),
        ("Replacement", ORIGINAL_TEXT),
    ]
    # The pick list: the replacement's row has the grind.
    replaced = [row for row in open_rows if "Replacement" in row["Status"]]
    assert [(row["Grind"], row["Roast"], row["Decaf"]) for row in replaced] == [
        ("Espresso", "Dark", "No")
    ]
    # The packing slip: a preferences block.
    slip = next(slip for slip in open_slips if "Replacement" in slip)
    assert "Preferences" in slip
    assert _slip_says(slip, "Grind", "Espresso")
    assert _slip_says(slip, "Roast", "Dark")

    with time_machine.travel(batch.cutoff_at + timedelta(minutes=1), tick=False):
        fulfillment.lock_due_batches()
        locked_rows = _pick_list(client, batch)
        locked_slips = _slips(client, batch)

    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.LOCKED
    replaced = [row for row in locked_rows if "Replacement" in row["Status"]]
    assert [(row["Code"], row["Grind"]) for row in replaced] == [(line.code, "Espresso")]
    cycle_rows = [row for row in locked_rows if "Replacement" not in row["Status"]]
    assert [row["Grind"] for row in cycle_rows] == ["Filter"]
    slip = next(slip for slip in locked_slips if line.code in slip)
    assert _slip_says(slip, "Grind", "Espresso")
