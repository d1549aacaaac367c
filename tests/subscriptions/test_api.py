"""The REST API for subscriptions: lifecycle actions, scoping, input errors, reads."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from core.actors import Actor
from subscriptions import services
from subscriptions.models import Subscription, SubscriptionEvent
from tests.api_schema import own_responses
from tests.factories import (
    AddressFactory,
    ChargeFactory,
    ContractFactory,
    CustomerFactory,
    ProductFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

S = Subscription.Status
URL = "/api/v1/subscriptions/"


def _subscription(organization, status, **kwargs):
    return SubscriptionFactory(customer__organization=organization, status=status, **kwargs)


def _url(subscription, action=""):
    return f"{URL}{subscription.pk}/" + (f"{action}/" if action else "")


def _new_items(subscription):
    product = ProductFactory(organization=subscription.organization, unit_price=Decimal("30.00"))
    return [{"product": product.pk, "quantity": 2}]


# Each API action with a valid body: (URL segment, body builder).
ACTIONS = {
    "pause": ("pause", lambda s: {"reason": "Holidays"}),
    "resume": ("resume", lambda s: {}),
    "skip": ("skip", lambda s: {}),
    "change-schedule": (
        "change-schedule",
        lambda s: {"billing_period": "week", "billing_interval": 2},
    ),
    "change-items": ("change-items", lambda s: {"items": _new_items(s)}),
    "cancel": ("cancel", lambda s: {"reason": "Moving abroad"}),
    "cancel-at-period-end": (
        "cancel",
        lambda s: {"reason": "Too much coffee", "at_period_end": True},
    ),
    "withdraw-cancellation": ("withdraw-cancellation", lambda s: {}),
    "skip-cycle": ("skip-cycle", lambda s: {"cycle": 3}),
    "unskip-cycle": ("unskip-cycle", lambda s: {"cycle": 3}),
    "move-next-date": (
        "move-next-date",
        lambda s: {"at": ((s.next_charge_at or timezone.now()) + timedelta(days=5)).isoformat()},
    ),
}
# What a subscription needs, besides its status, for the action to make sense.
SETUP = {
    "withdraw-cancellation": {"cancel_at_period_end": True, "cancel_reason": "Moving"},
    # Paused, a skip acts on the first cycle after the resume date: it needs one.
    (S.PAUSED, "skip"): {"resume_at": timezone.now() + timedelta(days=45)},
    (S.PAUSED, "skip-cycle"): {"resume_at": timezone.now() + timedelta(days=45)},
    "unskip-cycle": {"skipped_cycles": [3]},
}

# (status, action) -> the status after it; absent: refused with 409.
ALLOWED = {
    (S.ACTIVE, "pause"): S.PAUSED,
    (S.PAUSED, "resume"): S.ACTIVE,
    (S.ACTIVE, "skip"): S.ACTIVE,
    (S.PAUSED, "skip"): S.PAUSED,
    **{(s, "change-schedule"): s for s in (S.PENDING, S.ACTIVE, S.PAUSED)},
    **{(s, "change-items"): s for s in (S.PENDING, S.ACTIVE, S.PAUSED)},
    **{(s, "cancel"): S.CANCELED for s in (S.PENDING, S.ACTIVE, S.PAUSED, S.PAST_DUE)},
    (S.ACTIVE, "cancel-at-period-end"): S.ACTIVE,
    (S.PAUSED, "cancel-at-period-end"): S.PAUSED,
    **{(s, "withdraw-cancellation"): s for s in (S.ACTIVE, S.PAUSED, S.PAST_DUE)},
    # The delivery schedule (issue 25, item 14).
    **{(s, "skip-cycle"): s for s in (S.ACTIVE, S.PAUSED)},
    **{(s, "unskip-cycle"): s for s in (S.ACTIVE, S.PAUSED)},
    (S.ACTIVE, "move-next-date"): S.ACTIVE,
}

CASES = [(status, action) for status in S.values for action in ACTIONS]


def _row(subscription):
    """Every stored value of the subscription, its items and charges."""
    subscription = Subscription.objects.get(pk=subscription.pk)
    return (
        model_to_dict(subscription) | {"updated_at": subscription.updated_at},
        list(subscription.items.values_list("id", "product_id", "quantity", "unit_price")),
        list(subscription.charges.values_list("id", "cycle", "status", "amount")),
    )


def _event_count(client, subscription):
    return client.get(_url(subscription, "events")).json()["count"]


# --- Lifecycle actions ---------------------------------------------------------------


@pytest.mark.parametrize(("status", "action"), CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_every_action_from_every_status(api_client_for, org_a, status, action):
    # Given a subscription in `status`, as the API shows it
    subscription = _subscription(
        org_a, status, **SETUP.get((status, action), SETUP.get(action, {}))
    )
    client = api_client_for(org_a)
    shown = client.get(_url(subscription)).json()
    events_before = _event_count(client, subscription)
    row_before = _row(subscription)
    segment, body = ACTIONS[action]
    expected = ALLOWED.get((status, action))

    # When the action is posted
    response = client.post(_url(subscription, segment), body(subscription), format="json")

    if expected is None:
        # Then it is refused with 409 in the error shape, and nothing changes
        assert response.status_code == 409, response.json()
        assert set(response.json()) == {"message", "extra"}
        assert status.replace("_", " ") in response.json()["message"].lower()
        assert response.json()["extra"]["status"] == status
        assert _row(subscription) == row_before
        assert client.get(_url(subscription)).json() == shown
        assert _event_count(client, subscription) == events_before
    else:
        # Then it answers 200 with the subscription after it, and one new event
        assert response.status_code == 200, response.json()
        assert response.json()["id"] == subscription.pk
        assert response.json()["status"] == expected
        assert client.get(_url(subscription)).json() == response.json()
        events = client.get(_url(subscription, "events")).json()
        assert events["count"] == events_before + 1
        newest = events["results"][0]
        assert (newest["from_status"], newest["to_status"]) == (status, expected)
        assert (newest["actor_kind"], newest["actor_label"]) == ("api_key", "integration")
        if action == "cancel-at-period-end":
            assert response.json()["cancel_at_period_end"] is True
    if action != "cancel-at-period-end":
        # The actions the subscription offered beforehand said as much
        assert (segment in shown["available_actions"]) == (expected is not None)


def test_the_available_actions_follow_the_status(api_client_for, org_a):
    client = api_client_for(org_a)
    active = _subscription(org_a, S.ACTIVE)
    canceled = _subscription(org_a, S.CANCELED)

    assert client.get(_url(active)).json()["available_actions"] == [
        "pause",
        "skip",
        "change-schedule",
        "change-items",
        "cancel",
        "skip-cycle",
        "move-next-date",
    ]
    assert client.get(_url(canceled)).json()["available_actions"] == []


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_woocommerce_subscription_refuses_every_action(api_client_for, org_a, action):
    # Given a subscription the shop charges, which offers no action
    subscription = SubscriptionFactory(
        organization=org_a,
        customer__organization=org_a,
        status=S.ACTIVE,
        source=Subscription.Source.WOOCOMMERCE,
    )
    client = api_client_for(org_a)
    shown = client.get(_url(subscription)).json()
    assert shown["available_actions"] == []
    row_before = _row(subscription)
    segment, body = ACTIONS[action]

    # When any action is posted
    response = client.post(_url(subscription, segment), body(subscription), format="json")

    # Then it is refused, saying WooCommerce manages it, and nothing changes
    assert response.status_code == 409
    assert "managed by WooCommerce" in response.json()["message"]
    assert response.json()["extra"]["source"] == "woocommerce"
    assert _row(subscription) == row_before
    assert not subscription.events.exists()


@pytest.mark.parametrize(
    ("status", "action", "body", "field"),
    [
        (S.ACTIVE, "pause", {"resume_at": "not a date"}, "resume_at"),
        (
            S.ACTIVE,
            "change-schedule",
            {"billing_period": "fortnight", "billing_interval": 1},
            "billing_period",
        ),
        (
            S.ACTIVE,
            "change-schedule",
            {"billing_period": "week", "billing_interval": 0},
            "billing_interval",
        ),
        (S.ACTIVE, "change-items", {"items": []}, "items"),
        (S.ACTIVE, "change-items", {"items": [{"product": 99999999}]}, "items"),
        (S.ACTIVE, "change-items", {"items": "quantity-0"}, "items"),
        (S.ACTIVE, "cancel", {}, "reason"),
        (S.ACTIVE, "cancel", {"reason": "  "}, "reason"),
        (S.ACTIVE, "cancel", {"reason": "x", "at_period_end": "maybe"}, "at_period_end"),
    ],
)
def test_bad_action_input_is_a_400_naming_the_field(
    api_client_for, org_a, status, action, body, field
):
    subscription = _subscription(org_a, status)
    if body.get("items") == "quantity-0":
        body = {"items": [{"product": ProductFactory(organization=org_a).pk, "quantity": 0}]}
    row_before = _row(subscription)

    response = api_client_for(org_a).post(_url(subscription, action), body, format="json")

    assert response.status_code == 400
    assert response.json()["message"] == "Invalid input."
    assert field in response.json()["extra"]["fields"]
    assert _row(subscription) == row_before
    assert not subscription.events.exists()


def test_changing_to_the_schedule_it_has_is_a_409_naming_the_field(api_client_for, org_a):
    # Valid input the subscription's state refuses, like a transition (it was a 400).
    subscription = _subscription(org_a, S.ACTIVE)
    row_before = _row(subscription)
    body = {"billing_period": subscription.billing_period, "billing_interval": 1}

    response = api_client_for(org_a).post(_url(subscription, "change-schedule"), body)

    assert response.status_code == 409
    assert "billing_period" in response.json()["extra"]["fields"]
    assert _row(subscription) == row_before


def test_pause_until_a_past_date_is_refused(api_client_for, org_a):
    # Given an active subscription
    subscription = _subscription(org_a, S.ACTIVE)
    row_before = _row(subscription)
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()

    # When it is paused until yesterday
    response = api_client_for(org_a).post(
        _url(subscription, "pause"), {"resume_at": yesterday}, format="json"
    )

    # Then it is a 400 naming resume_at, and it stays active
    assert response.status_code == 400
    assert "resume_at" in response.json()["extra"]["fields"]
    assert _row(subscription) == row_before


def test_pause_until_a_date_resumes_then(api_client_for, org_a):
    subscription = _subscription(org_a, S.ACTIVE)
    resume_at = timezone.now() + timedelta(days=10)

    response = api_client_for(org_a).post(
        _url(subscription, "pause"),
        {"resume_at": resume_at.isoformat(), "reason": "Holidays"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "paused"
    assert body["resume_at"] is not None
    subscription.refresh_from_db()
    assert subscription.resume_at == resume_at
    assert subscription.events.first().reason == "Holidays"


def test_change_items_replaces_them_at_the_given_or_product_price(api_client_for, org_a):
    subscription = _subscription(org_a, S.PENDING)
    beans = ProductFactory(organization=org_a, sku="BEANS", unit_price=Decimal("9.00"))
    mug = ProductFactory(organization=org_a, sku="MUG", unit_price=Decimal("15.00"))

    response = api_client_for(org_a).post(
        _url(subscription, "change-items"),
        {
            "items": [
                {"product": beans.pk, "quantity": 3},
                {"product": mug.pk, "unit_price": "12.00"},
            ]
        },
        format="json",
    )

    assert response.status_code == 200
    assert [
        (i["product"]["sku"], i["quantity"], i["unit_price"]) for i in response.json()["items"]
    ] == [("BEANS", 3, "9.00"), ("MUG", 1, "12.00")]


# --- Isolation between organizations -------------------------------------------------


READS = ["", "events", "charges"]


@pytest.mark.parametrize("endpoint", READS + list(ACTIONS))
def test_another_organizations_subscription_is_404_everywhere(
    api_client_for, org_a, org_b, endpoint
):
    # Given A's active subscription
    theirs = _subscription(org_a, S.ACTIVE)
    row_before = _row(theirs)
    client = api_client_for(org_b)

    # When B's key reads it or acts on it
    if endpoint in READS:
        response = client.get(_url(theirs, endpoint))
    else:
        segment, body = ACTIONS[endpoint]
        response = client.post(_url(theirs, segment), body(theirs), format="json")

    # Then it does not exist for B, and nothing changes
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}
    assert _row(theirs) == row_before
    assert not theirs.events.exists()


def test_the_list_shows_only_the_keys_organization(api_client_for, org_a, org_b):
    mine = SubscriptionFactory.create_batch(2, organization=org_b, customer__organization=org_b)
    SubscriptionFactory.create_batch(3, organization=org_a, customer__organization=org_a)

    response = api_client_for(org_b).get(URL)

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert {row["id"] for row in response.json()["results"]} == {s.pk for s in mine}


@pytest.mark.parametrize("foreign", ["customer", "product", "shipping_address", "contract"])
def test_a_create_cannot_use_another_organizations_rows(api_client_for, org_a, org_b, foreign):
    # Given A's customer, address, contract and product, and B's own
    a_customer = CustomerFactory(organization=org_a)
    a_rows = {
        "customer": a_customer,
        "product": ProductFactory(organization=org_a),
        "shipping_address": AddressFactory(customer=a_customer),
        "contract": ContractFactory(customer=a_customer),
    }
    b_customer = CustomerFactory(organization=org_b)
    payload = {
        "customer": b_customer.pk,
        "items": [{"product": ProductFactory(organization=org_b).pk}],
        "shipping_address": AddressFactory(customer=b_customer).pk,
        "contract": ContractFactory(customer=b_customer).pk,
    }

    def post_with(pk):
        body = (
            {**payload, "items": [{"product": pk}]}
            if foreign == "product"
            else {
                **payload,
                foreign: pk,
            }
        )
        return api_client_for(org_b).post(URL, body, format="json")

    # When B's key creates a subscription with one of A's ids, or with an unknown id
    response = post_with(a_rows[foreign].pk)
    unknown = post_with(99999999)

    # Then it is a 400 naming the field, told apart from an unknown id by nothing
    # but the id, and nothing is created
    assert response.status_code == 400
    field = "items" if foreign == "product" else foreign
    error = str(response.json()["extra"]["fields"][field])
    assert error.replace(str(a_rows[foreign].pk), "<id>") == str(
        unknown.json()["extra"]["fields"][field]
    ).replace("99999999", "<id>")
    assert not Subscription.objects.exists()
    assert not SubscriptionEvent.objects.exists()


# --- Create --------------------------------------------------------------------------


def test_create_a_pending_subscription_at_product_prices(api_client_for, org_a):
    # Given a customer with a shipping address, and two products
    customer = CustomerFactory(organization=org_a, email="camille@example.fr")
    address = AddressFactory(customer=customer)
    beans = ProductFactory(organization=org_a, sku="BEANS", unit_price=Decimal("18.00"))
    filters = ProductFactory(organization=org_a, sku="FILTERS", unit_price=Decimal("4.50"))
    client = api_client_for(org_a)

    # When a subscription is created for them
    response = client.post(
        URL,
        {
            "customer": customer.pk,
            "items": [{"product": beans.pk, "quantity": 2}, {"product": filters.pk}],
            "billing_period": "week",
            "billing_interval": 2,
        },
        format="json",
    )

    # Then it is pending, ships to the address, at the products' prices
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["source"] == "native"
    assert body["customer"] == {
        "id": customer.pk,
        "email": "camille@example.fr",
        "name": customer.full_name,
    }
    assert (body["billing_period"], body["billing_interval"]) == ("week", 2)
    assert body["shipping_address"] == address.pk
    assert body["currency"] == org_a.currency
    assert [
        (i["product"]["id"], i["product"]["sku"], i["quantity"], i["unit_price"])
        for i in body["items"]
    ] == [(beans.pk, "BEANS", 2, "18.00"), (filters.pk, "FILTERS", 1, "4.50")]
    assert body["available_actions"] == ["change-schedule", "change-items", "cancel"]
    assert client.get(f"{URL}{body['id']}/").json() == body
    events = client.get(f"{URL}{body['id']}/events/").json()
    assert [e["kind"] for e in events["results"]] == ["created"]
    assert Subscription.objects.get().organization == org_a


def test_create_with_a_trial_contract_and_a_fixed_end(api_client_for, org_a):
    customer = CustomerFactory(organization=org_a)
    contract = ContractFactory(customer=customer)
    product = ProductFactory(organization=org_a)
    trial_end = timezone.now() + timedelta(days=14)
    ends_at = trial_end + timedelta(days=365)

    response = api_client_for(org_a).post(
        URL,
        {
            "customer": customer.pk,
            "items": [{"product": product.pk, "unit_price": "0.00"}],
            "trial_ends_at": trial_end.isoformat(),
            "ends_at": ends_at.isoformat(),
            "contract": contract.pk,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "active"
    assert body["contract"] == contract.pk
    assert body["items"][0]["unit_price"] == "0.00"
    subscription = Subscription.objects.get(pk=body["id"])
    assert subscription.next_charge_at == trial_end
    assert subscription.ends_at == ends_at


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"billing_interval": 0}, "billing_interval"),
        ({"billing_interval": "often"}, "billing_interval"),
        ({"billing_period": "fortnight"}, "billing_period"),
        ({"items": []}, "items"),
        ({"items": [{"product": 99999999}]}, "items"),
        ({"items": [{"quantity": 1}]}, "items"),
        ({"items": "negative-price"}, "items"),
        ({"customer": 99999999}, "customer"),
        ({"customer": None}, "customer"),
        ({"shipping_address": "another-customers"}, "shipping_address"),
        ({"trial_ends_at": "before-start"}, "trial_ends_at"),
        ({"start_at": "yesterday-ish"}, "start_at"),
    ],
)
def test_bad_create_input_is_a_400_naming_the_field_and_creates_nothing(
    api_client_for, org_a, override, field
):
    customer = CustomerFactory(organization=org_a)
    product = ProductFactory(organization=org_a)
    payload = {"customer": customer.pk, "items": [{"product": product.pk}], **override}
    if override.get("items") == "negative-price":
        payload["items"] = [{"product": product.pk, "unit_price": "-1.00"}]
    if override.get("shipping_address") == "another-customers":
        payload["shipping_address"] = AddressFactory(
            customer=CustomerFactory(organization=org_a)
        ).pk
    if override.get("trial_ends_at") == "before-start":
        payload["start_at"] = timezone.now().isoformat()
        payload["trial_ends_at"] = (timezone.now() - timedelta(days=1)).isoformat()

    response = api_client_for(org_a).post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["message"] == "Invalid input."
    assert field in response.json()["extra"]["fields"]
    assert not Subscription.objects.exists()
    assert not SubscriptionEvent.objects.exists()


# --- Reads -----------------------------------------------------------------------------


def test_a_subscription_shows_every_documented_field(api_client_for, org_a):
    subscription = _subscription(org_a, S.ACTIVE)

    body = api_client_for(org_a).get(_url(subscription)).json()

    assert set(body) == {
        "id",
        "customer",
        "contract",
        "source",
        "status",
        "billing_period",
        "billing_interval",
        "billing_anchor",
        "started_at",
        "trial_ends_at",
        "current_period_start",
        "current_period_end",
        "next_charge_at",
        "next_due_at",
        "paused_at",
        "resume_at",
        "cancel_at_period_end",
        "canceled_at",
        "ended_at",
        "ends_at",
        "cancel_reason",
        "shipping_address",
        "billing_address",
        "currency",
        "adjustment",
        "skipped_cycles",
        "items",
        "available_actions",
        "created_at",
        "updated_at",
    }
    assert set(body["customer"]) == {"id", "email", "name"}
    assert set(body["items"][0]) == {
        "id",
        "product",
        "variant",
        "name",
        "sku",
        "quantity",
        "unit_price",
    }
    assert set(body["items"][0]["product"]) == {"id", "sku", "name"}
    assert body["adjustment"] == "0.00"
    assert body["skipped_cycles"] == []


def test_events_are_newest_first_and_paginated(api_client_for, org_a):
    # Given a subscription that was skipped, paused, then resumed
    subscription = _subscription(org_a, S.ACTIVE)
    client = api_client_for(org_a)
    for action in ("skip", "pause", "resume"):
        assert client.post(_url(subscription, action), {}, format="json").status_code == 200

    # When its history is read, a page of two at a time
    first = client.get(_url(subscription, "events"), {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    # Then the newest comes first, with who did it
    assert first["count"] == 3
    assert [e["kind"] for e in first["results"] + second["results"]] == [
        "resumed",
        "paused",
        "skipped",
    ]
    resumed = first["results"][0]
    assert set(resumed) == {
        "id",
        "kind",
        "from_status",
        "to_status",
        "actor_kind",
        "actor_label",
        "reason",
        "data",
        "created_at",
    }
    assert (resumed["from_status"], resumed["to_status"]) == ("paused", "active")
    assert second["results"][0]["data"]["cycle"] == 1


def test_charges_list_each_cycle_latest_first(api_client_for, org_a):
    subscription = _subscription(org_a, S.ACTIVE)
    ChargeFactory(
        subscription=subscription,
        cycle=1,
        amount=Decimal("12.50"),
        status="failed",
        attempts=1,
        failure_reason="Card declined",
    )
    other = _subscription(org_a, S.ACTIVE)

    body = api_client_for(org_a).get(_url(subscription, "charges")).json()

    assert body["count"] == 2
    assert [(c["cycle"], c["status"]) for c in body["results"]] == [(1, "failed"), (0, "paid")]
    assert set(body["results"][0]) == {
        "id",
        "cycle",
        "period_start",
        "period_end",
        "amount",
        "adjustment",
        "currency",
        "status",
        "attempts",
        "next_retry_at",
        "failure_reason",
        "external_reference",
        "paid_at",
        "refunded_amount",
    }
    assert body["results"][0]["failure_reason"] == "Card declined"
    assert [c["refunded_amount"] for c in body["results"]] == ["0.00", "0.00"]
    assert other.charges.get().pk not in {c["id"] for c in body["results"]}


def test_a_charge_shows_what_was_refunded_of_it(api_client_for, org_a):
    subscription = _subscription(org_a, S.ACTIVE)
    charge = subscription.charges.get()
    services.charge_refund(charge=charge, amount="4.00", actor=Actor.system("after-sales"))

    body = api_client_for(org_a).get(_url(subscription, "charges")).json()

    assert [(c["status"], c["amount"], c["refunded_amount"]) for c in body["results"]] == [
        ("paid", str(charge.amount), "4.00")
    ]


def test_list_filters(api_client_for, org_a):
    now = timezone.now()
    anna = CustomerFactory(organization=org_a, email="anna@example.fr")
    bob = CustomerFactory(organization=org_a, email="bob@shop.example.com")
    active = SubscriptionFactory(organization=org_a, customer=anna, status=S.ACTIVE)
    paused = SubscriptionFactory(organization=org_a, customer=bob, status=S.PAUSED)
    soon = SubscriptionFactory(
        organization=org_a, customer=bob, status=S.PENDING, next_charge_at=now + timedelta(days=2)
    )
    shop = SubscriptionFactory(
        organization=org_a,
        customer=anna,
        status=S.CANCELED,
        source=Subscription.Source.WOOCOMMERCE,
    )
    client = api_client_for(org_a)

    def ids(**params):
        response = client.get(URL, params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids(status="active") == {active.pk}
    assert ids(status=["active", "paused"]) == {active.pk, paused.pk}
    assert ids(customer=bob.pk) == {paused.pk, soon.pk}
    assert ids(source="woocommerce") == {shop.pk}
    assert ids(q="SHOP.example") == {paused.pk, soon.pk}
    window = {
        "next_charge_after": (now + timedelta(days=1)).isoformat(),
        "next_charge_before": (now + timedelta(days=3)).isoformat(),
    }
    assert ids(**window) == {soon.pk}
    assert ids(next_charge_after=(now + timedelta(days=20)).isoformat()) == {active.pk, paused.pk}
    assert ids() == {active.pk, paused.pk, soon.pk, shop.pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"source": "amazon"}, "source"),
        ({"next_charge_after": "soon"}, "next_charge_after"),
        ({"customer": "bob"}, "customer"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_it(api_client_for, org_a, params, field):
    response = api_client_for(org_a).get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]


@pytest.mark.parametrize("rows", [3, 30])
def test_list_queries_do_not_grow_with_its_length(
    api_client_for, org_a, django_assert_max_num_queries, rows
):
    client = api_client_for(org_a)
    products = ProductFactory.create_batch(2, organization=org_a)
    for status in [S.ACTIVE, S.PAUSED, S.PENDING] * (rows // 3):
        SubscriptionFactory(
            organization=org_a,
            customer__organization=org_a,
            status=status,
            items=[(products[0], 1), (products[1], 2)],
        )

    with django_assert_max_num_queries(4):  # key, count, page with customers, items
        response = client.get(URL, {"page_size": 50})

    assert response.json()["count"] == rows
    assert all(len(row["items"]) == 2 for row in response.json()["results"])


# --- HTTP ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("get", "{id}/"), ("post", "{id}/pause/"), ("get", "{id}/events/"), ("post", "")],
)
def test_without_a_key_every_endpoint_is_401(client, org_a, method, path):
    subscription = _subscription(org_a, S.ACTIVE)

    response = getattr(client, method)(URL + path.format(id=subscription.pk))

    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE


def test_both_spellings_of_a_url_answer_without_a_redirect(api_client_for, org_a):
    subscription = _subscription(org_a, S.ACTIVE)
    client = api_client_for(org_a)
    base = f"{URL}{subscription.pk}"

    answers = {
        path: client.get(path).status_code
        for path in (URL, URL.rstrip("/"), f"{base}/", base, f"{base}/events", f"{base}/charges/")
    }
    skip = client.post(f"{base}/skip", {}, format="json")
    pause = client.post(f"{base}/pause/", {}, format="json")
    change = client.post(
        f"{base}/change-schedule", {"billing_period": "week", "billing_interval": 1}, format="json"
    )

    assert set(answers.values()) == {200}
    assert (skip.status_code, pause.status_code, change.status_code) == (200, 200, 200)


@pytest.mark.parametrize("pk", ["abc", "99999999"])
def test_an_unknown_or_malformed_id_is_a_json_404(api_client_for, org_a, pk):
    client = api_client_for(org_a)

    assert client.get(f"{URL}{pk}/").status_code == 404
    response = client.post(f"{URL}{pk}/pause/", {}, format="json")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


def test_subscriptions_are_neither_deleted_nor_edited_directly(api_client_for, org_a):
    subscription = _subscription(org_a, S.ACTIVE)
    client = api_client_for(org_a)

    assert client.delete(_url(subscription)).status_code == 405
    assert (
        client.patch(_url(subscription), {"status": "canceled"}, format="json").status_code == 405
    )
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE


def test_the_schema_documents_every_operation_and_its_errors():
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    paths = json.loads(out.getvalue())["paths"]

    operations = {
        (path, method): op
        for path, item in paths.items()
        if path.startswith("/api/v1/subscriptions") and "/preferences" not in path
        for method, op in item.items()
        if method != "parameters"
    }
    action = {"200", "400", "401", "404", "409"}
    expected = {
        ("/api/v1/subscriptions/", "get"): {"200", "400", "401"},
        ("/api/v1/subscriptions/", "post"): {"201", "400", "401"},
        ("/api/v1/subscriptions/{id}/", "get"): {"200", "401", "404"},
        # 400: a bad `page` or `page_size` (crm.api.pagination).
        ("/api/v1/subscriptions/{id}/events/", "get"): {"200", "400", "401", "404"},
        ("/api/v1/subscriptions/{id}/charges/", "get"): {"200", "400", "401", "404"},
        ("/api/v1/subscriptions/{id}/schedule/", "get"): {"200", "401", "404"},
        # Staff notes (crm.api.notes): paginated; a note's text is checked (400).
        ("/api/v1/subscriptions/{id}/notes/", "get"): {"200", "400", "401", "404"},
        ("/api/v1/subscriptions/{id}/notes/", "post"): {"201", "400", "401", "404"},
        # Charge now takes no input; a bulk action answers per id (unknown ids included).
        ("/api/v1/subscriptions/{id}/charge-now/", "post"): {"200", "401", "404", "409"},
        ("/api/v1/subscriptions/bulk/", "post"): {"200", "400", "401"},
        **{
            (f"/api/v1/subscriptions/{{id}}/{segment}/", "post"): action
            for segment in (
                "pause",
                "resume",
                "skip",
                "change-schedule",
                "change-items",
                "cancel",
                "withdraw-cancellation",
                "skip-cycle",
                "unskip-cycle",
                "move-next-date",
            )
        },
    }
    assert {key: own_responses(op["responses"]) for key, op in operations.items()} == expected
    assert all(op["tags"] == ["subscriptions"] for op in operations.values())
    listed = {p["name"] for p in operations["/api/v1/subscriptions/", "get"]["parameters"]}
    assert {
        "status",
        "customer",
        "source",
        "next_charge_after",
        "next_charge_before",
        "q",
    } <= listed


# --- The rules where actions meet (issue 25) ------------------------------------------------


def test_the_rules_where_actions_meet_hold_through_the_api(api_client_for, org_a):
    client = api_client_for(org_a)
    # Given a subscription paused with no resume date, one canceled at period end, and
    # one whose next charge is pending at the gateway
    paused = _subscription(org_a, S.PAUSED)
    ending = _subscription(org_a, S.ACTIVE, cancel_at_period_end=True, cancel_reason="Moving")
    charging = _subscription(org_a, S.ACTIVE)
    start, end = charging.cycle_bounds(1)
    charging.charges.create(
        organization=org_a,
        cycle=1,
        period_start=start,
        period_end=end,
        amount=Decimal("12.50"),
        currency="EUR",
        status="pending",
    )
    refused = [
        (paused, "skip", {}, "no resume date"),
        (ending, "change-items", {"items": _new_items(ending)}, "Withdraw the cancellation"),
        (
            charging,
            "change-schedule",
            {"billing_period": "week", "billing_interval": 2},
            "already being charged",
        ),
    ]

    for subscription, segment, body, says in refused:
        row_before = _row(subscription)
        # When the action is posted, then it is a 409 saying why, and nothing changes
        response = client.post(_url(subscription, segment), body, format="json")
        assert response.status_code == 409, response.json()
        assert says in response.json()["message"]
        assert _row(subscription) == row_before

    # And the first two are not offered; a paused one's next charge is not known
    assert "skip" not in client.get(_url(paused)).json()["available_actions"]
    assert "change-items" not in client.get(_url(ending)).json()["available_actions"]
    assert client.get(_url(paused)).json()["next_due_at"] is None
