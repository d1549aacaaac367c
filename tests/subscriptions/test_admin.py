"""The subscription back office, through the real admin URLs, as staff use it.

Organization A ("Purea Café", Europe/Paris) is the staff member's; organization B
("Other Tea Co") is someone else's. Every write must have gone through the
services: the history (`SubscriptionEvent`) names the staff member who acted.
"""

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.html import escape

from core.actors import Actor, ActorKind
from core.errors import ApplicationError
from crm.models import Membership
from dashboard.admin import BackOfficeSubscriptionAdmin
from subscriptions import services
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import (
    AddressFactory,
    ChargeFactory,
    CustomerFactory,
    MembershipFactory,
    ProductFactory,
    SubscriptionFactory,
    member,
)
from tests.helpers import messages_of, transitions_offered

pytestmark = pytest.mark.django_db

S = Subscription.Status
Kind = SubscriptionEvent.Kind
Role = Membership.Role
LIST = "/admin/subscriptions/subscription/"
PARIS = ZoneInfo("Europe/Paris")


def change_url(subscription):
    return f"{LIST}{subscription.pk}/change/"


def transition_url(subscription, name):
    return f"{LIST}{subscription.pk}/transition/{name}/"


def page_form_data(response):
    """What the browser posts back from a change page: every form and inline as shown."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        if value not in (None, False):
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[f"{formset.prefix}-{name}"] = management[name].value()
        for row in formset.forms:
            for name in row.fields:
                value = row[name].value()
                if value not in (None, False):
                    data[row.add_prefix(name)] = value
    return data


def refusal(service, user, **kwargs):
    """What the service refuses with, in English: the page must show the same."""
    with (
        translation.override("en"),
        pytest.raises(ApplicationError) as refused,
        transaction.atomic(),
    ):
        service(actor=Actor.for_user(user), **kwargs)
    fields = refused.value.extra.get("fields")
    return next(iter(fields.values()))[0] if fields else refused.value.message


def state(subscription):
    subscription = Subscription.objects.get(pk=subscription.pk)
    return (
        subscription.status,
        subscription.updated_at,
        list(subscription.items.values_list("product_id", "quantity", "unit_price")),
        subscription.events.count(),
    )


@pytest.fixture
def active(org_a):
    customer = CustomerFactory(organization=org_a, email="alice@purea.example")
    return SubscriptionFactory(customer=customer, status=S.ACTIVE)


# --- Tenancy -------------------------------------------------------------------------


def test_the_changelist_lists_only_the_members_organizations_subscriptions(
    admin_client_a, active, org_b
):
    theirs = SubscriptionFactory(
        customer=CustomerFactory(organization=org_b, email="bob@othertea.example")
    )

    response = admin_client_a.get(LIST)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [active]
    page = response.content.decode()
    assert "alice@purea.example" in page
    assert "bob@othertea.example" not in page
    assert f"{LIST}{theirs.pk}/change/" not in page


def test_another_organizations_subscription_and_charges_are_not_found(admin_client_a, org_b):
    theirs = SubscriptionFactory(
        customer=CustomerFactory(organization=org_b, email="bob@othertea.example"),
        status=S.ACTIVE,
    )
    charge = theirs.charges.get()

    for url in (change_url(theirs), f"{LIST}{theirs.pk}/history/", transition_url(theirs, "pause")):
        response = admin_client_a.get(url)
        assert response.status_code == 404, url
        assert "bob@othertea.example" not in response.content.decode()
    assert (
        admin_client_a.post(
            transition_url(theirs, "cancel"), {"when": "now", "reason": "x"}
        ).status_code
        == 404
    )
    assert admin_client_a.get(f"/admin/subscriptions/charge/{charge.pk}/change/").status_code == 404
    forged = admin_client_a.get(
        "/admin/subscriptions/charge/", {"subscription__id__exact": theirs.pk}
    )
    assert list(forged.context["cl"].result_list) == []
    theirs.refresh_from_db()
    assert theirs.status == S.ACTIVE


# --- Transition buttons ----------------------------------------------------------------


def test_an_active_subscription_offers_its_actions_and_no_system_transition(admin_client_a, active):
    response = admin_client_a.get(change_url(active))

    assert response.status_code == 200
    assert transitions_offered(response) == ["cancel", "change_schedule", "pause", "skip"]
    # The system's transitions get no button, nor a page.
    for name in ("expire", "mark_past_due", "schedule_cancel", "change_items", "activate"):
        assert admin_client_a.get(transition_url(active, name)).status_code == 404


def test_pausing_with_a_resume_date_goes_through_the_service(admin_client_a, staff_user_a, active):
    # When staff open the pause form, then submit a resume date (in the organization's time)
    form = admin_client_a.get(transition_url(active, "pause"))
    response = admin_client_a.post(
        transition_url(active, "pause"),
        {"resume_at": "2030-01-15T09:30", "reason": "Holidays"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    # Then the subscription is paused until then, and the history says who did it
    assert form.status_code == 200
    assert response.redirect_chain[-1][0] == change_url(active)
    active.refresh_from_db()
    assert active.status == S.PAUSED
    assert active.resume_at == datetime(2030, 1, 15, 9, 30, tzinfo=PARIS)
    event = active.events.get(kind=Kind.PAUSED)
    assert (event.from_status, event.to_status) == (S.ACTIVE, S.PAUSED)
    assert event.actor_kind == ActorKind.USER
    assert event.actor_user == staff_user_a
    assert event.reason == "Holidays"
    assert messages_of(response) == [
        "The subscription is paused until Jan. 15, 2030, 9:30 a.m., then resumes by itself."
    ]
    assert "FSM transition" not in response.content.decode()
    # And the page now offers to resume it
    assert "resume" in transitions_offered(response)


def test_a_resume_date_in_the_past_is_refused_on_the_form(admin_client_a, staff_user_a, active):
    before = state(active)
    past = datetime(2001, 1, 1, 10, 0, tzinfo=PARIS)
    expected = refusal(
        services.subscription_pause, staff_user_a, subscription=active, resume_at=past
    )

    response = admin_client_a.post(
        transition_url(active, "pause"),
        {"resume_at": "2001-01-01T10:00"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert response.context["transition_form"].errors["resume_at"] == [expected]
    assert state(active) == before


def test_canceling_at_period_end_needs_a_reason_and_keeps_it(admin_client_a, staff_user_a, active):
    # A cancellation without a reason is refused on the form
    refused = admin_client_a.post(transition_url(active, "cancel"), {"when": "period_end"})
    assert refused.status_code == 200
    assert "reason" in refused.context["transition_form"].errors
    assert not active.events.filter(kind=Kind.CANCEL_SCHEDULED).exists()

    # With one, the subscription stays active until the end of its paid period
    response = admin_client_a.post(
        transition_url(active, "cancel"),
        {"when": "period_end", "reason": "Moving abroad"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    active.refresh_from_db()
    assert active.status == S.ACTIVE
    assert active.cancel_at_period_end is True
    assert active.cancel_reason == "Moving abroad"
    event = active.events.get(kind=Kind.CANCEL_SCHEDULED)
    assert event.actor_user == staff_user_a
    assert event.reason == "Moving abroad"
    end = formats.date_format(
        timezone.localtime(active.current_period_end, PARIS), "DATETIME_FORMAT"
    )
    assert messages_of(response) == [
        f"The subscription will be canceled at the end of its paid period ({end})."
    ]


def test_a_scheduled_cancellation_can_be_withdrawn_from_its_page(
    admin_client_a, staff_user_a, active
):
    # Given a subscription canceled at period end
    admin_client_a.post(transition_url(active, "cancel"), {"when": "period_end", "reason": "Price"})
    assert "withdraw_cancellation" in transitions_offered(admin_client_a.get(change_url(active)))

    # When staff withdraw the cancellation
    admin_client_a.post(transition_url(active, "withdraw_cancellation"), {"reason": "Discount"})

    # Then it renews as before, the button is gone, and the timeline says who did it
    active.refresh_from_db()
    assert (active.status, active.cancel_at_period_end) == (S.ACTIVE, False)
    assert "withdraw_cancellation" not in transitions_offered(
        admin_client_a.get(change_url(active))
    )
    event = active.events.get(kind=Kind.CANCEL_WITHDRAWN)
    assert (event.actor_user, event.reason) == (staff_user_a, "Discount")


def test_canceling_now_cancels(admin_client_a, active):
    admin_client_a.post(transition_url(active, "cancel"), {"when": "now", "reason": "Fraud"})

    active.refresh_from_db()
    assert active.status == S.CANCELED
    assert active.events.filter(kind=Kind.CANCELED, reason="Fraud").exists()


def test_skip_and_change_schedule_go_through_the_services(admin_client_a, active):
    next_cycle = active.next_cycle

    admin_client_a.post(transition_url(active, "skip"), {"reason": ""})
    admin_client_a.post(
        transition_url(active, "change_schedule"),
        {"billing_interval": "2", "billing_period": "week", "reason": "Less coffee"},
    )

    active.refresh_from_db()
    assert active.skipped_cycles == [next_cycle]
    assert (active.billing_period, active.billing_interval) == ("week", 2)
    assert list(active.events.values_list("kind", flat=True)[:2]) == [
        Kind.SCHEDULE_CHANGED,
        Kind.SKIPPED,
    ]


def test_a_refused_transition_shows_an_error_and_changes_nothing(
    admin_client_a, staff_user_a, active
):
    before = state(active)
    expected = refusal(services.subscription_resume, staff_user_a, subscription=active)

    # Resuming an active subscription, by posting to its transition URL
    response = admin_client_a.post(
        transition_url(active, "resume"), {}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.redirect_chain[-1][0] == change_url(active)
    assert messages_of(response) == [expected]
    assert state(active) == before
    # Opening its form says so at once
    page = admin_client_a.get(
        transition_url(active, "resume"), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert messages_of(page) == ["“Resume” is not possible now: the subscription is active."]


def test_a_viewer_sees_no_button_and_cannot_act(admin_client_for, org_a, active):
    viewer = admin_client_for(member(org_a, Role.VIEWER))
    before = state(active)

    page = viewer.get(change_url(active))
    refused = viewer.post(transition_url(active, "pause"), {"reason": "x"})
    form = viewer.get(transition_url(active, "cancel"))

    assert page.status_code == 200
    assert transitions_offered(page) == []
    assert list(page.context["fsm_object_transitions"]) == []
    assert refused.status_code == 403
    assert form.status_code == 403
    assert state(active) == before


def test_a_woocommerce_subscription_is_managed_in_the_shop(admin_client_a, org_a):
    shop = SubscriptionFactory(
        customer=CustomerFactory(organization=org_a),
        source=Subscription.Source.WOOCOMMERCE,
        status=S.ACTIVE,
    )
    before = state(shop)

    page = admin_client_a.get(change_url(shop), HTTP_ACCEPT_LANGUAGE="en")
    response = admin_client_a.post(
        transition_url(shop, "pause"), {"reason": "x"}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )

    notice = "This subscription is managed in the WooCommerce shop"
    assert notice in page.content.decode()
    assert transitions_offered(page) == []
    items = page.context["inline_admin_formsets"][0]
    assert items.formset.model.__name__ == "SubscriptionItem"
    assert items.has_change_permission is False
    assert "shipping_address" not in page.context["adminform"].form.fields
    assert any(notice in message for message in messages_of(response))
    assert state(shop) == before


def test_a_shop_subscription_in_another_currency_shows_its_amounts_in_it(admin_client_a, org_a):
    customer = CustomerFactory(organization=org_a)
    billing = AddressFactory(customer=customer, kind="billing", city="San Francisco", state="CA")
    shop = SubscriptionFactory(
        customer=customer,
        source=Subscription.Source.WOOCOMMERCE,
        status=S.ACTIVE,
        currency="USD",
        billing_address=billing,
    )
    ChargeFactory(subscription=shop, cycle=7, amount=Decimal("32.65"), currency="USD")

    page = admin_client_a.get(change_url(shop), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "32.65 USD" in page
    assert "32.65 EUR" not in page
    assert "San Francisco, CA, FR" in page  # the billing address, with its state


# --- Items ------------------------------------------------------------------------------


def test_changing_the_items_records_the_change_with_its_pro_rata(
    admin_client_a, staff_user_a, active
):
    # Given an active subscription whose current period is paid
    page = admin_client_a.get(change_url(active))
    data = page_form_data(page)
    assert data["items-TOTAL_FORMS"] == 1

    # When staff raise the quantity from 1 to 3 and save
    data["items-0-quantity"] = "3"
    response = admin_client_a.post(change_url(active), data, follow=True, HTTP_ACCEPT_LANGUAGE="en")

    # Then the items are replaced through the service, which charged the rest of the period
    assert response.status_code == 200
    assert list(active.items.values_list("quantity", flat=True)) == [3]
    event = active.events.get(kind=Kind.ITEMS_CHANGED)
    assert event.actor_user == staff_user_a
    assert (event.data["old_total"], event.data["new_total"]) == ("12.50", "37.50")
    net = Decimal(event.data["proration"]["net"])
    assert Decimal("24.00") < net <= Decimal("25.00")
    active.refresh_from_db()
    assert active.adjustment == net
    assert any("pro-rata adjustment" in message for message in messages_of(response))


def test_saving_the_page_without_touching_the_items_records_nothing(admin_client_a, org_a, active):
    address = AddressFactory(customer=active.customer, line1="3 quai Neuf")
    data = page_form_data(admin_client_a.get(change_url(active)))
    data["shipping_address"] = address.pk

    response = admin_client_a.post(change_url(active), data)

    assert response.status_code == 302
    active.refresh_from_db()
    assert active.shipping_address == address
    assert not active.events.filter(kind=Kind.ITEMS_CHANGED).exists()
    # The address change is in the history, by the staff member (batches read it).
    event = active.events.get(kind=Kind.ADDRESS_CHANGED)
    assert event.data["to"] == address.pk
    assert event.actor_user is not None


def test_a_refused_items_change_shows_the_error_and_keeps_the_items(
    admin_client_a, staff_user_a, org_a
):
    canceled = SubscriptionFactory(customer=CustomerFactory(organization=org_a), status=S.CANCELED)
    item = canceled.items.get()
    expected = refusal(
        services.subscription_change_items,
        staff_user_a,
        subscription=canceled,
        items=[{"product": item.product, "quantity": 5}],
    )
    data = page_form_data(admin_client_a.get(change_url(canceled)))
    before = state(canceled)

    data["items-0-quantity"] = "5"
    response = admin_client_a.post(change_url(canceled), data, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert escape(expected) in response.content.decode()
    assert state(canceled) == before


def test_items_are_not_changed_when_the_rest_of_the_page_is_wrong(admin_client_a, org_a, active):
    # An address of another customer is not among the choices
    stranger = AddressFactory(customer=CustomerFactory(organization=org_a))
    data = page_form_data(admin_client_a.get(change_url(active)))
    before = state(active)

    data["items-0-quantity"] = "4"
    response = admin_client_a.post(change_url(active), {**data, "shipping_address": stranger.pk})

    assert response.status_code == 200
    assert "shipping_address" in response.context["adminform"].form.errors
    assert state(active) == before


def test_items_changed_are_undone_when_another_part_of_the_page_is_refused(admin_client_a, active):
    # The items are valid and handed to the service, but the history part of the
    # posted page is broken (its management form is missing)
    data = page_form_data(admin_client_a.get(change_url(active)))
    before = state(active)
    data["items-0-quantity"] = "4"
    for key in [key for key in data if key.startswith("events-")]:
        del data[key]

    response = admin_client_a.post(change_url(active), data)

    assert response.status_code == 200
    assert state(active) == before
    assert not active.events.filter(kind=Kind.ITEMS_CHANGED).exists()


def test_items_changed_are_undone_when_the_details_service_refuses(
    admin_client_a, active, monkeypatch
):
    # Given a page changing the items (their service accepts) and the address, which the
    # details' service refuses
    address = AddressFactory(customer=active.customer)
    data = page_form_data(admin_client_a.get(change_url(active)))
    before = state(active)

    def refuse(**kwargs):
        raise ApplicationError("Invalid input.", {"fields": {"shipping_address": ["Not there."]}})

    monkeypatch.setattr(services, "subscription_change_details", refuse)
    data.update({"items-0-quantity": "4", "shipping_address": address.pk})
    response = admin_client_a.post(change_url(active), data)

    # Then the refusal is next to the address, and the items' change was rolled back
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["shipping_address"] == ["Not there."]
    assert state(active) == before
    assert not messages_of(response)


def test_the_items_offer_only_the_subscriptions_organizations_products(
    admin_client_for, org_a, org_b, active
):
    user = member(org_a, Role.STAFF)
    MembershipFactory(user=user, organization=org_b, role=Role.STAFF)
    ProductFactory(organization=org_b, name="Their tea")

    page = admin_client_for(user).get(change_url(active))

    formset = page.context["inline_admin_formsets"][0].formset
    products = formset.forms[0].fields["product"].queryset
    assert {product.organization_id for product in products} == {org_a.pk}


# --- Adding -------------------------------------------------------------------------------


def add_form(organization, customer, product, **extra):
    return {
        "organization": organization.pk,
        "customer": customer.pk,
        "billing_period": "month",
        "billing_interval": "1",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-0-product": product.pk,
        "items-0-quantity": "2",
        **extra,
    }


def test_a_subscription_is_created_through_the_service(admin_client_a, staff_user_a, org_a):
    customer = CustomerFactory(organization=org_a)
    address = AddressFactory(customer=customer)
    product = ProductFactory(organization=org_a, unit_price=Decimal("9.00"))

    response = admin_client_a.post(
        f"{LIST}add/",
        add_form(
            org_a,
            customer,
            product,
            trial_ends_at_0="2030-01-10",
            trial_ends_at_1="10:00:00",
            shipping_address=address.pk,
        ),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 302
    subscription = Subscription.objects.get(customer=customer)
    assert response["Location"] in (LIST, change_url(subscription))
    # With a trial it is active at once; its trial ends at 10:00 in Paris
    assert subscription.status == S.ACTIVE
    assert subscription.trial_ends_at == datetime(2030, 1, 10, 10, 0, tzinfo=PARIS)
    assert subscription.shipping_address == address
    assert subscription.currency == org_a.currency
    assert list(subscription.items.values_list("product", "quantity", "unit_price")) == [
        (product.pk, 2, Decimal("9.00"))
    ]
    kinds = list(subscription.events.order_by("id").values_list("kind", "actor_user"))
    assert kinds == [(Kind.CREATED, staff_user_a.pk), (Kind.ACTIVATED, staff_user_a.pk)]


@pytest.mark.parametrize("wrong", ["trial_ends_at", "shipping_address"])
def test_the_services_refusal_shows_on_the_add_form(admin_client_a, staff_user_a, org_a, wrong):
    # Given a form the service refuses: a trial ending before the start, or another
    # customer's address
    customer = CustomerFactory(organization=org_a)
    product = ProductFactory(organization=org_a)
    if wrong == "trial_ends_at":
        extra = {
            "started_at_0": "2030-02-01",
            "started_at_1": "10:00:00",
            "trial_ends_at_0": "2030-01-10",
            "trial_ends_at_1": "10:00:00",
        }
        arguments = {
            "start_at": datetime(2030, 2, 1, 10, tzinfo=PARIS),
            "trial_ends_at": datetime(2030, 1, 10, 10, tzinfo=PARIS),
        }
    else:
        address = AddressFactory(customer=CustomerFactory(organization=org_a))
        extra = {"shipping_address": address.pk}
        arguments = {"shipping_address": address}
    expected = refusal(
        services.subscription_create,
        staff_user_a,
        organization=org_a,
        customer=customer,
        items=[{"product": product, "quantity": 2}],
        **arguments,
    )

    response = admin_client_a.post(
        f"{LIST}add/", add_form(org_a, customer, product, **extra), HTTP_ACCEPT_LANGUAGE="en"
    )

    # Then the form is shown again with the service's message on that field, nothing created
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[wrong] == [expected]
    assert not Subscription.objects.filter(customer=customer).exists()
    assert not SubscriptionEvent.objects.filter(subscription__customer=customer).exists()


def test_a_subscription_needs_an_item(admin_client_a, org_a):
    customer = CustomerFactory(organization=org_a)
    data = add_form(org_a, customer, ProductFactory(organization=org_a))
    data["items-TOTAL_FORMS"] = "0"

    response = admin_client_a.post(f"{LIST}add/", data)

    assert response.status_code == 200
    assert not Subscription.objects.filter(customer=customer).exists()


# --- Charges ------------------------------------------------------------------------------


def test_marking_a_pending_charge_paid_activates_the_subscription(
    admin_client_a, staff_user_a, org_a
):
    # Given a pending subscription whose first charge waits (manual gateway), and a paid one
    pending = SubscriptionFactory(customer=CustomerFactory(organization=org_a))
    charge = ChargeFactory(subscription=pending, status=Charge.Status.PENDING, gateway="manual")
    paid = SubscriptionFactory(customer=CustomerFactory(organization=org_a), status=S.ACTIVE)
    paid_charge = paid.charges.get()
    already_paid = refusal(services.charge_mark_paid, staff_user_a, charge=paid_charge)

    # When staff mark both paid from the charge list
    response = admin_client_a.post(
        "/admin/subscriptions/charge/",
        {"action": "mark_paid", "_selected_action": [charge.pk, paid_charge.pk]},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    # Then the pending one is paid and its subscription active; the paid one is refused
    charge.refresh_from_db()
    pending.refresh_from_db()
    assert charge.status == Charge.Status.PAID
    assert pending.status == S.ACTIVE
    assert pending.events.get(kind=Kind.ACTIVATED).actor_user == staff_user_a
    shown = messages_of(response)
    assert f"Charge {paid_charge}: {already_paid}" in shown
    assert "1 charge marked paid." in shown


def test_a_woocommerce_charge_marked_paid_is_refused_by_the_service(
    admin_client_a, staff_user_a, org_a
):
    shop = SubscriptionFactory(
        customer=CustomerFactory(organization=org_a),
        status=S.ACTIVE,
        source=Subscription.Source.WOOCOMMERCE,
    )
    charge = ChargeFactory(subscription=shop, cycle=1, status=Charge.Status.PENDING)
    expected = refusal(services.charge_mark_paid, staff_user_a, charge=charge)

    response = admin_client_a.post(
        "/admin/subscriptions/charge/",
        {"action": "mark_paid", "_selected_action": [charge.pk]},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert messages_of(response) == [f"Charge {charge}: {expected}"]
    charge.refresh_from_db()
    assert charge.status == Charge.Status.PENDING


def test_marking_a_charge_failed_asks_why(admin_client_a, org_a):
    subscription = SubscriptionFactory(customer=CustomerFactory(organization=org_a))
    charge = ChargeFactory(subscription=subscription, status=Charge.Status.PENDING)

    asked = admin_client_a.post(
        "/admin/subscriptions/charge/",
        {"action": "mark_failed", "_selected_action": [charge.pk]},
    )
    response = admin_client_a.post(
        "/admin/subscriptions/charge/",
        {
            "action": "mark_failed",
            "_selected_action": [charge.pk],
            "apply": "yes",
            "reason": "Cheque bounced",
        },
    )

    assert asked.status_code == 200
    assert "reason" in asked.context["form"].fields
    assert response.status_code == 302
    charge.refresh_from_db()
    assert charge.status == Charge.Status.FAILED
    assert charge.failure_reason == "Cheque bounced"


def test_a_viewer_cannot_mark_charges(admin_client_for, org_a):
    subscription = SubscriptionFactory(customer=CustomerFactory(organization=org_a))
    charge = ChargeFactory(subscription=subscription, status=Charge.Status.PENDING)

    admin_client_for(member(org_a, Role.VIEWER)).post(
        "/admin/subscriptions/charge/",
        {"action": "mark_paid", "_selected_action": [charge.pk]},
    )

    charge.refresh_from_db()
    assert charge.status == Charge.Status.PENDING


# --- The page ------------------------------------------------------------------------------


def test_the_next_cycles_panel_shows_eight_dates_in_the_organizations_time(admin_client_a, org_a):
    org_a.timezone = "Pacific/Auckland"
    org_a.save()
    subscription = SubscriptionFactory(
        customer=CustomerFactory(organization=org_a),
        status=S.ACTIVE,
        adjustment=Decimal("-5.00"),
    )

    response = admin_client_a.get(change_url(subscription), HTTP_ACCEPT_LANGUAGE="en")

    page = response.content.decode()
    rows = re.findall(r'<tr data-cycle="(\d+)"><td>\d+</td><td>([^<]+)</td><td>([^<]+)</td>', page)
    cycles = subscription.upcoming_cycles(8)
    with translation.override("en"):
        expected = [
            formats.date_format(
                timezone.localtime(start, ZoneInfo("Pacific/Auckland")), "DATETIME_FORMAT"
            )
            for _cycle, start in cycles
        ]
    assert len(rows) == 8
    assert [int(cycle) for cycle, _date, _amount in rows] == [cycle for cycle, _ in cycles]
    assert [date for _cycle, date, _amount in rows] == expected
    # The first charge takes the adjustment (a credit here), the others the items' total
    assert rows[0][2].startswith("7.50 EUR")
    assert {amount for _cycle, _date, amount in rows[1:]} == {"12.50 EUR"}


def test_the_back_office_composes_the_page_from_each_apps_inlines(admin_client_a, active):
    # subscriptions.admin imports no other app's admin: dashboard.admin adds their parts
    assert type(admin.site._registry[Subscription]) is BackOfficeSubscriptionAdmin

    response = admin_client_a.get(change_url(active))

    assert [i.formset.model.__name__ for i in response.context["inline_admin_formsets"]] == [
        "SubscriptionItem",
        "SubscriptionPreference",
        "PreferenceChange",
        "Charge",
        "BatchLine",
        "ReturnRequest",
        "SatisfactionSurvey",
        "SubscriptionNote",
        "SubscriptionEvent",
    ]


def test_the_page_shows_charges_and_history(admin_client_a, staff_user_a, active):
    admin_client_a.post(transition_url(active, "pause"), {"reason": "Holidays"})

    response = admin_client_a.get(change_url(active), HTTP_ACCEPT_LANGUAGE="en")

    inlines = {i.formset.model.__name__: i for i in response.context["inline_admin_formsets"]}
    assert [f.instance for f in inlines["Charge"].formset.forms] == list(active.charges.all())
    events = [f.instance for f in inlines["SubscriptionEvent"].formset.forms]
    assert events[0].kind == Kind.PAUSED
    assert f"Staff member: {staff_user_a.username}" in response.content.decode()


def test_the_history_names_the_system_and_its_amounts_in_french(admin_client_a, active):
    SubscriptionEvent.objects.create(
        organization=active.organization,
        subscription=active,
        kind=Kind.RENEWED,
        data={"cycle": 3, "amount": "12.50"},
        **Actor.system("renewals").as_fields(),
    )
    SubscriptionEvent.objects.create(
        organization=active.organization,
        subscription=active,
        kind=Kind.CREDIT_GRANTED,
        data={"amount": "5.00"},
        **Actor.system("renewals").as_fields(),
    )

    page = admin_client_a.get(change_url(active), HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert "Système : renouvellements automatiques" in page
    assert "renewals" not in page
    assert "cycle 3, 12,50" in page
    assert "None" not in page


def test_the_changelist_queries_do_not_grow_with_its_length(
    admin_client_a, org_a, django_assert_max_num_queries
):
    coffee = ProductFactory(organization=org_a, name="Coffee beans")
    filters = ProductFactory(organization=org_a, name="Filters")

    def subscriptions(count):
        for _ in range(count):
            SubscriptionFactory(
                customer=CustomerFactory(organization=org_a),
                status=S.ACTIVE,
                items=[(coffee, 2), (filters, 1)],
            )

    subscriptions(3)
    admin_client_a.get(LIST)  # warm the session and content types

    with django_assert_max_num_queries(12) as few:
        admin_client_a.get(LIST)
    subscriptions(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_a.get(LIST)

    assert response.context["cl"].result_count == 30
    assert "2 x Coffee beans, 1 x Filters" in response.content.decode()


# --- Billing settings ---------------------------------------------------------------------


def test_billing_settings_are_changed_by_the_organizations_administrators(
    admin_client_for, admin_client_a, org_a, org_b
):
    from tests.factories import billing_settings

    mine = billing_settings(org_a, gateway="manual")
    theirs = billing_settings(org_b)
    org_admin = admin_client_for(member(org_a, Role.ADMIN))
    url = "/admin/subscriptions/billingsettings/"

    listing = org_admin.get(url)
    saved = org_admin.post(f"{url}{mine.pk}/change/", {"gateway": "test", "retry_days": "2,4"})
    refused = admin_client_a.post(
        f"{url}{mine.pk}/change/", {"gateway": "manual", "retry_days": "1"}
    )

    assert list(listing.context["cl"].result_list) == [mine]
    assert org_admin.get(f"{url}{theirs.pk}/change/").status_code == 404
    assert saved.status_code == 302
    assert refused.status_code == 403
    mine.refresh_from_db()
    assert (mine.gateway, mine.retry_days) == ("test", [2, 4])
