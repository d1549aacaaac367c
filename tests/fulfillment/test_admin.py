"""The fulfillment pages of the back office: cut-off settings, the batch list and a batch's page.

Organization A ("Purea Café") is the members'; organization B is someone else's.
"""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.formats import date_format

from core.actors import Actor
from core.errors import ApplicationError
from crm.models import Membership
from fulfillment.admin import EXPORTS
from fulfillment.models import Batch, BatchLine, FulfillmentSettings, Shipment
from fulfillment.services import (
    batch_complete,
    batch_dispatch,
    batch_lock,
    line_prepare,
    lock_due_batches,
)
from preferences.services import preferences_update
from subscriptions import renewals
from tests.factories import (
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    coffee_schema,
    member,
    open_batch,
)
from tests.helpers import messages_of, transitions_offered

pytestmark = pytest.mark.django_db

Role = Membership.Role
SETTINGS = "/admin/fulfillment/fulfillmentsettings/"
BATCHES = "/admin/fulfillment/batch/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def local(instant, organization):
    with translation.override("en"):
        return formats.date_format(
            timezone.localtime(instant, organization.tzinfo), "DATETIME_FORMAT"
        )


@pytest.fixture
def settings_a(org_a):
    return FulfillmentSettings.objects.create(organization=org_a)


def test_the_cutoff_is_changed_by_the_organizations_administrators(
    admin_client_for, staff_user_a, org_a, settings_a
):
    org_admin = admin_client_for(member(org_a, Role.ADMIN))
    change = {
        "cutoff_weekday": "4",
        "cutoff_time": "18:30",
        "shipping_offset_days": "2",
        "unpaid_lines": "exclude",
    }

    refused = admin_client_for(staff_user_a).post(f"{SETTINGS}{settings_a.pk}/change/", change)
    saved = org_admin.post(f"{SETTINGS}{settings_a.pk}/change/", change)

    assert refused.status_code == 403
    assert saved.status_code == 302
    settings_a.refresh_from_db()
    assert (settings_a.cutoff_weekday, settings_a.cutoff_time) == (4, time(18, 30))
    assert (settings_a.shipping_offset_days, settings_a.unpaid_lines) == (2, "exclude")


def test_the_settings_page_says_times_are_in_the_organizations_time_zone(
    admin_client_for, org_a, settings_a
):
    org_a.timezone = "Pacific/Auckland"
    org_a.save()
    viewer = admin_client_for(member(org_a, Role.VIEWER))

    page = viewer.get(f"{SETTINGS}{settings_a.pk}/change/", **EN)
    listing = viewer.get(SETTINGS, **EN)

    content = page.content.decode()
    assert page.status_code == 200
    assert "The cut-off weekday and time are in the organization's time zone" in content
    assert "Pacific/Auckland" in content
    next_cutoff = FulfillmentSettings.objects.get(pk=settings_a.pk).next_cutoff(timezone.now())
    assert local(next_cutoff, org_a) in content
    assert "Wednesday 12:00 (Pacific/Auckland)" in listing.content.decode()


def test_another_organizations_settings_are_not_listed_nor_found(
    admin_client_for, org_a, org_b, settings_a
):
    theirs = FulfillmentSettings.objects.create(organization=org_b, cutoff_weekday=0)
    org_admin = admin_client_for(member(org_a, Role.ADMIN))

    listing = org_admin.get(SETTINGS)
    add = org_admin.get(f"{SETTINGS}add/")

    assert list(listing.context["cl"].result_list) == [settings_a]
    assert org_admin.get(f"{SETTINGS}{theirs.pk}/change/").status_code == 404
    assert org_admin.post(
        f"{SETTINGS}{theirs.pk}/change/", {"cutoff_weekday": "3"}
    ).status_code == (404)
    assert list(add.context["adminform"].form.fields["organization"].queryset) == [org_a]
    theirs.refresh_from_db()
    assert theirs.cutoff_weekday == 0


def test_an_organization_has_one_settings_row_never_deleted(admin_client_for, org_a, settings_a):
    org_admin = admin_client_for(member(org_a, Role.ADMIN))

    second = org_admin.post(
        f"{SETTINGS}add/",
        {
            "organization": org_a.pk,
            "cutoff_weekday": "1",
            "cutoff_time": "10:00",
            "shipping_offset_days": "1",
            "unpaid_lines": "roll",
        },
    )
    deleted = org_admin.post(f"{SETTINGS}{settings_a.pk}/delete/", {"post": "yes"})

    assert second.status_code == 200
    assert "organization" in second.context["adminform"].form.errors
    assert deleted.status_code == 403
    assert list(FulfillmentSettings.objects.filter(organization=org_a)) == [settings_a]


