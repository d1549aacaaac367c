"""Locking a batch before its cut-off: the preview promises exactly what the lock freezes.

Given an open batch with boxes whose cycle started before now and boxes whose cycle starts
between now and the scheduled cut-off, the preview (batch page, API, exports, dashboard)
counts the first as what locking now freezes and the second as moving to the next batch;
the lock's confirmation says both numbers; locking early freezes exactly the first, and
the second ship with the next batch.
"""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Membership
from fulfillment import exports
from fulfillment.models import Batch, BatchLine
from fulfillment.services import lock_due_batches
from fulfillment.snapshots import open_batch_preview
from subscriptions import renewals
from tests.dashboard.test_dashboard import figures
from tests.factories import (
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    coffee_schema,
    member,
    open_batch,
)

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris
NOW = CUTOFF - timedelta(hours=5)  # staff lock on Wednesday morning
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
FR = {"HTTP_ACCEPT_LANGUAGE": "fr"}


def weekly_starting(org, cycle_starts_at, name, product):
    """A weekly subscriber whose cycle 1 starts at `cycle_starts_at`."""
    return SubscriptionFactory(
        customer__organization=org,
        customer__first_name=name,
        customer__email=f"{name.lower()}@example.com",
        status="active",
        billing_period="week",
        billing_anchor=cycle_starts_at - timedelta(days=7),
        items=[(product, 1)],
    )


@pytest.fixture
def week(org_a):
    """An open batch: Alice's cycle (charged, paid) and Bob's (not charged yet) started
    before NOW; Carol's and Dave's start between NOW and the cut-off."""
    billing_settings(org_a)
    coffee_schema(org_a)
    product = ProductFactory(organization=org_a, sku="COF-1", name="Ethiopia")
    batch = open_batch(org_a, CUTOFF)
    with time_machine.travel(CUTOFF - timedelta(days=3), tick=False):
        subs = {
            "alice": weekly_starting(org_a, CUTOFF - timedelta(days=2), "Alice", product),
            "bob": weekly_starting(org_a, NOW - timedelta(hours=1), "Bob", product),
            # Exactly now: a lock now makes now the cut-off, and a cycle starting at a
            # cut-off belongs to the next batch.
            "carol": weekly_starting(org_a, NOW, "Carol", product),
            "dave": weekly_starting(org_a, CUTOFF - timedelta(minutes=1), "Dave", product),
        }
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()  # Alice's cycle 1 is charged and paid; the others' are not due yet
    return batch, subs


def lock_url_of(batch):
    return f"/admin/fulfillment/batch/{batch.pk}/transition/lock/"


def sub_ids(subs, *names):
    return {subs[name].pk for name in names}


def test_the_preview_splits_what_a_lock_now_freezes_from_what_moves_to_the_next_batch(week):
    batch, subs = week

    preview = open_batch_preview(batch=batch, now=NOW)
    at_cutoff = open_batch_preview(batch=batch, now=CUTOFF)

    assert {box.subscription_id for box in preview.boxes} == sub_ids(subs, "alice", "bob")
    assert preview.paid == 1
    assert {cycle.subscription_id for cycle in preview.later} == sub_ids(subs, "carol", "dave")
    # At (or after) the cut-off nothing is left to move: every box due is frozen.
    assert {box.subscription_id for box in at_cutoff.boxes} == sub_ids(
        subs, "alice", "bob", "carol", "dave"
    )
    assert at_cutoff.later == []


