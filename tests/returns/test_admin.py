"""The after-sales back office, through the real admin URLs, as staff use it.

Organization A ("Purea Café", Europe/Paris, a 14-day return window) is the staff
member's; organization B someone else's. Every write goes through
`returns.services`: the case's timeline names the staff member who acted.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.actors import Actor
from crm.models import Membership
from fulfillment.models import BatchLine
from returns import services
from returns.models import DEFAULT_REASONS, ReturnConfig, ReturnNote, ReturnReason, ReturnRequest
from subscriptions.models import Charge, Subscription
from tests.factories import (
    ProductFactory,
    UserFactory,
    billing_settings,
    delivered_boxes,
    member,
    opened_case,
)
from tests.helpers import listed, messages_of, transitions_offered

pytestmark = pytest.mark.django_db

S = ReturnRequest.Status
Kind = ReturnNote.Kind
Role = Membership.Role
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
CASES = "/admin/returns/returnrequest/"
REASONS = "/admin/returns/returnreason/"
SETTINGS = "/admin/returns/returnconfig/"
SHIPMENTS = "/admin/fulfillment/shipment/"
NOW = timezone.now()


def case_url(case, suffix="change/"):
    return f"{CASES}{case.pk}/{suffix}"


def transition_url(case, name):
    return case_url(case, f"transition/{name}/")


def state(case):
    row = ReturnRequest.objects.filter(pk=case.pk).values().get()
    return row, list(ReturnNote.objects.filter(request=case).values_list("id", flat=True))


@pytest.fixture
def coffee(org_a):
    return ProductFactory(organization=org_a, sku="COF-250", name="Coffee beans")


@pytest.fixture
def mug(org_a):
    return ProductFactory(organization=org_a, sku="MUG-1", name="Mug")


@pytest.fixture
def boxes(org_a, coffee, mug):
    """Four boxes delivered three days ago, inside the 14-day window."""
    billing_settings(org_a, gateway="test")
    return delivered_boxes(
        org_a, delivered_at=NOW - timedelta(days=3), count=4, items=[(coffee, 2), (mug, 1)]
    )


@pytest.fixture
def shipment(boxes):
    return boxes[0]


def case_in(status, organization, shipment, user):
    actor = Actor.for_user(user)
    case = opened_case(organization, shipment, user)
    steps = {
        S.REQUESTED: [],
        S.APPROVED: [services.return_approve],
        S.RECEIVED: [services.return_approve, services.return_receive],
        S.REJECTED: [
            lambda case, actor: services.return_reject(case=case, actor=actor, reason="No")
        ],
        S.CANCELED: [services.return_cancel],
        S.RESOLVED: [
            services.return_approve,
            lambda case, actor: services.return_resolve(case=case, actor=actor, resolution="none"),
        ],
    }
    for step in steps[status]:
        step(case=case, actor=actor)
    case.refresh_from_db()
    return case


# --- The buttons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "button", "data", "after", "kind", "text"),
    [
        (
            S.REQUESTED,
            "approve",
            {"note": "Photo received"},
            S.APPROVED,
            Kind.STATUS,
            "Photo received",
        ),
        (S.REQUESTED, "reject", {"reason": "Opened box"}, S.REJECTED, Kind.STATUS, "Opened box"),
        (S.APPROVED, "receive", {"note": "Parcel back"}, S.RECEIVED, Kind.STATUS, "Parcel back"),
        (
            S.RECEIVED,
            "resolve",
            {"resolution": "none", "note": "Kept"},
            S.RESOLVED,
            Kind.STATUS,
            "Kept",
        ),
        (S.APPROVED, "cancel", {"reason": "Withdrawn"}, S.CANCELED, Kind.STATUS, "Withdrawn"),
        (S.REQUESTED, "add_note", {"text": "Called her"}, S.REQUESTED, Kind.NOTE, "Called her"),
        (S.RESOLVED, "add_note", {"text": "Thanked us"}, S.RESOLVED, Kind.NOTE, "Thanked us"),
    ],
)
def test_each_button_moves_the_case_through_the_service(
    admin_client_a, staff_user_a, org_a, shipment, status, button, data, after, kind, text
):
    case = case_in(status, org_a, shipment, staff_user_a)

    form = admin_client_a.get(transition_url(case, button), **EN)
    response = admin_client_a.post(transition_url(case, button), data, follow=True, **EN)

    assert form.status_code == 200
    assert response.redirect_chain[-1][0] == case_url(case)
    assert len(messages_of(response)) == 1
    case.refresh_from_db()
    assert case.status == after
    latest = case.notes.latest("id")
    assert (latest.kind, latest.text, latest.actor_user) == (kind, text, staff_user_a)
    if kind == Kind.STATUS:
        assert (latest.from_status, latest.to_status) == (status, after)
    # The timeline shows it, with who wrote it.
    timeline = response.context["inline_admin_formsets"][0]
    assert [row.instance for row in timeline.formset.forms] == list(case.notes.order_by("id"))
    assert "Claire Petit" in response.content.decode()


def test_reassign_gives_the_case_to_another_staff_member_or_to_nobody(
    admin_client_a, staff_user_a, org_a, shipment
):
    case = opened_case(org_a, shipment, staff_user_a)
    paul = member(org_a, Role.ADMIN, username="paul")
    viewer = member(org_a, Role.VIEWER, username="vera")
    outsider = UserFactory(username="out")

    form = admin_client_a.get(transition_url(case, "reassign"), **EN)
    offered = set(form.context["transition_form"].fields["assignee"].queryset)
    assigned = admin_client_a.post(
        transition_url(case, "reassign"), {"assignee": paul.pk}, follow=True, **EN
    )

    assert offered == {staff_user_a, paul}
    assert viewer not in offered
    assert outsider not in offered
    assert messages_of(assigned) == [f"{case} is assigned to paul."]
    case.refresh_from_db()
    assert case.assignee == paul
    note = case.notes.latest("id")
    assert (note.kind, note.data["assignee"], note.actor_user) == (
        Kind.ASSIGNED,
        paul.pk,
        staff_user_a,
    )
    assert "To paul." in assigned.content.decode()

    admin_client_a.post(transition_url(case, "reassign"), {"assignee": ""}, **EN)
    case.refresh_from_db()
    assert case.assignee is None


def test_resolve_prefills_the_refundable_amount_and_records_the_refund(
    admin_client_a, staff_user_a, org_a, shipment
):
    case = case_in(S.APPROVED, org_a, shipment, staff_user_a)
    charge = shipment.line.charge
    assert charge.refundable == charge.amount > 0

    form = admin_client_a.get(transition_url(case, "resolve"), **EN)
    response = admin_client_a.post(
        transition_url(case, "resolve"),
        {"resolution": "refund", "amount": "5.00", "note": "Half the box"},
        follow=True,
        **EN,
    )

    assert form.context["transition_form"]["amount"].value() == charge.refundable
    case.refresh_from_db()
    charge.refresh_from_db()
    assert (case.status, case.resolution, case.refund) == (S.RESOLVED, "refund", "recorded")
    assert (case.charge, case.amount, charge.refunded_amount) == (charge, Decimal("5.00"), 5)
    assert case.notes.filter(kind=Kind.REFUND).exists()
    content = response.content.decode()
    assert "Refund of 5.00 EUR recorded" in " ".join(messages_of(response))
    assert f"/admin/subscriptions/charge/{charge.pk}/change/" in content
    assert "refunded so far: 5.00 EUR" in content
    # The subscription's charges show the refunded amount.
    page = admin_client_a.get(
        f"/admin/subscriptions/subscription/{charge.subscription_id}/change/", **EN
    )
    charges = next(
        inline for inline in page.context["inline_admin_formsets"] if inline.formset.model is Charge
    )
    assert "refunded_amount" in charges.readonly_fields


def test_a_replacement_box_links_to_its_line_which_links_back_to_the_case(
    admin_client_a, staff_user_a, org_a, shipment, mug
):
    case = opened_case(org_a, shipment, staff_user_a, items=[{"product": mug.pk, "quantity": 1}])
    services.return_approve(case=case, actor=Actor.for_user(staff_user_a))

    admin_client_a.post(
        transition_url(case, "resolve"), {"resolution": "replacement", "amount": "9"}, **EN
    )

    case.refresh_from_db()
    line = case.replacement_line
    assert (case.status, case.amount, line.kind) == (S.RESOLVED, None, BatchLine.Kind.REPLACEMENT)
    page = admin_client_a.get(case_url(case), **EN).content.decode()
    assert f"/admin/fulfillment/batchline/{line.pk}/change/" in page
    line_page = admin_client_a.get(f"/admin/fulfillment/batchline/{line.pk}/change/", **EN)
    assert "Replacement" in line_page.content.decode()
    assert case_url(case) in line_page.content.decode()
    lines = admin_client_a.get(
        "/admin/fulfillment/batchline/", {"kind__exact": "replacement"}, **EN
    )
    assert listed(lines) == {line}


def test_a_refund_owed_in_the_shop_is_confirmed_by_its_button(admin_client_a, staff_user_a, org_a):
    shipment = delivered_boxes(
        org_a, delivered_at=NOW - timedelta(days=1), source=Subscription.Source.WOOCOMMERCE
    )[0]
    case = case_in(S.APPROVED, org_a, shipment, staff_user_a)
    assert "confirm_shop_refund" not in transitions_offered(admin_client_a.get(case_url(case)))
    services.return_resolve(
        case=case, actor=Actor.for_user(staff_user_a), resolution="refund", amount="7.50"
    )

    offered = transitions_offered(admin_client_a.get(case_url(case)))
    response = admin_client_a.post(
        transition_url(case, "confirm_shop_refund"), {"note": ""}, follow=True
    )

    assert offered == ["add_note", "confirm_shop_refund"]
    case.refresh_from_db()
    assert case.refund == ReturnRequest.Refund.REFUNDED_IN_SHOP
    assert case.notes.latest("id").kind == Kind.REFUND
    assert transitions_offered(response) == ["add_note"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.REQUESTED, ["add_note", "approve", "cancel", "reassign", "reject"]),
        (S.APPROVED, ["add_note", "cancel", "reassign", "receive", "resolve"]),
        (S.RECEIVED, ["add_note", "reassign", "resolve"]),
        (S.REJECTED, ["add_note"]),
        (S.RESOLVED, ["add_note"]),
        (S.CANCELED, ["add_note"]),
    ],
)
def test_only_the_buttons_the_status_allows_are_shown(
    admin_client_a, staff_user_a, org_a, shipment, status, expected
):
    case = case_in(status, org_a, shipment, staff_user_a)

    assert transitions_offered(admin_client_a.get(case_url(case))) == expected


def test_a_refused_button_shows_why_and_changes_nothing(
    admin_client_a, staff_user_a, org_a, shipment
):
    case = case_in(S.APPROVED, org_a, shipment, staff_user_a)
    before = state(case)

    # Approving an approved case: the service refuses (409), said as a message.
    posted = admin_client_a.post(transition_url(case, "approve"), {"note": "x"}, follow=True, **EN)
    # Opening the form says so at once.
    opened = admin_client_a.get(transition_url(case, "approve"), follow=True, **EN)
    # A refund larger than the charge: the service's error on the amount field.
    too_much = admin_client_a.post(
        transition_url(case, "resolve"), {"resolution": "refund", "amount": "9999"}, **EN
    )
    # A note must say something.
    empty = admin_client_a.post(transition_url(case, "add_note"), {"text": "  "}, **EN)

    assert messages_of(posted) == ["Cannot approve this case: it is approved."]
    assert messages_of(opened) == ["“Approve” is not possible now: the case is approved."]
    assert too_much.status_code == 200
    assert too_much.context["transition_form"].errors["amount"][0].startswith("At most")
    assert empty.context["transition_form"].errors["text"] == ["Write the note."]
    assert state(case) == before


def test_reject_needs_a_reason(admin_client_a, staff_user_a, org_a, shipment):
    case = opened_case(org_a, shipment, staff_user_a)
    before = state(case)

    response = admin_client_a.post(transition_url(case, "reject"), {"reason": ""}, **EN)

    assert response.status_code == 200
    assert response.context["transition_form"].errors["reason"] == [
        "Say why the request is rejected."
    ]
    assert state(case) == before


def test_a_viewer_sees_the_case_without_buttons_and_cannot_act(
    admin_client_for, staff_user_a, org_a, shipment
):
    case = opened_case(org_a, shipment, staff_user_a)
    viewer = admin_client_for(member(org_a, Role.VIEWER))
    before = state(case)

    page = viewer.get(case_url(case))

    assert page.status_code == 200
    assert transitions_offered(page) == []
    assert viewer.get(transition_url(case, "approve")).status_code == 403
    assert viewer.post(transition_url(case, "approve"), {}).status_code == 403
    assert viewer.post(transition_url(case, "add_note"), {"text": "x"}).status_code == 403
    assert viewer.get(f"{CASES}add/").status_code == 403
    assert state(case) == before


def test_another_organizations_case_is_not_found_nor_listed(
    admin_client_for, staff_user_a, staff_user_b, org_a, shipment
):
    case = opened_case(org_a, shipment, staff_user_a)
    other = admin_client_for(staff_user_b)
    before = state(case)

    for url in (case_url(case), transition_url(case, "approve"), case_url(case, "history/")):
        assert other.get(url).status_code == 404, url
    assert other.post(transition_url(case, "approve"), {}).status_code == 404
    assert listed(other.get(CASES)) == set()
    assert listed(other.get(CASES, {"q": str(case.pk)})) == set()
    assert state(case) == before


def test_an_unknown_button_is_not_found(admin_client_a, staff_user_a, org_a, shipment):
    case = opened_case(org_a, shipment, staff_user_a)

    assert admin_client_a.get(transition_url(case, "delete")).status_code == 404
    assert admin_client_a.get(transition_url(case, "save")).status_code == 404


# --- The add form ---------------------------------------------------------------------------


def test_a_case_is_opened_from_the_add_form_inside_the_window(
    admin_client_a, staff_user_a, org_a, shipment
):
    form = admin_client_a.get(f"{CASES}add/", {"shipment": shipment.pk}, **EN)
    reason = ReturnReason.objects.get(organization=org_a, code="wrong_item")

    response = admin_client_a.post(
        f"{CASES}add/?shipment={shipment.pk}",
        {
            "shipment": shipment.pk,
            "reason": reason.pk,
            "description": "Tea instead of coffee",
            "items": "cof-250 x 2",
            "assignee": "",
            "override_reason": "",
        },
        follow=True,
        **EN,
    )

    assert form.context["adminform"].form["shipment"].value() == str(shipment.pk)
    help_text = form.context["adminform"].form.fields["shipment"].help_text
    assert "The return window is open until the end of" in help_text
    assert "2 x Coffee beans (COF-250), 1 x Mug (MUG-1)" in help_text
    case = ReturnRequest.objects.get()
    assert response.redirect_chain[-1][0] == case_url(case)
    assert (case.shipment, case.reason, case.status, case.window_override) == (
        shipment,
        reason,
        S.REQUESTED,
        "",
    )
    assert [(item["sku"], item["quantity"]) for item in case.items] == [("COF-250", 2)]
    assert case.notes.get(kind=Kind.OPENED).actor_user == staff_user_a
    assert messages_of(response)[0].startswith(f"{case} is open, due ")


def test_outside_the_window_the_add_form_needs_an_override_reason(
    admin_client_a, staff_user_a, org_a
):
    billing_settings(org_a, gateway="test")
    late = delivered_boxes(org_a, delivered_at=NOW - timedelta(days=20))[0]
    services.return_config_ensure(organization=org_a)
    damaged = ReturnReason.objects.get(organization=org_a, code="damaged")
    data = {"shipment": late.pk, "reason": damaged.pk, "description": "", "items": ""}

    refused = admin_client_a.post(f"{CASES}add/", {**data, "override_reason": ""}, **EN)

    assert refused.status_code == 200
    form = refused.context["adminform"].form
    assert form.errors["override_reason"] == ["Required outside the return window."]
    assert form.non_field_errors()[0].startswith("The return window for this shipment closed on")
    assert "The return window closed on" in form.fields["shipment"].help_text
    assert not ReturnRequest.objects.exists()
    assert not ReturnNote.objects.exists()

    accepted = admin_client_a.post(
        f"{CASES}add/", {**data, "override_reason": "Customer was abroad"}, follow=True, **EN
    )

    case = ReturnRequest.objects.get()
    assert case.window_override == "Customer was abroad"
    override = case.notes.get(kind=Kind.OVERRIDE)
    assert (override.text, override.actor_user) == ("Customer was abroad", staff_user_a)
    content = accepted.content.decode()
    assert "Customer was abroad" in content
    assert "Accepted outside the return window" in content  # the timeline entry's kind


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ("TEA-9 1", "TEA-9 was not in this box, which held: 2 x Coffee beans (COF-250), 1 x Mug"),
        ("COF-250 3", "The box held 2 of Coffee beans, not 3."),
        ("COF-250", "Write each line as a SKU and a quantity"),
    ],
)
def test_items_the_box_did_not_hold_are_refused_on_the_form(
    admin_client_a, org_a, shipment, items, error
):
    services.return_config_ensure(organization=org_a)
    reason = ReturnReason.objects.get(organization=org_a, code="damaged")

    response = admin_client_a.post(
        f"{CASES}add/", {"shipment": shipment.pk, "reason": reason.pk, "items": items}, **EN
    )

    assert response.context["adminform"].form.errors["items"][0].startswith(error)
    assert not ReturnRequest.objects.exists()


def test_another_organizations_shipment_cannot_be_chosen(admin_client_a, org_a, org_b):
    billing_settings(org_b, gateway="test")
    theirs = delivered_boxes(org_b, delivered_at=NOW - timedelta(days=1))[0]
    services.return_config_ensure(organization=org_a)
    reason = ReturnReason.objects.get(organization=org_a, code="damaged")

    prefilled = admin_client_a.get(f"{CASES}add/", {"shipment": theirs.pk}, **EN)
    response = admin_client_a.post(
        f"{CASES}add/", {"shipment": theirs.pk, "reason": reason.pk}, **EN
    )

    assert prefilled.context["adminform"].form["shipment"].value() is None
    assert "shipment" in response.context["adminform"].form.errors
    assert not ReturnRequest.objects.exists()
    assert not ReturnConfig.objects.filter(organization=org_b).exists()


def test_a_second_open_case_for_a_shipment_is_refused_on_the_form(
    admin_client_a, staff_user_a, org_a, shipment
):
    first = opened_case(org_a, shipment, staff_user_a)

    response = admin_client_a.post(
        f"{CASES}add/", {"shipment": shipment.pk, "reason": first.reason_id}, **EN
    )

    assert response.context["adminform"].form.non_field_errors() == [
        f"Case {first.pk} is already open for this shipment."
    ]
    assert ReturnRequest.objects.count() == 1


# --- The list -----------------------------------------------------------------------------


@pytest.fixture
def four_cases(org_a, boxes, staff_user_a):
    """Damaged and assigned to Claire, late; wrong item for Paul; unassigned; closed."""
    paul = member(org_a, Role.STAFF, username="paul")
    late = opened_case(
        org_a, boxes[0], staff_user_a, assignee=staff_user_a, now=NOW - timedelta(days=5)
    )
    pauls = opened_case(org_a, boxes[1], staff_user_a, reason="wrong_item", assignee=paul)
    nobodys = opened_case(org_a, boxes[2], staff_user_a, reason="wrong_item", assignee=None)
    closed = case_in(S.REJECTED, org_a, boxes[3], staff_user_a)
    ReturnRequest.objects.filter(pk=closed.pk).update(due_at=NOW - timedelta(days=9))
    return {"late": late, "paul": pauls, "nobody": nobodys, "closed": closed, "paul_user": paul}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"late", "paul", "nobody", "closed"}),
        ({"status__exact": "requested"}, {"late", "paul", "nobody"}),
        ({"status__exact": "rejected"}, {"closed"}),
        ({"reason": "wrong_item"}, {"paul", "nobody"}),
        ({"assignee": "paul_user"}, {"paul"}),
        ({"overdue": "yes"}, {"late"}),
        ({"overdue": "no"}, {"paul", "nobody", "closed"}),
        ({"mine": "me"}, {"late"}),
        ({"mine": "nobody"}, {"nobody", "closed"}),
        ({"mine": "nobody", "status__exact": "requested"}, {"nobody"}),
        ({"reason": "not-a-number"}, set()),
    ],
)
def test_the_list_is_filtered_by_status_reason_assignee_overdue_and_my_cases(
    admin_client_a, org_a, four_cases, query, expected
):
    query = dict(query)
    if query.get("reason") == "wrong_item":
        query["reason"] = ReturnReason.objects.get(organization=org_a, code="wrong_item").pk
    if query.get("assignee") == "paul_user":
        query["assignee"] = four_cases["paul_user"].pk

    response = admin_client_a.get(CASES, query, **EN)

    assert listed(response) == {four_cases[name] for name in expected}


def test_the_list_flags_late_cases_and_shows_each_cases_facts(admin_client_a, org_a, four_cases):
    late = four_cases["late"]

    response = admin_client_a.get(CASES, **EN)

    content = response.content.decode()
    assert content.count('class="overdue"') == 1
    assert "overdue 2 days" in content  # opened 5 days ago, due after 3
    assert "Damaged in transit" in content
    assert "Claire Petit" in content
    assert f"{SHIPMENTS}{late.shipment_id}/change/" in content


def test_the_filters_name_only_the_users_organizations_reasons_and_people(
    admin_client_a, org_a, org_b, four_cases
):
    services.return_config_ensure(organization=org_b)
    ReturnReason.objects.create(organization=org_b, code="melted", label="Melted")
    member(org_b, Role.STAFF, username="bruno")

    response = admin_client_a.get(CASES, **EN)

    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    reasons = [label for _value, label in specs["reason"].lookup_choices]
    people = [label for _value, label in specs["assignee"].lookup_choices]
    assert reasons == [label for _code, label, _fr in DEFAULT_REASONS]
    assert sorted(people) == ["Claire Petit", "paul"]


def test_cases_are_found_by_number_customer_or_tracking_number(admin_client_a, org_a, four_cases):
    late = four_cases["late"]
    shipment = late.shipment
    shipment.tracking_number = "6A999"
    shipment.save(update_fields=["tracking_number"])
    for name in ("late", "paul", "nobody", "closed"):  # no digits: "81" finds case 81, not
        customer = four_cases[name].customer  # customer81@example.com's case too
        customer.email = f"{name}@example.com"
        customer.save(update_fields=["email"])

    assert listed(admin_client_a.get(CASES, {"q": str(late.pk)})) == {late}
    assert listed(admin_client_a.get(CASES, {"q": f"#{late.pk}"})) == {late}
    assert listed(admin_client_a.get(CASES, {"q": late.customer.email})) == {late}
    assert listed(admin_client_a.get(CASES, {"q": late.customer.first_name})) >= {late}
    assert listed(admin_client_a.get(CASES, {"q": "6A999"})) == {late}


def test_the_list_queries_do_not_grow_with_its_length(
    admin_client_a, staff_user_a, org_a, coffee, django_assert_max_num_queries
):
    billing_settings(org_a, gateway="test")
    shipments = delivered_boxes(
        org_a, delivered_at=NOW - timedelta(days=2), count=20, items=[(coffee, 1)]
    )
    for shipment in shipments[:2]:
        opened_case(org_a, shipment, staff_user_a, assignee=staff_user_a)
    admin_client_a.get(CASES)  # warm the session and content types

    with django_assert_max_num_queries(14) as few:
        admin_client_a.get(CASES)
    for shipment in shipments[2:]:
        opened_case(
            org_a, shipment, staff_user_a, assignee=staff_user_a, now=NOW - timedelta(days=4)
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_a.get(CASES)

    assert response.context["cl"].result_count == 20
    assert response.content.decode().count('class="overdue"') == 18


# --- Links from shipments and subscriptions -------------------------------------------------


def test_a_shipments_page_lists_its_cases_and_opens_a_new_one(
    admin_client_for, admin_client_a, staff_user_a, org_a, boxes
):
    shipment, untouched = boxes[0], boxes[1]
    case = case_in(S.REJECTED, org_a, shipment, staff_user_a)

    page = admin_client_a.get(f"{SHIPMENTS}{shipment.pk}/change/", **EN).content.decode()
    listing = admin_client_a.get(SHIPMENTS, **EN).content.decode()
    cases = admin_client_a.get(CASES, {"shipment__id__exact": shipment.pk})
    viewer_page = admin_client_for(member(org_a, Role.VIEWER)).get(
        f"{SHIPMENTS}{untouched.pk}/change/"
    )

    assert case_url(case) in page
    assert f"{CASES}add/?shipment={shipment.pk}" in page
    assert "Open an after-sales case" in page
    assert f"{CASES}?shipment__id__exact={shipment.pk}" in listing
    assert "1 case" in listing
    assert listed(cases) == {case}
    assert "open-return-case" not in viewer_page.content.decode()
    # While a case is open, no second one is offered.
    opened_case(org_a, shipment, staff_user_a)
    again = admin_client_a.get(f"{SHIPMENTS}{shipment.pk}/change/", **EN).content.decode()
    assert "open-return-case" not in again


def test_a_subscriptions_page_lists_its_cases(admin_client_a, staff_user_a, org_a, shipment):
    case = opened_case(org_a, shipment, staff_user_a)
    subscription = shipment.line.subscription

    page = admin_client_a.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/", **EN)

    inline = next(
        inline
        for inline in page.context["inline_admin_formsets"]
        if inline.formset.model is ReturnRequest
    )
    assert [form.instance for form in inline.formset.forms] == [case]
    content = page.content.decode()
    assert case_url(case) in content
    assert "Damaged in transit" in content
    assert admin_client_a.get(case_url(case)).status_code == 200


def test_the_shipment_list_queries_do_not_grow_with_its_cases(
    admin_client_a, staff_user_a, org_a, coffee, django_assert_max_num_queries
):
    billing_settings(org_a, gateway="test")
    shipments = delivered_boxes(org_a, delivered_at=NOW, count=15, items=[(coffee, 1)])
    for shipment in shipments[:3]:
        opened_case(org_a, shipment, staff_user_a)
    admin_client_a.get(SHIPMENTS)

    with django_assert_max_num_queries(12) as few:
        admin_client_a.get(SHIPMENTS)
    for shipment in shipments[3:]:
        opened_case(org_a, shipment, staff_user_a)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_a.get(SHIPMENTS)

    assert response.content.decode().count('class="return-cases"') == 15


# --- Settings and reasons ---------------------------------------------------------------------


def test_staff_find_the_default_reasons_of_a_new_organization(admin_client_a, org_a):
    assert not ReturnConfig.objects.filter(organization=org_a).exists()

    response = admin_client_a.get(REASONS, **EN)

    assert [reason.code for reason in response.context["cl"].result_list] == [
        code for code, _en, _fr in DEFAULT_REASONS
    ]
    assert ReturnConfig.objects.filter(organization=org_a).exists()
    # Staff read them; the organization's administrators change them.
    reason = ReturnReason.objects.get(organization=org_a, code="other")
    assert admin_client_a.post(f"{REASONS}{reason.pk}/change/", {"label": "x"}).status_code == 403


def test_an_administrator_adds_a_translated_reason_and_retires_one(admin_client_for, org_a):
    boss = admin_client_for(member(org_a, Role.ADMIN))
    boss.get(REASONS)
    other = ReturnReason.objects.get(organization=org_a, code="other")

    added = boss.post(
        f"{REASONS}add/",
        {
            "organization": org_a.pk,
            "code": "melted",
            "label": "Melted",
            "label_fr": "Fondu",
            "active": "on",
            "position": 9,
        },
    )
    duplicate = boss.post(
        f"{REASONS}add/",
        {"organization": org_a.pk, "code": "melted", "label": "Again", "position": 10},
        **EN,
    )
    retired = boss.post(
        f"{REASONS}{other.pk}/change/",
        {"label": "Other", "label_fr": "Autre", "position": other.position},
    )

    assert added.status_code == 302
    melted = ReturnReason.objects.get(organization=org_a, code="melted")
    assert (melted.labels, melted.active) == ({"fr": "Fondu"}, True)
    assert duplicate.status_code == 200
    assert ReturnReason.objects.filter(code="melted").count() == 1
    assert retired.status_code == 302
    other.refresh_from_db()
    assert other.active is False
    assert boss.post(f"{REASONS}{other.pk}/delete/", {"post": "yes"}).status_code == 403
    # A retired reason is no longer offered for a new case.
    form = boss.get(f"{CASES}add/", **EN)
    offered = form.context["adminform"].form.fields["reason"].queryset
    assert melted in offered
    assert other not in offered


def test_the_reasons_list_retires_and_orders_reasons_through_the_service(
    admin_client_for, org_a, monkeypatch
):
    boss = admin_client_for(member(org_a, Role.ADMIN))
    page = boss.get(REASONS)
    saved = []
    save = services.return_reason_save

    def recording(**kwargs):
        saved.append({key: value for key, value in kwargs.items() if key != "organization"})
        return save(**kwargs)

    monkeypatch.setattr(services, "return_reason_save", recording)
    other = ReturnReason.objects.get(organization=org_a, code="other")
    formset = page.context["cl"].formset
    data = {
        "form-TOTAL_FORMS": formset.total_form_count(),
        "form-INITIAL_FORMS": formset.initial_form_count(),
        "_save": "Save",
    }
    for index, form in enumerate(formset.forms):
        reason = form.instance
        data[f"form-{index}-id"] = reason.pk
        data[f"form-{index}-position"] = 0 if reason == other else reason.position
        if reason.active and reason != other:
            data[f"form-{index}-active"] = "on"

    response = boss.post(REASONS, data)

    assert response.status_code == 302
    other.refresh_from_db()
    assert (other.active, other.position) == (False, 0)
    assert saved == [{"reason": other, "active": False, "position": 0}]


def test_the_default_assignee_is_one_of_the_organizations_staff(admin_client_for, org_a, org_b):
    boss_user = member(org_a, Role.ADMIN, username="boss")
    boss = admin_client_for(boss_user)
    viewer = member(org_a, Role.VIEWER, username="vera")
    outsider = member(org_b, Role.STAFF, username="bruno")
    boss.get(SETTINGS)
    config = ReturnConfig.objects.get(organization=org_a)
    url = f"{SETTINGS}{config.pk}/change/"

    page = boss.get(url)
    refused = boss.post(
        url, {"window_days": 30, "service_level_days": 2, "default_assignee": outsider.pk}
    )
    saved = boss.post(
        url, {"window_days": 30, "service_level_days": 2, "default_assignee": boss_user.pk}
    )

    offered = set(page.context["adminform"].form.fields["default_assignee"].queryset)
    assert offered == {boss_user}
    assert viewer not in offered
    assert "default_assignee" in refused.context["adminform"].form.errors
    assert saved.status_code == 302
    config.refresh_from_db()
    assert (config.window_days, config.service_level_days, config.default_assignee) == (
        30,
        2,
        boss_user,
    )
    theirs = ReturnConfig.objects.create(organization=org_b)
    assert boss.get(f"{SETTINGS}{theirs.pk}/change/").status_code == 404


def test_a_superuser_adding_settings_gets_the_default_reasons_too(org_b, admin_client_for):
    root = UserFactory(is_superuser=True)

    response = admin_client_for(root).post(
        f"{SETTINGS}add/", {"organization": org_b.pk, "window_days": 21, "service_level_days": 5}
    )

    assert response.status_code == 302
    config = ReturnConfig.objects.get(organization=org_b)
    assert (config.window_days, config.service_level_days) == (21, 5)
    assert ReturnReason.objects.filter(organization=org_b).count() == len(DEFAULT_REASONS)