def test_batches_are_listed_read_only_with_the_cutoff_in_the_organizations_time(
    admin_client_for, staff_user_a, org_a, org_b
):
    org_a.timezone = "America/New_York"
    org_a.save()
    cutoff = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # 12:00 in New York
    mine = open_batch(org_a, cutoff)
    theirs = open_batch(org_b, cutoff)
    client = admin_client_for(staff_user_a)

    listing = client.get(BATCHES, **EN)
    detail = client.get(f"{BATCHES}{mine.pk}/change/", **EN)
    refused = client.post(f"{BATCHES}{mine.pk}/change/", {"status": "canceled"})

    assert list(listing.context["cl"].result_list) == [mine]
    assert local(cutoff, org_a) in listing.content.decode()
    assert "Dec. 2, 2026, noon" in listing.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert refused.status_code == 403
    assert client.get(f"{BATCHES}add/").status_code == 403
    assert client.get(f"{BATCHES}{theirs.pk}/change/").status_code == 404
    mine.refresh_from_db()
    assert mine.status == Batch.Status.OPEN


# --- A batch's page: its buttons, preview, plan and scanner ---------------------------

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris
BEFORE = CUTOFF - timedelta(days=1)
#: After both cycles of `due` have started: locking now would freeze both.
NEAR = CUTOFF - timedelta(hours=1)


def batch_url(batch, suffix="change/"):
    return f"{BATCHES}{batch.pk}/{suffix}"


def transition_url(batch, name):
    return batch_url(batch, f"transition/{name}/")


def refusal(service, user, **kwargs):
    """What the service refuses with, in English: the page must show the same."""
    with (
        translation.override("en"),
        pytest.raises(ApplicationError) as refused,
        transaction.atomic(),
    ):
        service(actor=Actor.for_user(user), **kwargs)
    return refused.value.message


def state(batch):
    batch = Batch.objects.get(pk=batch.pk)
    return (
        batch.status,
        batch.updated_at,
        batch.cutoff_at,
        sorted(BatchLine.objects.filter(batch=batch).values_list("pk", "status")),
        Batch.objects.filter(organization_id=batch.organization_id).count(),
    )


def weekly(org, anchor, items, **kwargs):
    return SubscriptionFactory(
        customer__organization=org,
        status="active",
        billing_period="week",
        billing_anchor=anchor,
        items=items,
        **kwargs,
    )


@pytest.fixture
def coffee(org_a):
    return ProductFactory(organization=org_a, sku="COF-1", name="Ethiopia", net_weight_grams=250)


@pytest.fixture
def due(org_a, coffee):
    """An open batch with two boxes due: Alice's paid, Bob's charge not attempted yet."""
    billing_settings(org_a)
    coffee_schema(org_a)
    batch = open_batch(org_a, CUTOFF)
    with time_machine.travel(CUTOFF - timedelta(days=3), tick=False):
        alice = weekly(
            org_a,
            CUTOFF - timedelta(days=9),  # cycle 1 charged two days before the cut-off
            [(coffee, 2)],
            customer__first_name="Alice",
            customer__last_name="Martin",
            customer__email="alice@example.com",
        )
        bob = weekly(
            org_a,
            CUTOFF - timedelta(days=7, hours=12),  # cycle 1 charged 12 hours before
            [(coffee, 1)],
            customer__first_name="Bob",
            customer__last_name="Durand",
            customer__email="bob@example.com",
        )
        for subscription, grind in ((alice, "espresso"), (bob, "filter")):
            preferences_update(
                subscription=subscription,
                values={"grind": grind, "decaf": subscription is bob},
                actor=Actor.system(),
                source="system",
            )
    with time_machine.travel(BEFORE, tick=False):
        renewals.run()
    return batch, alice, bob


