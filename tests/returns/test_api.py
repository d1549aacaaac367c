"""The returns API: open a case, every action from every status, scoping, input errors, reads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from core.actors import Actor
from fulfillment.models import Batch, BatchLine
from returns import services
from returns.models import ReturnConfig, ReturnNote, ReturnReason, ReturnRequest
from subscriptions.models import Charge, Subscription
from tests.api_schema import own_responses
from tests.factories import (
    MembershipFactory,
    ProductFactory,
    UserFactory,
    billing_settings,
    delivered_boxes,
    opened_case,
)

pytestmark = pytest.mark.django_db

S = ReturnRequest.Status
URL = "/api/v1/returns/"
NOW = timezone.now()


# --- Given -----------------------------------------------------------------------------


@pytest.fixture
def colleague(org_a):
    user = UserFactory(username="paul")
    MembershipFactory(user=user, organization=org_a, role="admin")
    return user


@pytest.fixture
def shipment(org_a):
    billing_settings(org_a, gateway="test")
    return delivered_boxes(org_a, delivered_at=NOW - timedelta(days=3))[0]


# How a staff member brings a case to each status, through the services.
PATHS = {
    S.REQUESTED: [],
    S.APPROVED: ["approve"],
    S.REJECTED: ["reject"],
    S.RECEIVED: ["approve", "receive"],
    S.RESOLVED: ["approve", "receive", "resolve"],
    S.CANCELED: ["cancel"],
}
STEPS = {
    "approve": lambda case, actor: services.return_approve(case=case, actor=actor),
    "reject": lambda case, actor: services.return_reject(case=case, actor=actor, reason="No"),
    "receive": lambda case, actor: services.return_receive(case=case, actor=actor),
    "resolve": lambda case, actor: services.return_resolve(
        case=case, actor=actor, resolution="none"
    ),
    "cancel": lambda case, actor: services.return_cancel(case=case, actor=actor),
}


def case_in(status, org, shipment, staff):
    case = opened_case(org, shipment, staff)
    for step in PATHS[status]:
        STEPS[step](case, Actor.for_user(staff))
    case.refresh_from_db()
    assert case.status == status
    return case


def _url(case, action=""):
    return f"{URL}{case.pk}/" + (f"{action}/" if action else "")


def written(org):
    """Everything an action on a case could write: cases, notes, boxes, money."""
    return (
        list(ReturnRequest.objects.filter(organization=org).order_by("id").values()),
        list(ReturnNote.objects.filter(organization=org).values_list("id", flat=True)),
        list(BatchLine.objects.filter(organization=org).values_list("id", "status", "batch_id")),
        list(Subscription.objects.filter(organization=org).values_list("id", "adjustment")),
        list(
            Charge.objects.filter(organization=org).values_list("id", "status", "refunded_amount")
        ),
    )


# --- Every action from every status --------------------------------------------------------

# API action (URL segment) -> a valid body; "ASSIGNEE" is replaced by another staff member.
ACTIONS = {
    "approve": {"note": "Photo received"},
    "reject": {"reason": "Opened and used"},
    "receive": {"note": "Parcel back today"},
    "resolve": {"resolution": "none", "note": "Goods kept"},
    "cancel": {"reason": "Customer withdrew"},
    "reassign": {"assignee": "ASSIGNEE"},
    "notes": {"text": "Called the customer"},
    "confirm-shop-refund": {},
}
# (status, action) -> the status after it; absent: refused with 409 and nothing written.
ALLOWED = {
    (S.REQUESTED, "approve"): S.APPROVED,
    (S.REQUESTED, "reject"): S.REJECTED,
    (S.REQUESTED, "cancel"): S.CANCELED,
    (S.APPROVED, "receive"): S.RECEIVED,
    (S.APPROVED, "resolve"): S.RESOLVED,
    (S.APPROVED, "cancel"): S.CANCELED,
    (S.RECEIVED, "resolve"): S.RESOLVED,
    **{(status, "reassign"): status for status in ReturnRequest.OPEN},
    # A note can be added whatever the status.
    **{(status, "notes"): status for status in S.values},
    # confirm-shop-refund: only with a refund waiting in the shop (see below).
}
CASES = [(status, action) for status in S.values for action in ACTIONS]


def _body(action, assignee):
    return {
        key: assignee.pk if value == "ASSIGNEE" else value for key, value in ACTIONS[action].items()
    }


@pytest.mark.parametrize(("status", "action"), CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_every_action_from_every_status(
    api_client_a, org_a, shipment, staff_user_a, colleague, status, action
):
    # Given a case in `status`, as the API shows it
    case = case_in(status, org_a, shipment, staff_user_a)
    shown = api_client_a.get(_url(case)).json()
    before = written(org_a)
    body = _body(action, colleague)
    expected = ALLOWED.get((status, action))

    # When the action is posted with an API key
    response = api_client_a.post(_url(case, action), body, format="json")

    if expected is None:
        # Then it is refused with 409 and the service's message, and nothing is written
        assert response.status_code == 409, response.json()
        assert set(response.json()) == {"message", "extra"}
        if action == "confirm-shop-refund":
            assert "no refund waiting" in response.json()["message"]
        else:
            assert response.json()["message"].startswith("Cannot ")
            assert response.json()["extra"]["status"] == status
        assert written(org_a) == before
        assert api_client_a.get(_url(case)).json() == shown
    else:
        # Then it answers with the case as it is afterwards, one more entry in its timeline
        assert response.status_code == (201 if action == "notes" else 200), response.json()
        after = response.json()
        assert (after["id"], after["status"]) == (case.pk, expected)
        assert api_client_a.get(_url(case)).json() == after
        assert len(after["timeline"]) == len(shown["timeline"]) + 1
        newest = after["timeline"][-1]
        assert (newest["actor_kind"], newest["actor_label"]) == ("api_key", "integration")
        if action == "notes":
            assert (newest["kind"], newest["text"]) == ("note", "Called the customer")
        elif action == "reassign":
            assert newest["kind"] == "assigned"
            assert after["assignee"] == {"id": colleague.pk, "username": "paul", "name": ""}
        else:
            assert (newest["kind"], newest["from_status"], newest["to_status"]) == (
                "status",
                status,
                expected,
            )
            assert newest["text"] == body.get("note", body.get("reason"))
        assert (after["closed_at"] is not None) == (expected not in ReturnRequest.OPEN)
    # The actions the case offered beforehand said as much (a note is always possible)
    if action != "notes":
        assert (action in shown["available_actions"]) == (expected is not None)


def test_a_woocommerce_refund_waits_for_the_shop_then_is_confirmed(
    api_client_a, org_a, shipment, staff_user_a
):
    # Given an approved case about a box the shop charged (order 1042)
    charge = shipment.line.charge
    Subscription.objects.filter(pk=shipment.line.subscription_id).update(source="woocommerce")
    Charge.objects.filter(pk=charge.pk).update(external_reference="1042")
    case = case_in(S.APPROVED, org_a, shipment, staff_user_a)

    # When it is resolved by a refund
    resolved = api_client_a.post(
        _url(case, "resolve"), {"resolution": "refund", "amount": "5.00"}, format="json"
    )

    # Then the refund is to be made in the shop, and nothing is recorded against the charge
    assert resolved.status_code == 200, resolved.json()
    body = resolved.json()
    assert (body["status"], body["refund"], body["amount"], body["charge"]) == (
        "resolved",
        "to_refund_in_shop",
        "5.00",
        charge.pk,
    )
    assert body["available_actions"] == ["confirm-shop-refund"]
    assert "order 1042" in body["timeline"][-1]["text"]
    charge.refresh_from_db()
    assert charge.refunded_amount == 0

    # When staff say it was made in the shop; then it is done, and cannot be said twice
    confirmed = api_client_a.post(
        _url(case, "confirm-shop-refund"), {"note": "Done"}, format="json"
    )
    assert confirmed.status_code == 200
    assert (confirmed.json()["refund"], confirmed.json()["available_actions"]) == (
        "refunded_in_shop",
        [],
    )
    assert confirmed.json()["timeline"][-1]["text"] == "Done"
    before = written(org_a)
    again = api_client_a.post(_url(case, "confirm-shop-refund"), {}, format="json")
    assert again.status_code == 409
    assert written(org_a) == before


# --- Opening a case ------------------------------------------------------------------------


def test_open_a_case_with_the_settings_defaults(api_client_a, org_a, shipment, staff_user_a):
    # Given the organization's default assignee and service level
    config = services.return_config_ensure(organization=org_a)
    ReturnConfig.objects.filter(pk=config.pk).update(
        default_assignee=staff_user_a, service_level_days=2
    )
    product = shipment.line.items[0]["product"]

    # When an integration opens a case about one product of the box
    response = api_client_a.post(
        URL,
        {
            "shipment": shipment.pk,
            "reason": "damaged",
            "description": " Bag torn ",
            "items": [{"product": product, "quantity": 1}],
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )

    # Then it is requested, assigned, due in two days, about that box
    assert response.status_code == 201, response.json()
    body = response.json()
    case = ReturnRequest.objects.get()
    assert body["id"] == case.pk
    assert (body["status"], body["description"]) == ("requested", "Bag torn")
    assert body["reason"] == {"code": "damaged", "label": "Abîmé pendant le transport"}
    assert (body["shipment"], body["line"], body["subscription"]) == (
        shipment.pk,
        shipment.line_id,
        shipment.line.subscription_id,
    )
    assert body["customer"]["id"] == shipment.customer_id
    assert [(item["product"], item["quantity"]) for item in body["items"]] == [(product, 1)]
    assert body["assignee"] == {"id": staff_user_a.pk, "username": "claire", "name": "Claire Petit"}
    assert case.due_at - case.opened_at == timedelta(days=2)
    assert (body["overdue"], body["closed_at"], body["currency"]) == (False, None, "EUR")
    assert [(e["kind"], e["actor_kind"]) for e in body["timeline"]] == [
        ("opened", "api_key"),
        ("assigned", "api_key"),
    ]
    assert body["available_actions"] == ["approve", "reject", "cancel", "reassign"]


def test_open_with_no_assignee_overrides_the_default(api_client_a, org_a, shipment, staff_user_a):
    config = services.return_config_ensure(organization=org_a)
    ReturnConfig.objects.filter(pk=config.pk).update(default_assignee=staff_user_a)

    response = api_client_a.post(
        URL, {"shipment": shipment.pk, "reason": "wrong_item", "assignee": None}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert (response.json()["assignee"], response.json()["items"]) == (None, [])
    assert [entry["kind"] for entry in response.json()["timeline"]] == ["opened"]


def _delivered(org, delivered_at):
    billing_settings(org, gateway="test")
    return delivered_boxes(org, delivered_at=delivered_at)[0]


def test_the_last_day_of_the_window_is_in_and_the_next_is_out(api_client_for, org_a):
    # Given a box delivered on 2 November (window of 14 days: until 16 November)
    tz = org_a.tzinfo
    shipment = _delivered(org_a, datetime(2026, 11, 2, 17, 30, tzinfo=tz))
    client = api_client_for(org_a)
    body = {"shipment": shipment.pk, "reason": "damaged"}

    # When a request comes a minute after the window closed
    with time_machine.travel(datetime(2026, 11, 17, 0, 1, tzinfo=tz), tick=False):
        late = client.post(URL, body, format="json")

    # Then it is refused with the day it closed, and nothing is written
    assert late.status_code == 400
    assert "closed on" in late.json()["message"]
    assert late.json()["extra"]["window_closed_on"] == "2026-11-16"
    assert "override_reason" in late.json()["extra"]["fields"]
    assert not ReturnRequest.objects.exists()
    assert not ReturnNote.objects.exists()

    # When it comes a minute before; then it is opened
    with time_machine.travel(datetime(2026, 11, 16, 23, 59, tzinfo=tz), tick=False):
        in_time = client.post(URL, body, format="json")
    assert in_time.status_code == 201, in_time.json()
    assert in_time.json()["window_override"] == ""


def test_an_api_key_cannot_override_the_window(api_client_a, org_a):
    shipment = _delivered(org_a, NOW - timedelta(days=30))

    response = api_client_a.post(
        URL,
        {"shipment": shipment.pk, "reason": "damaged", "override_reason": "Loyal customer"},
        format="json",
    )

    assert response.status_code == 400
    assert "Only a staff member" in response.json()["message"]
    assert "override_reason" in response.json()["extra"]["fields"]
    assert not ReturnRequest.objects.exists()
    assert not ReturnNote.objects.exists()


def test_a_shipment_with_an_open_case_is_a_409(api_client_a, org_a, shipment, staff_user_a):
    first = opened_case(org_a, shipment, staff_user_a)
    before = written(org_a)

    response = api_client_a.post(URL, {"shipment": shipment.pk, "reason": "other"}, format="json")

    assert response.status_code == 409
    assert response.json()["extra"] == {"case": first.pk}
    assert written(org_a) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "bored"}, "reason"),
        ({"reason": ""}, "reason"),
        ({"shipment": None}, "shipment"),
        ({"shipment": "abc"}, "shipment"),
        ({"shipment": 99999999}, "shipment"),
        ({"items": [{"product": 99999999, "quantity": 1}]}, "items"),
        ({"items": [{"product": "IN_BOX", "quantity": "TOO_MANY"}]}, "items"),
        ({"items": [{"product": "IN_BOX", "quantity": 0}]}, "items"),
        ({"items": [{"product": "IN_BOX"}, {"product": "IN_BOX"}]}, "items"),
        ({"items": "everything"}, "items"),
        ({"assignee": "OUTSIDER"}, "assignee"),
        ({"assignee": "VIEWER"}, "assignee"),
    ],
)
def test_bad_open_input_is_a_400_naming_the_field_and_writes_nothing(
    api_client_a, org_a, shipment, body, field
):
    # Given a box of one product, a user of no organization and a viewer of this one
    in_box = shipment.line.items[0]
    viewer = UserFactory()
    MembershipFactory(user=viewer, organization=org_a, role="viewer")
    replace = {
        "IN_BOX": in_box["product"],
        "TOO_MANY": in_box["quantity"] + 1,
        "OUTSIDER": UserFactory().pk,
        "VIEWER": viewer.pk,
    }

    def resolved(value):
        if isinstance(value, list):
            return [resolved(item) for item in value]
        if isinstance(value, dict):
            return {key: resolved(item) for key, item in value.items()}
        return replace.get(value, value) if isinstance(value, str) else value

    data = {"shipment": shipment.pk, "reason": "damaged", **resolved(body)}
    before = written(org_a)

    response = api_client_a.post(URL, data, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["message"] == "Invalid input."
    assert field in response.json()["extra"]["fields"]
    assert written(org_a) == before
    assert not ReturnRequest.objects.exists()


def test_another_organizations_shipment_cannot_be_the_subject(api_client_for, org_a, org_b):
    # Given a box B delivered
    foreign = _delivered(org_b, NOW - timedelta(days=1))

    # When A's key opens a case about it
    response = api_client_for(org_a).post(
        URL, {"shipment": foreign.pk, "reason": "damaged"}, format="json"
    )

    # Then it is an unknown shipment, and nothing is written in either organization
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"shipment": ["Unknown shipment."]}
    assert not ReturnRequest.objects.exists()
    assert not ReturnNote.objects.exists()
    assert not ReturnConfig.objects.filter(organization=org_b).exists()


# --- Bad input to an action ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "action", "body", "field"),
    [
        (S.REQUESTED, "reject", {}, "reason"),
        (S.REQUESTED, "reject", {"reason": "   "}, "reason"),
        (S.APPROVED, "resolve", {}, "resolution"),
        (S.APPROVED, "resolve", {"resolution": "gift"}, "resolution"),
        (S.APPROVED, "resolve", {"resolution": "refund"}, "amount"),
        (S.APPROVED, "resolve", {"resolution": "refund", "amount": None}, "amount"),
        (S.APPROVED, "resolve", {"resolution": "refund", "amount": "999.00"}, "amount"),
        (S.APPROVED, "resolve", {"resolution": "credit", "amount": "-3"}, "amount"),
        (S.APPROVED, "resolve", {"resolution": "credit", "amount": "abc"}, "amount"),
        (S.APPROVED, "resolve", {"resolution": "credit", "amount": "1.234"}, "amount"),
        (S.APPROVED, "resolve", {"resolution": "none", "amount": "5"}, "amount"),
        (S.APPROVED, "resolve", {"resolution": "replacement", "amount": "5"}, "amount"),
        (S.REQUESTED, "reassign", {}, "assignee"),
        (S.REQUESTED, "reassign", {"assignee": "someone"}, "assignee"),
        (S.REQUESTED, "reassign", {"assignee": 99999999}, "assignee"),
        (S.REQUESTED, "notes", {}, "text"),
        (S.RESOLVED, "notes", {"text": "  "}, "text"),
    ],
)
def test_bad_action_input_is_a_400_naming_the_field_and_writes_nothing(
    api_client_a, org_a, shipment, staff_user_a, status, action, body, field
):
    case = case_in(status, org_a, shipment, staff_user_a)
    before = written(org_a)

    response = api_client_a.post(_url(case, action), body, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["message"] == "Invalid input."
    assert field in response.json()["extra"]["fields"]
    assert written(org_a) == before


def test_a_case_cannot_be_given_to_another_organizations_staff(
    api_client_a, org_a, shipment, staff_user_a, staff_user_b
):
    case = case_in(S.REQUESTED, org_a, shipment, staff_user_a)
    before = written(org_a)

    response = api_client_a.post(
        _url(case, "reassign"), {"assignee": staff_user_b.pk}, format="json"
    )

    assert response.status_code == 400
    assert "assignee" in response.json()["extra"]["fields"]
    assert written(org_a) == before


def test_reassign_to_nobody(api_client_a, org_a, shipment, staff_user_a):
    case = opened_case(org_a, shipment, staff_user_a, assignee=staff_user_a)

    response = api_client_a.post(_url(case, "reassign"), {"assignee": None}, format="json")

    assert response.status_code == 200
    assert response.json()["assignee"] is None
    assert response.json()["timeline"][-1]["data"] == {
        "assignee": None,
        "previous": staff_user_a.pk,
    }


# --- Resolutions -----------------------------------------------------------------------------


def test_a_replacement_is_a_ready_line_of_the_open_batch(api_client_a, org_a, staff_user_a):
    # Given an approved case about the mug of a box of coffee and a mug
    billing_settings(org_a, gateway="test")
    coffee, mug = ProductFactory(organization=org_a), ProductFactory(organization=org_a)
    shipment = delivered_boxes(
        org_a, delivered_at=NOW - timedelta(days=2), items=[(coffee, 2), (mug, 1)]
    )[0]
    opened = api_client_a.post(
        URL,
        {"shipment": shipment.pk, "reason": "damaged", "items": [{"product": mug.pk}]},
        format="json",
    )
    case = ReturnRequest.objects.get(pk=opened.json()["id"])
    assert api_client_a.post(_url(case, "approve"), {}, format="json").status_code == 200

    # When it is resolved by a replacement
    response = api_client_a.post(
        _url(case, "resolve"), {"resolution": "replacement"}, format="json"
    )

    # Then a ready replacement box of the mug is in the open batch, and the case says where
    assert response.status_code == 200, response.json()
    body = response.json()
    line = BatchLine.objects.get(pk=body["replacement_line"])
    batch = Batch.objects.get(organization=org_a, status="open")
    assert body["replacement_batch"] == batch.pk
    assert (line.batch, line.kind, line.status, line.subscription_id, line.charge) == (
        batch,
        "replacement",
        "ready",
        shipment.line.subscription_id,
        None,
    )
    assert [(item["product"], item["quantity"]) for item in line.items] == [(mug.pk, 1)]
    assert (body["status"], body["resolution"], body["amount"]) == ("resolved", "replacement", None)
    assert [entry["kind"] for entry in body["timeline"][-2:]] == ["status", "replacement"]
    assert body["timeline"][-1]["data"]["line"] == line.pk


def test_a_credit_changes_the_subscriptions_adjustment_by_exactly_its_amount(
    api_client_a, org_a, shipment, staff_user_a
):
    subscription = shipment.line.subscription
    adjustment = Subscription.objects.get(pk=subscription.pk).adjustment
    case = case_in(S.RECEIVED, org_a, shipment, staff_user_a)

    response = api_client_a.post(
        _url(case, "resolve"), {"resolution": "credit", "amount": "4.30"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["resolution"], body["amount"], body["currency"]) == ("credit", "4.30", "EUR")
    assert Subscription.objects.get(pk=subscription.pk).adjustment == adjustment - Decimal("4.30")
    assert subscription.events.filter(kind="credit_granted").count() == 1
    assert body["timeline"][-1]["kind"] == "credit"


def test_a_refund_is_recorded_against_the_boxs_charge(api_client_a, org_a, shipment, staff_user_a):
    charge = shipment.line.charge
    case = case_in(S.APPROVED, org_a, shipment, staff_user_a)

    response = api_client_a.post(
        _url(case, "resolve"),
        {"resolution": "refund", "amount": str(charge.amount), "note": "Sorry"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["refund"], body["charge"], body["amount"]) == (
        "recorded",
        charge.pk,
        str(charge.amount),
    )
    charge.refresh_from_db()
    assert (charge.status, charge.refunded_amount) == ("refunded", charge.amount)
    assert body["timeline"][-2]["text"] == "Sorry"


# --- Isolation between organizations -----------------------------------------------------


@pytest.mark.parametrize("action", ["", *ACTIONS])
def test_another_organizations_case_is_404_everywhere(
    api_client_for, org_a, org_b, shipment, staff_user_a, colleague, action
):
    # Given A's requested case
    case = case_in(S.REQUESTED, org_a, shipment, staff_user_a)
    before = written(org_a)
    client = api_client_for(org_b)

    # When B's key reads it or acts on it
    if action:
        body = _body(action, colleague)
        response = client.post(_url(case, action), body, format="json")
    else:
        response = client.get(_url(case))

    # Then it does not exist for B, and nothing is written
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}
    assert written(org_a) == before


def test_the_list_shows_only_the_keys_organization(
    api_client_for, org_a, org_b, shipment, staff_user_a
):
    opened_case(org_a, shipment, staff_user_a)
    theirs = _delivered(org_b, NOW - timedelta(days=1))
    mine = services.return_open(
        organization=org_b, shipment=theirs, reason="other", actor=Actor.system()
    )

    response = api_client_for(org_b).get(URL)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


@pytest.mark.parametrize("pk", ["abc", "99999999"])
def test_an_unknown_or_malformed_id_is_a_json_404(api_client_a, pk):
    assert api_client_a.get(f"{URL}{pk}/").status_code == 404
    response = api_client_a.post(f"{URL}{pk}/approve", {}, format="json")
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", URL), ("post", URL), ("get", "/api/v1/return-reasons"), ("post", URL + "1/approve")],
)
def test_without_a_key_every_endpoint_is_401(client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}


# --- Reads -----------------------------------------------------------------------------------


def test_list_filters(api_client_a, org_a, staff_user_a, colleague):
    # Given four boxes: cases requested (damaged, Claire's), approved (wrong item, Paul's,
    # overdue), rejected (past its due date, but closed) and canceled
    billing_settings(org_a, gateway="test")
    boxes = delivered_boxes(org_a, delivered_at=NOW - timedelta(days=2), count=4)
    requested = opened_case(org_a, boxes[0], staff_user_a, assignee=staff_user_a)
    approved = opened_case(org_a, boxes[1], staff_user_a, reason="wrong_item", assignee=colleague)
    rejected = opened_case(org_a, boxes[2], staff_user_a)
    canceled = opened_case(org_a, boxes[3], staff_user_a, assignee=None)
    actor = Actor.for_user(staff_user_a)
    services.return_approve(case=approved, actor=actor)
    services.return_reject(case=rejected, actor=actor, reason="No photo")
    services.return_cancel(case=canceled, actor=actor)
    yesterday = NOW - timedelta(days=1)
    ReturnRequest.objects.filter(pk__in=[approved.pk, rejected.pk]).update(due_at=yesterday)

    def ids(**params):
        response = api_client_a.get(URL, params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [canceled.pk, rejected.pk, approved.pk, requested.pk]  # newest first
    assert ids(status="approved") == [approved.pk]
    assert ids(status=["requested", "canceled"]) == [canceled.pk, requested.pk]
    assert ids(reason="wrong_item") == [approved.pk]
    assert ids(reason="missing") == []
    assert ids(assignee=colleague.pk) == [approved.pk]
    assert ids(overdue="true") == [approved.pk]
    assert ids(overdue="false") == [canceled.pk, rejected.pk, requested.pk]
    assert ids(customer=boxes[2].customer_id) == [rejected.pk]
    assert ids(shipment=boxes[3].pk) == [canceled.pk]
    assert ids(subscription=boxes[0].line.subscription_id) == [requested.pk]
    assert ids(status="requested", assignee=colleague.pk) == []
    rows = {row["id"]: row for row in api_client_a.get(URL).json()["results"]}
    assert (rows[approved.pk]["overdue"], rows[rejected.pk]["overdue"]) == (True, False)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"overdue": "maybe"}, "overdue"),
        ({"assignee": "claire"}, "assignee"),
        ({"shipment": "x"}, "shipment"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_it(api_client_a, params, field):
    response = api_client_a.get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]


@pytest.mark.parametrize("rows", [3, 30])
def test_list_queries_do_not_grow_with_its_length(
    api_client_a, org_a, staff_user_a, django_assert_max_num_queries, rows
):
    billing_settings(org_a, gateway="test")
    boxes = delivered_boxes(org_a, delivered_at=NOW - timedelta(days=2), count=rows)
    for box in boxes:
        case = opened_case(org_a, box, staff_user_a, assignee=staff_user_a)
        services.return_add_note(case=case, actor=Actor.for_user(staff_user_a), text="Called")

    with django_assert_max_num_queries(4):  # key, count, page with its joins, timelines
        response = api_client_a.get(URL, {"page_size": 50})

    assert response.json()["count"] == rows
    results = response.json()["results"]
    assert all(len(row["timeline"]) == 3 for row in results)  # opened, assigned, note
    assert all(row["assignee"]["username"] == "claire" for row in results)


def test_a_case_shows_every_documented_field(api_client_a, org_a, shipment, staff_user_a):
    case = case_in(S.APPROVED, org_a, shipment, staff_user_a)

    body = api_client_a.get(_url(case), HTTP_ACCEPT_LANGUAGE="en").json()

    assert set(body) == {
        "id",
        "status",
        "customer",
        "shipment",
        "line",
        "subscription",
        "reason",
        "description",
        "items",
        "assignee",
        "window_override",
        "resolution",
        "amount",
        "currency",
        "refund",
        "charge",
        "replacement_line",
        "replacement_batch",
        "overdue",
        "due_at",
        "opened_at",
        "closed_at",
        "updated_at",
        "available_actions",
        "timeline",
    }
    assert body["reason"] == {"code": "damaged", "label": "Damaged in transit"}
    assert set(body["timeline"][-1]) == {
        "id",
        "kind",
        "from_status",
        "to_status",
        "text",
        "actor_kind",
        "actor_label",
        "data",
        "created_at",
    }
    assert (body["timeline"][-1]["actor_kind"], body["timeline"][-1]["actor_label"]) == (
        "user",
        "claire",
    )


# --- Reasons ---------------------------------------------------------------------------------


def test_the_reasons_are_created_on_first_use_and_listed_in_order(api_client_for, org_a, org_b):
    client = api_client_for(org_a)

    english = client.get("/api/v1/return-reasons", HTTP_ACCEPT_LANGUAGE="en")
    french = client.get("/api/v1/return-reasons/", HTTP_ACCEPT_LANGUAGE="fr")

    assert english.status_code == 200
    assert [row["code"] for row in english.json()] == [
        "damaged",
        "wrong_item",
        "not_as_described",
        "missing",
        "changed_mind",
        "other",
    ]
    assert english.json()[0] == {
        "code": "damaged",
        "label": "Damaged in transit",
        "labels": {"en": "Damaged in transit", "fr": "Abîmé pendant le transport"},
        "position": 0,
    }
    assert french.json()[0]["label"] == "Abîmé pendant le transport"
    assert ReturnReason.objects.filter(organization=org_a).count() == 6
    assert not ReturnReason.objects.filter(organization=org_b).exists()


def test_a_retired_reason_is_not_listed_and_cannot_be_used(api_client_a, org_a, shipment):
    services.return_config_ensure(organization=org_a)
    ReturnReason.objects.filter(organization=org_a, code="changed_mind").update(active=False)
    ReturnReason.objects.create(organization=org_a, code="late", label="Late", position=9)

    codes = [row["code"] for row in api_client_a.get("/api/v1/return-reasons").json()]
    refused = api_client_a.post(
        URL, {"shipment": shipment.pk, "reason": "changed_mind"}, format="json"
    )

    assert "changed_mind" not in codes
    assert codes[-1] == "late"
    assert refused.status_code == 400
    assert "reason" in refused.json()["extra"]["fields"]


# --- The documentation -----------------------------------------------------------------------


def test_the_schema_documents_the_returns_api_without_warnings():
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    schema = json.loads(out.getvalue())
    paths = schema["paths"]
    action = {"200", "400", "401", "404", "409"}
    assert own_responses(paths["/api/v1/returns/"]["get"]["responses"]) == {"200", "400", "401"}
    assert own_responses(paths["/api/v1/returns/"]["post"]["responses"]) == {
        "201",
        "400",
        "401",
        "409",
    }
    assert set(paths["/api/v1/returns/{id}/"]) - {"parameters"} == {"get"}
    for segment in ("approve", "reject", "receive", "resolve", "cancel", "reassign"):
        assert (
            own_responses(paths[f"/api/v1/returns/{{id}}/{segment}/"]["post"]["responses"])
            == action
        )
    assert "201" in paths["/api/v1/returns/{id}/notes/"]["post"]["responses"]
    assert "/api/v1/returns/{id}/confirm-shop-refund/" in paths
    assert "/api/v1/return-reasons/" in paths
    parameters = {p["name"] for p in paths["/api/v1/returns/"]["get"]["parameters"]}
    assert {"status", "reason", "assignee", "overdue", "customer", "shipment"} <= parameters
    assert "an API key cannot" in paths["/api/v1/returns/"]["post"]["description"]
    assert schema["components"]["schemas"]["ReturnCaseStatusEnum"]["enum"] == S.values