def test_lock_early_after_reading_the_two_numbers_holds_exactly_the_promised_boxes(
    org_a, week, admin_client_for, api_client_for
):
    batch, subs = week
    client = admin_client_for(member(org_a, Membership.Role.STAFF))
    page_url = reverse("admin:fulfillment_batch_change", args=[batch.pk])
    lock_url = lock_url_of(batch)

    with time_machine.travel(NOW, tick=False):
        page = client.get(page_url, **EN)
        confirm = client.get(lock_url, **EN)
        api = api_client_for(org_a).get(f"/api/v1/batches/{batch.pk}")
        locked = client.post(lock_url, follow=True, **EN)

    # The page's two numbers.
    text = unescape(re.sub(r"\s+", " ", page.content.decode()))
    assert "2 boxes due as things stand now (1 paid): what locking the batch now would freeze." in (
        text
    )
    assert "2 more boxes are due before the cut-off (" in text
    assert "locking the batch now would move them to the next batch" in text
    assert "Locked at its cut-off, the batch would hold 4 boxes." in text
    later_rows = page.context["preview"]["later_rows"]
    assert {row["subscription_id"] for row in later_rows} == sub_ids(subs, "carol", "dave")
    # The confirmation says both.
    question = unescape(confirm.content.decode())
    assert "Locking now freezes 2 boxes (1 paid)" in question
    assert "2 boxes due before the cut-off move to the next batch" in question
    # The API says the same.
    assert api.status_code == 200
    body = api.json()["preview"]
    assert (body["boxes"], body["paid"], body["moved_if_locked_now"]) == (2, 1, 2)

    # Locked early: the batch holds exactly the promised boxes.
    assert locked.status_code == 200
    batch.refresh_from_db()
    assert (batch.status, batch.cutoff_at) == (Batch.Status.LOCKED, NOW)
    lines = set(batch.lines.values_list("subscription_id", "cycle"))
    assert lines == {(subs["alice"].pk, 1), (subs["bob"].pk, 1)}

    # The others are in the next batch.
    following = Batch.objects.get(organization=org_a, status=Batch.Status.OPEN)
    assert following.starts_at == NOW
    with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
        renewals.run()
        preview = open_batch_preview(batch=following)
        assert {box.subscription_id for box in preview.boxes} == sub_ids(subs, "carol", "dave")
    with time_machine.travel(following.cutoff_at + timedelta(minutes=1), tick=False):
        lock_due_batches()
    following.refresh_from_db()
    moved = set(following.lines.values_list("subscription_id", "cycle"))
    assert {(subs["carol"].pk, 1), (subs["dave"].pk, 1)} <= moved
    assert not BatchLine.objects.filter(
        subscription__in=[subs["carol"], subs["dave"]], batch=batch
    ).exists()


def test_the_confirmation_and_the_page_say_so_in_french(org_a, week, admin_client_for):
    batch, _subs = week
    client = admin_client_for(member(org_a, Membership.Role.STAFF))
    page_url = reverse("admin:fulfillment_batch_change", args=[batch.pk])

    with time_machine.travel(NOW, tick=False):
        page = unescape(client.get(page_url, **FR).content.decode())
        confirm = unescape(client.get(lock_url_of(batch), **FR).content.decode())

    assert "Dus avant la clôture, reportés au lot suivant si verrouillé maintenant" in page
    assert "2 autres colis sont dus avant la clôture" in page
    assert "Verrouiller maintenant fige 2 colis (1 payé)" in confirm
    assert "2 colis dus avant la clôture passent au lot suivant" in confirm


def test_past_the_cut_off_nothing_moves_and_the_confirmation_says_so(org_a, week, admin_client_for):
    batch, _subs = week
    client = admin_client_for(member(org_a, Membership.Role.STAFF))
    page_url = reverse("admin:fulfillment_batch_change", args=[batch.pk])

    with time_machine.travel(CUTOFF + timedelta(seconds=30), tick=False):
        page = client.get(page_url, **EN)
        confirm = unescape(client.get(lock_url_of(batch), **EN).content.decode())

    assert page.context["preview"]["later"] == 0
    assert "preview-later-boxes" not in page.content.decode()
    assert "has passed: the batch freezes 4 boxes (1 paid), as they stood at the cut-off" in (
        confirm
    )


def test_the_exports_and_the_dashboard_count_what_a_lock_now_freezes(org_a, week, admin_client_for):
    batch, subs = week
    client = admin_client_for(member(org_a, Membership.Role.STAFF))

    with time_machine.travel(NOW, tick=False):
        content = exports.batch_content(batch=batch)
        pick = client.get(
            reverse("fulfillment:batch-export", args=[batch.pk, "pick-list.html"]), **EN
        )
        home = client.get(reverse("admin:index"), **EN)

    assert {parcel.subscription_id for parcel in content.parcels} == sub_ids(subs, "alice", "bob")
    assert content.later == 2
    assert "2 more boxes due before the cut-off are not in it" in unescape(pick.content.decode())
    card = home.content.decode()
    card = card[card.index('id="dashboard-batch"') :]
    shown = figures(card[: card.index("</section>")])
    assert shown["Boxes due"].value == "2"
    assert shown["Due later, before the cut-off"].value == "2"


def test_the_preview_reads_in_a_number_of_queries_that_does_not_grow_with_the_boxes(
    org_a, week, django_assert_num_queries
):
    batch, _subs = week
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as few:
        small = open_batch_preview(batch=batch)
    product = ProductFactory(organization=org_a)
    with time_machine.travel(CUTOFF - timedelta(days=3), tick=False):
        for index in range(20):
            starts = NOW - timedelta(hours=2) if index % 2 else NOW + timedelta(hours=2)
            weekly_starting(org_a, starts, f"Many{index}", product)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(len(few)):
        large = open_batch_preview(batch=batch)
    assert (len(large.boxes), len(large.later)) == (len(small.boxes) + 10, len(small.later) + 10)