def test_an_open_batch_shows_a_live_preview_and_its_production_plan(
    admin_client_for, staff_user_a, due
):
    batch, alice, bob = due

    with time_machine.travel(NEAR, tick=False):
        page = admin_client_for(staff_user_a).get(batch_url(batch), **EN)

    content = page.content.decode()
    assert page.status_code == 200
    assert page.context["preview"]["total"] == 2
    assert page.context["preview"]["later"] == 0
    assert "No other box is due before the cut-off" in content
    rows = {row["subscription_id"]: row for row in page.context["preview"]["rows"]}
    assert rows[alice.pk]["customer"] == "Alice Martin <alice@example.com>"
    assert rows[alice.pk]["items"] == "2 x Ethiopia"
    assert rows[alice.pk]["preferences"] == "Grind: Espresso, Decaf: No"
    assert rows[alice.pk]["paid"] is True
    assert rows[bob.pk]["preferences"] == "Grind: Filter, Decaf: Yes"
    assert rows[bob.pk]["paid"] is False
    assert "Alice Martin &lt;alice@example.com&gt;" in content
    assert "Awaiting payment" in content
    plan = page.context["plan"]
    assert plan["products"] == [
        {"product": "Ethiopia", "sku": "COF-1", "boxes": 2, "quantity": 3, "kilograms": "0.750"}
    ]
    by_value = {
        (row["field"], row["value"]): (row["quantity"], row["kilograms"]) for row in plan["details"]
    }
    assert by_value[("Grind", "Espresso")] == (2, "0.500")
    assert by_value[("Grind", "Filter")] == (1, "0.250")
    assert by_value[("Decaf", "Yes")] == (1, "0.250")
    assert "Production plan (live)" in content
    # Staff of the organization may lock or cancel it; nothing to scan yet.
    assert transitions_offered(page) == ["cancel", "lock"]
    assert 'id="scan-form"' not in content


def test_the_preview_lists_the_first_boxes_and_counts_the_rest(
    admin_client_for, staff_user_a, due, monkeypatch
):
    batch, _alice, _bob = due
    monkeypatch.setattr("fulfillment.admin.batch_page.PREVIEW_ROWS", 1)

    with time_machine.travel(NEAR, tick=False):
        page = admin_client_for(staff_user_a).get(batch_url(batch), **EN)

    assert len(page.context["preview"]["rows"]) == 1
    assert "And 1 more box." in page.content.decode()


def test_locking_from_the_page_freezes_the_batch_through_the_service(
    admin_client_for, staff_user_a, org_a, due
):
    batch, alice, _bob = due

    with time_machine.travel(BEFORE, tick=False):
        client = admin_client_for(staff_user_a)
        confirm = client.get(transition_url(batch, "lock"), **EN)
        locked = client.post(transition_url(batch, "lock"), follow=True, **EN)

    assert confirm.status_code == 200
    assert "changes made from now on count for the next batch" in confirm.content.decode()
    assert locked.redirect_chain[-1][0] == batch_url(batch)
    assert messages_of(locked) == ["The batch is locked: 1 line."]
    batch.refresh_from_db()
    assert batch.status == Batch.Status.LOCKED
    assert batch.cutoff_at == BEFORE  # locked early: its cut-off is now
    # Bob's cycle starts after this new cut-off: it ships with the next batch.
    lines = dict(BatchLine.objects.filter(batch=batch).values_list("subscription_id", "status"))
    assert lines == {alice.pk: "ready"}
    assert Batch.objects.filter(organization=org_a, status="open").count() == 1


@pytest.fixture
def locked(due):
    """Due's batch locked at its cut-off: Alice's line ready, Bob's awaiting payment."""
    batch, alice, bob = due
    with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
        lock_due_batches()
    lines = {line.subscription_id: line for line in BatchLine.objects.filter(batch=batch)}
    return batch, lines[alice.pk], lines[bob.pk]


def test_a_locked_batch_shows_its_lines_by_status_its_plan_and_the_scanner(
    admin_client_for, staff_user_a, locked
):
    batch, _alice_line, _bob_line = locked

    page = admin_client_for(staff_user_a).get(batch_url(batch), **EN)

    content = page.content.decode()
    counts = {row["status"]: row["count"] for row in page.context["line_counts"]}
    assert counts == {
        "awaiting_payment": 1,
        "ready": 1,
        "prepared": 0,
        "shipped": 0,
        "excluded": 0,
        "rolled": 0,
    }
    assert "preview" not in page.context
    assert page.context["plan"]["products"][0]["quantity"] == 3
    assert f"/admin/fulfillment/batchline/?batch__id__exact={batch.pk}" in content
    assert transitions_offered(page) == ["dispatch"]
    assert re.search(r'<input type="text" name="code"[^>]*autofocus', content)


def test_the_exports_are_linked_when_they_exist(admin_client_for, staff_user_a, org_a):
    batch = open_batch(org_a, CUTOFF)

    page = admin_client_for(staff_user_a).get(batch_url(batch), **EN)

    try:
        expected = [
            reverse("fulfillment:batch-export", kwargs={"pk": batch.pk, "kind": kind})
            for kind, _label in EXPORTS
        ]
    except NoReverseMatch:
        expected = []
    assert [export["url"] for export in page.context["exports"]] == expected
    for url in expected:
        assert url in page.content.decode()


