"""The fulfillment API: batches, lines, shipments and their actions, one organization at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from core.actors import Actor
from fulfillment import services
from fulfillment.models import Batch, BatchLine, FulfillmentSettings, Shipment, line_code
from preferences import services as preference_services
from preferences.models import PreferenceChoice, PreferenceField
from subscriptions import renewals
from tests.api_schema import own_responses
from tests.factories import (
    AddressFactory,
    CustomerFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    coffee_schema,
    open_batch,
)

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris
BEFORE_CUTOFF = CUTOFF - timedelta(days=1)
AFTER_CUTOFF = CUTOFF + timedelta(minutes=1)
STAFF = Actor.system("test")


# --- Given -----------------------------------------------------------------------------


@dataclass
class World:
    batch: Batch
    coffee: object
    mug: object
    alice: object  # paid, espresso, 2 coffees
    bob: object  # paid, beans (the default), 1 coffee and 1 mug
    carol: object  # not paid (her charge stays pending), 1 coffee

    def line(self, subscription) -> BatchLine:
        return BatchLine.objects.get(batch=self.batch, subscription=subscription)


def due(org, first_name, items, *, email=None):
    """A weekly subscriber whose cycle 1 starts Monday 30 November: due in the batch."""
    customer = CustomerFactory(
        organization=org,
        first_name=first_name,
        last_name="Martin",
        **({"email": email} if email else {}),
    )
    return SubscriptionFactory(
        customer=customer,
        status="active",
        billing_period="week",
        billing_anchor=CUTOFF - timedelta(days=9),
        shipping_address=AddressFactory(customer=customer, city="Lyon"),
        items=items,
    )


def world(org, *, lock=True) -> World:
    """Three subscribers due in the batch of 2 December; charged the day before its cut-off,
    and locked a minute after it unless `lock` is False."""
    billing_settings(org)
    coffee_schema(org)
    PreferenceField.objects.filter(organization=org, key="grind").update(labels={"fr": "Mouture"})
    PreferenceChoice.objects.filter(field__organization=org, value="espresso").update(
        labels={"fr": "Expresso"}
    )
    coffee = ProductFactory(organization=org, sku="ETH", name="Ethiopia", net_weight_grams=250)
    mug = ProductFactory(organization=org, sku="MUG", name="Mug")
    batch = open_batch(org, CUTOFF)
    alice = due(org, "Alice", [(coffee, 2)])
    bob = due(org, "Bob", [(coffee, 1), (mug, 1)])
    carol = due(org, "Carol", [(coffee, 1)], email=f"carol-{org.pk}+pending@example.com")
    with time_machine.travel(BEFORE_CUTOFF - timedelta(hours=1), tick=False):
        preference_services.preferences_update(
            subscription=alice, values={"grind": "espresso"}, actor=STAFF, source="system"
        )
    with time_machine.travel(BEFORE_CUTOFF, tick=False):
        renewals.run()
    if lock:
        with time_machine.travel(AFTER_CUTOFF, tick=False):
            services.lock_due_batches()
    batch.refresh_from_db()
    return World(batch, coffee, mug, alice, bob, carol)


@pytest.fixture
def locked(org_a) -> World:
    return world(org_a)


def prepared(w: World, *subscriptions) -> None:
    for subscription in subscriptions:
        services.line_prepare(line=w.line(subscription), actor=STAFF)


def dispatched(w: World) -> Batch:
    prepared(w, w.alice, w.bob)
    services.batch_dispatch(batch=w.batch, actor=STAFF, carrier="Colissimo")
    w.batch.refresh_from_db()
    return w.batch


def error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "extra"}
    return body


# --- Batches ---------------------------------------------------------------------------


def test_the_batch_list_counts_lines_per_status_and_never_shows_another_organization(
    api_client_a, locked, org_b
):
    prepared(locked, locked.alice)
    open_batch(org_b, CUTOFF)

    response = api_client_a.get("/api/v1/batches")

    assert response.status_code == 200
    rows = response.json()["results"]
    nxt = Batch.objects.get(organization=locked.batch.organization, status="open")
    assert [row["id"] for row in rows] == [nxt.pk, locked.batch.pk]
    row = rows[1]
    assert row["status"] == "locked"
    assert row["line_counts"] == {
        "awaiting_payment": 1,
        "ready": 1,
        "prepared": 1,
        "shipped": 0,
        "excluded": 0,
        "rolled": 0,
    }
    assert row["available_actions"] == ["dispatch"]
    assert row["preview"] is None  # only on a single batch
    assert row["cutoff_at"] == "2026-12-02T11:00:00Z"
    assert row["cycle_date"] == "2026-12-02"
    assert rows[0]["available_actions"] == ["lock", "cancel"]


def test_batches_filter_by_status_and_cycle_date(api_client_a, org_a):
    old = open_batch(org_a, CUTOFF - timedelta(days=7), status="completed")
    locked_batch = open_batch(org_a, CUTOFF, status="locked")
    current = open_batch(org_a, CUTOFF + timedelta(days=7))

    def ids(query):
        response = api_client_a.get(f"/api/v1/batches/?{query}")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids("status=open&status=locked") == [current.pk, locked_batch.pk]
    assert ids("cycle_date_after=2026-12-02") == [current.pk, locked_batch.pk]
    assert ids("cycle_date_before=2026-12-02") == [old.pk]
    assert ids("cycle_date_after=2026-11-25&cycle_date_before=2026-12-09") == [
        locked_batch.pk,
        old.pk,
    ]
    assert error(api_client_a.get("/api/v1/batches?status=shipped"), 400)["extra"]["fields"][
        "status"
    ]
    assert error(api_client_a.get("/api/v1/batches?cycle_date_after=soon"), 400)["extra"]["fields"]


def test_an_open_batch_shows_its_live_preview(api_client_a, org_a):
    w = world(org_a, lock=False)

    with time_machine.travel(BEFORE_CUTOFF + timedelta(hours=1), tick=False):
        response = api_client_a.get(f"/api/v1/batches/{w.batch.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "open"
    assert body["line_counts"]["ready"] == 0
    preview = body["preview"]
    assert (preview["boxes"], preview["paid"], preview["awaiting_payment"]) == (3, 2, 1)
    assert preview["as_of"] == "2026-12-01T12:00:00Z"
    assert preview["products"] == [
        {
            "product": w.coffee.pk,
            "sku": "ETH",
            "name": "Ethiopia",
            "quantity": 4,
            "kilograms": "1.000",
            "variants": [],
        },
        {
            "product": w.mug.pk,
            "sku": "MUG",
            "name": "Mug",
            "quantity": 1,
            "kilograms": None,
            "variants": [],
        },
    ]


def test_a_locked_batch_has_no_preview_but_its_counts(api_client_a, locked):
    body = api_client_a.get(f"/api/v1/batches/{locked.batch.pk}/").json()

    assert body["preview"] is None
    assert body["line_counts"]["ready"] == 2
    assert body["line_counts"]["awaiting_payment"] == 1
    assert body["locked_at"] == "2026-12-02T11:01:00Z"


def test_another_organizations_batch_is_not_found_everywhere(api_client_b, locked):
    pk = locked.batch.pk
    for method, path in [
        ("get", f"/api/v1/batches/{pk}"),
        ("get", f"/api/v1/batches/{pk}/lines"),
        ("get", f"/api/v1/batches/{pk}/production-plan"),
        ("post", f"/api/v1/batches/{pk}/lock"),
        ("post", f"/api/v1/batches/{pk}/dispatch"),
        ("post", f"/api/v1/batches/{pk}/complete"),
        ("post", f"/api/v1/batches/{pk}/cancel"),
    ]:
        response = getattr(api_client_b, method)(path)
        assert error(response, 404) == {"message": "Not found.", "extra": {}}, path
    assert api_client_b.get("/api/v1/batches").json()["count"] == 0
    locked.batch.refresh_from_db()
    assert locked.batch.status == "locked"


def test_without_a_key_the_api_answers_401(client, locked):
    response = client.get("/api/v1/batches")

    error(response, 401)


# --- A batch's lines -------------------------------------------------------------------


def test_a_line_shows_its_frozen_content_with_labels_in_the_readers_language(api_client_a, locked):
    line = locked.line(locked.alice)

    body = api_client_a.get(f"/api/v1/batch-lines/{line.pk}", HTTP_ACCEPT_LANGUAGE="fr").json()

    assert body["id"] == line.pk
    assert body["code"] == line_code(line.pk)
    assert body["batch"] == locked.batch.pk
    assert body["subscription"] == locked.alice.pk
    assert body["customer"]["id"] == locked.alice.customer_id
    assert body["customer"]["name"] == "Alice Martin"
    assert body["cycle"] == 1
    assert body["status"] == "ready"
    assert body["charge"] == {"id": line.charge_id, "status": "paid"}
    assert body["address"]["city"] == "Lyon"
    assert body["items"] == [
        {
            "product": locked.coffee.pk,
            "variant": None,
            "sku": "ETH",
            "name": "Ethiopia",
            "product_sku": "ETH",
            "product_name": "Ethiopia",
            "quantity": 2,
            "weight_grams": 250,
        }
    ]
    assert body["preferences"]["grind"] == "espresso"
    assert body["preferences_display"][0] == {
        "key": "grind",
        "label": "Mouture",
        "value": "espresso",
        "display": "Expresso",
        "retired": False,
    }
    assert body["reason"] == ""
    assert body["prepared_at"] is None


def test_the_lines_of_a_batch_filter_by_status_product_and_preference(api_client_a, locked):
    url = f"/api/v1/batches/{locked.batch.pk}/lines"
    other = ProductFactory(organization=locked.batch.organization)

    def subscriptions(query=""):
        response = api_client_a.get(f"{url}?{query}")
        assert response.status_code == 200, response.content
        return [row["subscription"] for row in response.json()["results"]]

    alice, bob, carol = locked.alice.pk, locked.bob.pk, locked.carol.pk
    assert sorted(subscriptions()) == sorted([alice, bob, carol])
    assert subscriptions("status=awaiting_payment") == [carol]
    assert sorted(subscriptions("status=ready&status=awaiting_payment")) == sorted(
        [alice, bob, carol]
    )
    assert subscriptions(f"product={locked.mug.pk}") == [bob]
    assert subscriptions(f"product={other.pk}") == []
    assert subscriptions("pref.grind=espresso") == [alice]
    assert sorted(subscriptions("pref.grind=beans")) == sorted([bob, carol])
    assert sorted(subscriptions("pref.grind=beans&pref.grind=espresso")) == sorted(
        [alice, bob, carol]
    )
    assert subscriptions("pref.grind=espresso&pref.decaf=true") == []
    assert subscriptions("pref.grind=espresso&pref.decaf=no") == [alice]
    assert subscriptions(f"pref.grind=beans&product={locked.mug.pk}") == [bob]


def test_a_bad_line_filter_is_refused(api_client_a, locked):
    url = f"/api/v1/batches/{locked.batch.pk}/lines"

    unknown = error(api_client_a.get(f"{url}?pref.colour=red"), 400)
    wrong_type = error(api_client_a.get(f"{url}?pref.decaf=maybe&pref.grams=lots"), 400)
    bad_status = error(api_client_a.get(f"{url}?status=lost"), 400)

    assert list(unknown["extra"]["fields"]) == ["pref.colour"]
    assert set(wrong_type["extra"]["fields"]) == {"pref.decaf", "pref.grams"}
    assert list(bad_status["extra"]["fields"]) == ["status"]


def test_an_open_batch_lists_only_the_lines_rolled_into_it(api_client_a, locked):
    nxt = Batch.objects.get(organization=locked.batch.organization, status="open")
    assert api_client_a.get(f"/api/v1/batches/{nxt.pk}/lines").json()["count"] == 0

    dispatched(locked)  # Carol's unpaid line rolls into the open batch

    rows = api_client_a.get(f"/api/v1/batches/{nxt.pk}/lines").json()["results"]
    assert [(row["subscription"], row["status"]) for row in rows] == [
        (locked.carol.pk, "awaiting_payment")
    ]


def test_another_organizations_line_is_not_found(api_client_b, locked):
    line = locked.line(locked.bob)

    for method, path, body in [
        ("get", f"/api/v1/batch-lines/{line.pk}", None),
        ("post", f"/api/v1/batch-lines/{line.pk}/prepare", None),
        ("post", f"/api/v1/batch-lines/{line.pk}/unprepare", None),
        ("post", f"/api/v1/batch-lines/{line.pk}/exclude", {"reason": "no"}),
    ]:
        error(getattr(api_client_b, method)(path, body, format="json"), 404)
    line.refresh_from_db()
    assert line.status == "ready"


# --- Production plan -------------------------------------------------------------------


def test_the_production_plan_of_a_locked_batch_comes_from_its_lines(api_client_a, locked):
    services.line_exclude(line=locked.line(locked.bob), actor=STAFF, reason="Out of mugs")

    body = api_client_a.get(
        f"/api/v1/batches/{locked.batch.pk}/production-plan", HTTP_ACCEPT_LANGUAGE="fr"
    ).json()

    assert (body["batch"], body["live"], body["boxes"]) == (locked.batch.pk, False, 2)
    assert body["as_of"] == "2026-12-02T11:00:00Z"
    assert body["products"] == [
        {
            "product": locked.coffee.pk,
            "sku": "ETH",
            "name": "Ethiopia",
            "quantity": 3,
            "kilograms": "0.750",
            "variants": [],
        }
    ]
    grind = [row for row in body["by_preference"] if row["field"] == "grind"]
    assert [(r["value"], r["value_display"], r["quantity"], r["kilograms"]) for r in grind] == [
        ("beans", "Whole beans", 1, "0.250"),
        ("espresso", "Expresso", 2, "0.500"),
    ]
    assert {r["field_label"] for r in grind} == {"Mouture"}
    decaf = [row for row in body["by_preference"] if row["field"] == "decaf"]
    assert [(r["value"], r["quantity"]) for r in decaf] == [(False, 3)]


def test_the_production_plan_of_an_open_batch_is_live(api_client_a, org_a):
    w = world(org_a, lock=False)

    with time_machine.travel(BEFORE_CUTOFF + timedelta(hours=1), tick=False):
        body = api_client_a.get(f"/api/v1/batches/{w.batch.pk}/production-plan").json()

    assert (body["live"], body["boxes"]) == (True, 3)
    assert [(r["sku"], r["quantity"]) for r in body["products"]] == [("ETH", 4), ("MUG", 1)]


# --- Batch actions ---------------------------------------------------------------------


def test_lock_freezes_an_open_batch_now_and_opens_the_next(api_client_a, org_a):
    w = world(org_a, lock=False)

    with time_machine.travel(BEFORE_CUTOFF + timedelta(hours=1), tick=False):
        response = api_client_a.post(f"/api/v1/batches/{w.batch.pk}/lock")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "locked"
    assert body["line_counts"]["ready"] == 2
    assert body["line_counts"]["awaiting_payment"] == 1
    assert body["cutoff_at"] == "2026-12-01T12:00:00Z"  # locked early: the cut-off is then
    assert Batch.objects.filter(organization=org_a, status="open").count() == 1


def test_lock_dispatch_complete_and_cancel_from_a_wrong_state_are_409_and_change_nothing(
    api_client_a, locked
):
    batch = locked.batch
    before = (batch.status, batch.locked_at, batch.dispatched_at, batch.cutoff_at)
    lines_before = sorted(BatchLine.objects.filter(batch=batch).values_list("pk", "status"))

    for action in ("lock", "complete", "cancel"):
        body = error(api_client_a.post(f"/api/v1/batches/{batch.pk}/{action}"), 409)
        assert "locked" in body["message"]
        assert body["extra"] == {"status": "locked"}

    batch.refresh_from_db()
    assert (batch.status, batch.locked_at, batch.dispatched_at, batch.cutoff_at) == before
    assert sorted(BatchLine.objects.filter(batch=batch).values_list("pk", "status")) == lines_before

    nxt = Batch.objects.get(organization=batch.organization, status="open")
    body = error(api_client_a.post(f"/api/v1/batches/{nxt.pk}/dispatch", {}, format="json"), 409)
    assert body["extra"] == {"status": "open"}
    assert not Shipment.objects.exists()
    nxt.refresh_from_db()
    assert nxt.status == "open"


def test_dispatch_ships_the_prepared_lines_and_rolls_the_unpaid_one(api_client_a, locked):
    prepared(locked, locked.alice, locked.bob)

    response = api_client_a.post(
        f"/api/v1/batches/{locked.batch.pk}/dispatch", {"carrier": "Colissimo"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    nxt = Batch.objects.get(organization=locked.batch.organization, status="open")
    assert body["report"] == {"shipped": 2, "rolled": 1, "excluded": 0, "next_batch": nxt.pk}
    assert body["batch"]["status"] == "dispatched"
    assert body["batch"]["line_counts"]["shipped"] == 2
    assert body["batch"]["line_counts"]["rolled"] == 1
    assert set(Shipment.objects.values_list("carrier", flat=True)) == {"Colissimo"}


def test_dispatch_uses_the_default_carrier_and_refuses_a_too_long_one(api_client_a, locked):
    FulfillmentSettings.objects.create(
        organization=locked.batch.organization,
        default_carrier="Chronopost",
        unpaid_lines=FulfillmentSettings.UnpaidLines.EXCLUDE,
    )
    url = f"/api/v1/batches/{locked.batch.pk}/dispatch"
    prepared(locked, locked.alice)

    refused = error(api_client_a.post(url, {"carrier": "x" * 101}, format="json"), 400)
    assert list(refused["extra"]["fields"]) == ["carrier"]
    locked.batch.refresh_from_db()
    assert locked.batch.status == "locked"

    report = api_client_a.post(url).json()["report"]
    # Alice ships, Bob (paid, not prepared) rolls, Carol (unpaid) is excluded as set.
    assert (report["shipped"], report["rolled"], report["excluded"]) == (1, 1, 1)
    assert Shipment.objects.get().carrier == "Chronopost"


def test_complete_waits_for_every_shipment(api_client_a, locked):
    batch = dispatched(locked)
    url = f"/api/v1/batches/{batch.pk}/complete"

    body = error(api_client_a.post(url), 409)
    assert body["extra"] == {"open_shipments": 2}
    batch.refresh_from_db()
    assert batch.status == "dispatched"

    # A dispatched batch with nothing open completes by hand.
    Shipment.objects.filter(batch=batch).update(status="delivered")
    response = api_client_a.post(url)
    assert response.status_code == 200
    assert response.json()["status"] == "completed"


def test_cancel_an_open_batch(api_client_a, org_a):
    batch = open_batch(org_a, CUTOFF)

    with time_machine.travel(BEFORE_CUTOFF, tick=False):
        response = api_client_a.post(f"/api/v1/batches/{batch.pk}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert response.json()["available_actions"] == []


# --- Line actions ----------------------------------------------------------------------


def test_prepare_a_paid_line_then_take_it_back(api_client_a, locked):
    line = locked.line(locked.alice)

    prepared_body = api_client_a.post(f"/api/v1/batch-lines/{line.pk}/prepare").json()
    again = error(api_client_a.post(f"/api/v1/batch-lines/{line.pk}/prepare"), 409)
    back = api_client_a.post(f"/api/v1/batch-lines/{line.pk}/unprepare").json()
    twice = error(api_client_a.post(f"/api/v1/batch-lines/{line.pk}/unprepare"), 409)

    assert prepared_body["status"] == "prepared"
    assert prepared_body["prepared_at"]
    assert again["extra"] == {"status": "prepared"}
    assert back["status"] == "ready"
    assert back["prepared_at"] is None
    assert twice["extra"] == {"status": "ready"}


def test_an_unpaid_line_cannot_be_prepared(api_client_a, locked):
    line = locked.line(locked.carol)

    body = error(api_client_a.post(f"/api/v1/batch-lines/{line.pk}/prepare"), 409)

    assert line.code in body["message"]
    line.refresh_from_db()
    assert (line.status, line.prepared_at) == ("awaiting_payment", None)


def test_bulk_prepare_by_id_answers_what_was_done_and_what_was_refused(api_client_a, locked):
    alice, bob, carol = (locked.line(s) for s in (locked.alice, locked.bob, locked.carol))
    services.line_prepare(line=bob, actor=STAFF)

    response = api_client_a.post(
        "/api/v1/batch-lines/prepare", {"lines": [alice.pk, bob.pk, carol.pk]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "done": [{"id": alice.pk, "code": alice.code}],
        "refused": [
            {"id": bob.pk, "code": bob.code, "reason": "Already prepared."},
            {"id": carol.pk, "code": carol.code, "reason": "Not paid yet."},
        ],
    }
    assert BatchLine.objects.get(pk=alice.pk).status == "prepared"


def test_bulk_prepare_by_scanned_code(api_client_a, locked):
    alice = locked.line(locked.alice)

    response = api_client_a.post(
        "/api/v1/batch-lines/prepare/", {"codes": [f" {alice.code} "]}, format="json"
    )

    assert response.json()["done"] == [{"id": alice.pk, "code": alice.code}]
    assert BatchLine.objects.get(pk=alice.pk).status == "prepared"


def test_bulk_prepare_refuses_bad_bodies_and_writes_nothing(api_client_a, locked, org_b):
    alice = locked.line(locked.alice)
    [foreign] = many_lines(org_b, open_batch(org_b, CUTOFF, status="locked"), 1)
    misread = alice.code[:-1] + str((int(alice.code[-1]) + 1) % 10)
    url = "/api/v1/batch-lines/prepare"

    both = error(
        api_client_a.post(url, {"lines": [alice.pk], "codes": [alice.code]}, format="json"), 400
    )
    neither = error(api_client_a.post(url, {}, format="json"), 400)
    empty = error(api_client_a.post(url, {"lines": []}, format="json"), 400)
    not_ids = error(api_client_a.post(url, {"lines": ["abc"]}, format="json"), 400)
    bad_code = error(api_client_a.post(url, {"codes": [alice.code, misread]}, format="json"), 400)
    other_org = error(api_client_a.post(url, {"lines": [alice.pk, foreign.pk]}, format="json"), 404)
    unknown_code = error(
        api_client_a.post(
            url, {"codes": [alice.code, line_code(foreign.pk + 1000)]}, format="json"
        ),
        404,
    )

    assert "non_field_errors" in both["extra"]["fields"]
    assert "non_field_errors" in neither["extra"]["fields"]
    assert "lines" in empty["extra"]["fields"]
    assert "lines" in not_ids["extra"]["fields"]
    assert misread in bad_code["extra"]["fields"]["codes"][0]
    assert other_org["extra"]["unknown"] == [foreign.pk]
    assert unknown_code["extra"]["unknown"] == [line_code(foreign.pk + 1000)]
    assert BatchLine.objects.get(pk=alice.pk).status == "ready"
    assert BatchLine.objects.get(pk=foreign.pk).status == "ready"


def test_exclude_needs_a_reason(api_client_a, locked):
    line = locked.line(locked.carol)
    url = f"/api/v1/batch-lines/{line.pk}/exclude"

    missing = error(api_client_a.post(url, {}, format="json"), 400)
    blank = error(api_client_a.post(url, {"reason": "  "}, format="json"), 400)
    line.refresh_from_db()
    assert line.status == "awaiting_payment"

    body = api_client_a.post(url, {"reason": "Moved abroad"}, format="json").json()
    again = error(api_client_a.post(url, {"reason": "Twice"}, format="json"), 409)

    assert list(missing["extra"]["fields"]) == list(blank["extra"]["fields"]) == ["reason"]
    assert body["status"] == "excluded"
    assert body["reason"].startswith("Moved abroad")
    assert again["extra"] == {"status": "excluded"}


def test_exclude_a_line_of_a_dispatched_batch_is_409(api_client_a, locked):
    dispatched(locked)
    line = locked.line(locked.alice)

    body = error(
        api_client_a.post(f"/api/v1/batch-lines/{line.pk}/exclude", {"reason": "x"}, format="json"),
        409,
    )

    assert "dispatched" in body["message"]
    assert BatchLine.objects.get(pk=line.pk).status == "shipped"


# --- Shipments -------------------------------------------------------------------------


@pytest.fixture
def shipped(locked) -> World:
    dispatched(locked)
    return locked


def test_the_shipment_list_filters_and_never_shows_another_organization(
    api_client_a, api_client_b, shipped
):
    alice, bob = (Shipment.objects.get(line__subscription=s) for s in (shipped.alice, shipped.bob))
    services.shipment_update(shipment=alice, actor=STAFF, tracking_number="6A123")
    services.shipment_transition(shipment=bob, action="ship", actor=STAFF)

    def ids(query=""):
        response = api_client_a.get(f"/api/v1/shipments?{query}")
        assert response.status_code == 200
        return sorted(row["id"] for row in response.json()["results"])

    assert ids() == sorted([alice.pk, bob.pk])
    assert ids("status=shipped") == [bob.pk]
    assert ids(f"batch={shipped.batch.pk}") == sorted([alice.pk, bob.pk])
    assert ids(f"batch={shipped.batch.pk + 1000}") == []
    assert ids("tracking_number=6a123") == [alice.pk]
    assert api_client_b.get("/api/v1/shipments").json()["count"] == 0
    error(api_client_b.get(f"/api/v1/shipments/{alice.pk}"), 404)
    error(api_client_a.get("/api/v1/shipments?status=gone"), 400)


def test_a_shipment_shows_its_line_customer_and_address(api_client_a, shipped):
    shipment = Shipment.objects.get(line__subscription=shipped.alice)

    body = api_client_a.get(f"/api/v1/shipments/{shipment.pk}/").json()

    assert body["batch"] == shipped.batch.pk
    assert body["line"] == shipment.line_id
    assert body["line_code"] == line_code(shipment.line_id)
    assert body["customer"]["name"] == "Alice Martin"
    assert body["carrier"] == "Colissimo"
    assert body["status"] == "created"
    assert body["address"]["city"] == "Lyon"
    assert body["available_actions"] == ["ship", "deliver", "lose"]


def test_patch_sets_the_carrier_and_tracking_number(api_client_a, shipped):
    shipment = Shipment.objects.get(line__subscription=shipped.alice)
    url = f"/api/v1/shipments/{shipment.pk}"

    body = api_client_a.patch(url, {"tracking_number": " 6A999 "}, format="json").json()
    empty = error(api_client_a.patch(url, {}, format="json"), 400)
    too_long = error(api_client_a.patch(url, {"carrier": "x" * 101}, format="json"), 400)
    put = api_client_a.put(url, {"carrier": "DHL"}, format="json")

    assert (body["carrier"], body["tracking_number"]) == ("Colissimo", "6A999")
    assert "non_field_errors" in empty["extra"]["fields"]
    assert list(too_long["extra"]["fields"]) == ["carrier"]
    assert put.status_code == 405
    shipment.refresh_from_db()
    assert (shipment.carrier, shipment.tracking_number) == ("Colissimo", "6A999")


def test_a_closed_shipment_keeps_its_tracking_number(api_client_a, shipped):
    shipment = Shipment.objects.get(line__subscription=shipped.alice)
    services.shipment_transition(shipment=shipment, action="mark_lost", actor=STAFF)

    error(
        api_client_a.patch(f"/api/v1/shipments/{shipment.pk}", {"carrier": "DHL"}, format="json"),
        409,
    )

    shipment.refresh_from_db()
    assert shipment.carrier == "Colissimo"


def test_shipment_transitions_and_the_batch_completes_with_the_last(api_client_a, shipped):
    alice, bob = (Shipment.objects.get(line__subscription=s) for s in (shipped.alice, shipped.bob))

    ship = api_client_a.post(f"/api/v1/shipments/{alice.pk}/ship").json()
    deliver = api_client_a.post(f"/api/v1/shipments/{alice.pk}/deliver").json()
    returned = api_client_a.post(f"/api/v1/shipments/{alice.pk}/return").json()
    lost = api_client_a.post(f"/api/v1/shipments/{bob.pk}/lose/").json()

    assert ship["status"] == "shipped"
    assert ship["shipped_at"]
    assert deliver["status"] == "delivered"
    assert deliver["delivered_at"]
    assert returned["status"] == "returned"
    assert returned["available_actions"] == []
    assert lost["status"] == "lost"
    assert lost["closed_at"]
    shipped.batch.refresh_from_db()
    assert shipped.batch.status == "completed"


@pytest.mark.parametrize(
    ("action", "status"),
    [("return", "created"), ("ship", "shipped"), ("lose", "delivered"), ("deliver", "lost")],
)
def test_a_shipment_transition_from_a_wrong_state_is_409_and_changes_nothing(
    api_client_a, shipped, action, status
):
    shipment = Shipment.objects.get(line__subscription=shipped.alice)
    Shipment.objects.filter(pk=shipment.pk).update(status=status)

    body = error(api_client_a.post(f"/api/v1/shipments/{shipment.pk}/{action}"), 409)

    assert body["extra"] == {"status": status}
    shipment.refresh_from_db()
    assert (shipment.status, shipment.shipped_at, shipment.closed_at) == (status, None, None)


# --- Bounded queries -------------------------------------------------------------------


def many_lines(org, batch, count, *, ship=False):
    """`count` lines of `batch` (and a shipment each), written directly."""
    product = ProductFactory(organization=org)
    lines = []
    for _ in range(count):
        subscription = SubscriptionFactory(customer__organization=org, items=[(product, 1)])
        lines.append(
            BatchLine(
                organization=org,
                batch=batch,
                subscription=subscription,
                customer=subscription.customer,
                cycle=0,
                status="shipped" if ship else "ready",
                address={"name": "A", "city": "Lyon"},
                items=[{"product": product.pk, "sku": product.sku, "name": "P", "quantity": 1}],
                preferences={"grind": "beans"},
            )
        )
    lines = BatchLine.objects.bulk_create(lines)
    if ship:
        Shipment.objects.bulk_create(
            Shipment(organization=org, batch=batch, line=line, customer_id=line.customer_id)
            for line in lines
        )
    return lines


@pytest.mark.parametrize("rows", [5, 30])
def test_list_queries_do_not_grow_with_the_rows(
    api_client_a, org_a, django_assert_max_num_queries, rows
):
    coffee_schema(org_a)
    batch = open_batch(org_a, CUTOFF, status="dispatched")
    many_lines(org_a, batch, rows, ship=True)
    for week in range(1, rows):
        other = open_batch(org_a, CUTOFF - timedelta(days=7 * week), status="completed")
        many_lines(org_a, other, 1)

    with django_assert_max_num_queries(3):  # key, count, page with its counts
        batches = api_client_a.get("/api/v1/batches?page_size=100")
    with django_assert_max_num_queries(6):  # key, batch, schema (2), count, page
        lines = api_client_a.get(f"/api/v1/batches/{batch.pk}/lines?page_size=100")
    with django_assert_max_num_queries(4):  # key, count, page with customers, its parcels
        shipments = api_client_a.get("/api/v1/shipments?page_size=100")

    assert batches.json()["count"] == rows
    assert batches.json()["results"][0]["line_counts"]["shipped"] == rows
    assert len(lines.json()["results"]) == rows
    assert len(shipments.json()["results"]) == rows


# --- The documentation ---------------------------------------------------------------------


def test_the_schema_documents_the_fulfillment_api_without_warnings():
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    schema = json.loads(out.getvalue())
    paths = schema["paths"]
    assert own_responses(paths["/api/v1/batches/{id}/lock/"]["post"]["responses"]) == {
        "200",
        "400",
        "401",
        "404",
        "409",
    }
    assert "/api/v1/batch-lines/prepare/" in paths
    assert "/api/v1/shipments/{id}/return/" in paths
    assert set(paths["/api/v1/shipments/{id}/"]) == {"get", "patch"}
    assert schema["components"]["schemas"]["BatchStatusEnum"]["enum"] == Batch.Status.values