def test_scanning_a_ready_line_marks_it_prepared(admin_client_for, staff_user_a, locked):
    batch, alice_line, _bob_line = locked

    response = admin_client_for(staff_user_a).post(
        batch_url(batch, "scan/"), {"code": alice_line.code}, follow=True, **EN
    )

    assert response.redirect_chain[-1][0] == batch_url(batch)
    assert messages_of(response) == [
        f"Line {alice_line.code} prepared: Alice Martin <alice@example.com>"
    ]
    alice_line.refresh_from_db()
    assert alice_line.status == BatchLine.Status.PREPARED
    assert alice_line.prepared_by == staff_user_a


def test_scanning_an_unpaid_or_unknown_line_says_why_and_changes_nothing(
    admin_client_for, staff_user_a, org_a, locked
):
    batch, alice_line, bob_line = locked
    client = admin_client_for(staff_user_a)
    before = state(batch)
    wrong_digit = alice_line.code[:-1] + str((int(alice_line.code[-1]) + 1) % 10)
    other = Batch.objects.get(organization=org_a, status="open")  # the next one
    elsewhere = BatchLine.objects.create(
        organization=org_a,
        batch=other,
        subscription=alice_line.subscription,
        customer=alice_line.customer,
        cycle=99,
    )

    unpaid = client.post(batch_url(batch, "scan/"), {"code": bob_line.code}, follow=True, **EN)
    mistyped = client.post(batch_url(batch, "scan/"), {"code": wrong_digit}, follow=True, **EN)
    empty = client.post(batch_url(batch, "scan/"), {"code": ""}, follow=True, **EN)
    wrong_pile = client.post(batch_url(batch, "scan/"), {"code": elsewhere.code}, follow=True, **EN)

    assert messages_of(unpaid) == [f"Line {bob_line.code} is not paid yet: it cannot be prepared."]
    assert messages_of(mistyped) == [f"No line has the code {wrong_digit} in this organization."]
    assert messages_of(empty) == ["Scan or type a line code."]
    assert messages_of(wrong_pile) == [
        f"Line {elsewhere.code} is in the batch of {date_format(other.cycle_date)}, not this "
        "one: nothing was changed."
    ]
    assert state(batch) == before
    elsewhere.refresh_from_db()
    assert elsewhere.status == BatchLine.Status.AWAITING_PAYMENT


def test_dispatch_asks_the_carrier_proposing_the_default_one(
    admin_client_for, staff_user_a, org_a, locked
):
    batch, alice_line, bob_line = locked
    FulfillmentSettings.objects.create(organization=org_a, default_carrier="Colissimo")
    line_prepare(line=alice_line, actor=Actor.system())
    client = admin_client_for(staff_user_a)

    form = client.get(transition_url(batch, "dispatch"), **EN)
    dispatched = client.post(
        transition_url(batch, "dispatch"), {"carrier": "Chronopost"}, follow=True, **EN
    )

    assert form.context["transition_form"]["carrier"].value() == "Colissimo"
    assert "Lines still unpaid: roll to the next batch." in form.content.decode()
    assert messages_of(dispatched) == [
        "The batch is dispatched: 1 shipment created, 1 line rolled to the next batch, "
        "0 lines excluded."
    ]
    batch.refresh_from_db()
    assert batch.status == Batch.Status.DISPATCHED
    shipment = Shipment.objects.get(batch=batch)
    assert (shipment.line_id, shipment.carrier) == (alice_line.pk, "Chronopost")
    bob_line.refresh_from_db()
    assert bob_line.status == BatchLine.Status.ROLLED
    assert transitions_offered(dispatched) == ["complete"]
    assert f"/admin/fulfillment/shipment/?batch__id__exact={batch.pk}" in (
        dispatched.content.decode()
    )


def test_completing_is_refused_while_a_shipment_is_open_and_changes_nothing(
    admin_client_for, staff_user_a, org_a, locked
):
    batch, alice_line, _bob_line = locked
    line_prepare(line=alice_line, actor=Actor.system())
    batch_dispatch(batch=batch, actor=Actor.system())
    before = state(batch)
    expected = refusal(batch_complete, staff_user_a, batch=batch)

    refused = admin_client_for(staff_user_a).post(
        transition_url(batch, "complete"), follow=True, **EN
    )

    assert expected == (
        "1 shipment is not delivered, returned or lost yet: close it before completing the batch."
    )
    assert messages_of(refused) == [expected]
    assert state(batch) == before


def test_a_dispatched_batch_with_nothing_left_open_is_completed(
    admin_client_for, staff_user_a, org_a
):
    batch = open_batch(org_a, CUTOFF, status="dispatched")

    response = admin_client_for(staff_user_a).post(
        transition_url(batch, "complete"), follow=True, **EN
    )

    assert messages_of(response) == ["The batch is completed."]
    batch.refresh_from_db()
    assert batch.status == Batch.Status.COMPLETED
    assert batch.completed_at is not None


def test_canceling_an_open_batch_opens_the_next_one(admin_client_for, staff_user_a, org_a):
    batch = open_batch(org_a, CUTOFF)

    response = admin_client_for(staff_user_a).post(
        transition_url(batch, "cancel"), follow=True, **EN
    )

    assert messages_of(response) == ["The batch is canceled: its cycles ship with the next batch."]
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELED
    following = Batch.objects.get(organization=org_a, status="open")
    assert following.starts_at == batch.starts_at


def test_a_refused_transition_shows_the_services_error_and_changes_nothing(
    admin_client_for, staff_user_a, org_a
):
    batch = open_batch(org_a, CUTOFF, status="locked")
    before = state(batch)
    expected = refusal(batch_lock, staff_user_a, batch=batch)
    client = admin_client_for(staff_user_a)

    posted = client.post(transition_url(batch, "lock"), follow=True, **EN)
    opened = client.get(transition_url(batch, "cancel"), follow=True, **EN)

    assert expected == "This batch is locked: it cannot be locked."
    assert messages_of(posted) == [expected]
    assert messages_of(opened) == ["“Cancel” is not possible now: the batch is locked."]
    assert state(batch) == before
    assert client.get(transition_url(batch, "delete")).status_code == 404


def test_a_viewer_sees_no_button_and_cannot_act(admin_client_for, org_a, locked):
    batch, alice_line, _bob_line = locked
    viewer = admin_client_for(member(org_a, Role.VIEWER))
    before = state(batch)

    page = viewer.get(batch_url(batch))

    assert page.status_code == 200
    assert transitions_offered(page) == []
    assert 'id="scan-form"' not in page.content.decode()
    assert viewer.get(transition_url(batch, "dispatch")).status_code == 403
    assert viewer.post(transition_url(batch, "dispatch"), {"carrier": "X"}).status_code == 403
    assert viewer.post(batch_url(batch, "scan/"), {"code": alice_line.code}).status_code == 403
    assert state(batch) == before


def test_another_organizations_batch_cannot_be_seen_nor_acted_on(
    admin_client_for, staff_user_b, locked
):
    batch, alice_line, _bob_line = locked
    client = admin_client_for(staff_user_b)
    before = state(batch)

    for url in (batch_url(batch), transition_url(batch, "dispatch"), batch_url(batch, "scan/")):
        assert client.get(url).status_code == 404, url
    assert client.post(transition_url(batch, "dispatch"), {"carrier": "X"}).status_code == 404
    assert client.post(batch_url(batch, "scan/"), {"code": alice_line.code}).status_code == 404
    assert list(client.get(BATCHES).context["cl"].result_list) == []
    assert state(batch) == before


def test_the_batch_list_counts_lines_by_status_in_a_bounded_number_of_queries(
    admin_client_for, staff_user_a, org_a, django_assert_max_num_queries
):
    subscription = SubscriptionFactory(customer__organization=org_a, status="active")

    def batches(count, start):
        for week in range(start, start + count):
            batch = open_batch(org_a, CUTOFF - timedelta(weeks=week), status="locked")
            for cycle, status in enumerate(["ready", "ready", "awaiting_payment"]):
                BatchLine.objects.create(
                    organization=org_a,
                    batch=batch,
                    subscription=subscription,
                    customer=subscription.customer,
                    cycle=week * 10 + cycle,
                    status=status,
                )

    batches(2, 0)
    client = admin_client_for(staff_user_a)
    client.get(BATCHES)  # warm the session and content types

    with django_assert_max_num_queries(10) as few:
        client.get(BATCHES)
    batches(8, 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(BATCHES, **EN)

    assert response.context["cl"].result_count == 10
    content = response.content.decode()
    assert content.count('data-status="ready">Ready: 2</a>') == 10
    assert content.count('data-status="awaiting_payment">Awaiting payment: 1</a>') == 10
