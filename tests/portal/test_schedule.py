"""A subscriber changes the schedule of a subscription the product manages (portal/views/
schedule.py): skip or bring back a box, pause until a date and resume, change the
frequency, swap a product, cancel at the end of the paid period. Each change is the
service's, with the customer as actor, confirmed once by e-mail; each refusal is the
service's message and writes nothing; settings turn actions off; the shop's subscriptions
get the shop's link, never the action."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.models import CustomerEmail
from portal.services import portal_settings_ensure
from subscriptions.models import Subscription, SubscriptionEvent
from tests.factories import BatchLineFactory, ProductFactory, VariantFactory, open_batch
from tests.helpers import messages_of
from tests.portal.conftest import portal_url, signed_in_client, subscriber

pytestmark = pytest.mark.django_db

Kind = SubscriptionEvent.Kind


def local_day(subscription, at):
    return timezone.localtime(at, subscription.organization.tzinfo).date()


def next_on(subscription) -> str:
    """The `on` of the subscription's next delivery (its next charge's local date)."""
    return local_day(subscription, subscription.next_charge_at).isoformat()


def in_french(message: str, **values) -> str:
    with translation.override("fr"):
        return _(message) % values if values else _(message)


def events(subscription):
    return list(subscription.events.order_by("id").values_list("kind", "actor_kind", "reason"))


def post(client, url, data, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(url, data)


# --- Skip and bring back a box -----------------------------------------------------------


def test_skip_shows_the_box_and_what_it_holds_then_skips_it_as_the_customer(
    org_a, portal_client_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    subscription = portal_subscription_a
    url = portal_url(org_a, "skip", subscription_id=subscription.pk, on=next_on(subscription))
    item = subscription.items.get()

    page = portal_client_a.get(url)

    assert page.status_code == 200
    text = page.content.decode()
    assert item.name in text
    delivery = page.context["delivery"]
    assert delivery.cycle == 1
    assert f"{delivery.box.ships_on.day}" in text

    response = post(portal_client_a, url, {"confirm": "1"}, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert response["Location"] == portal_url(
        org_a, "subscription", subscription_id=subscription.pk
    )
    subscription.refresh_from_db()
    assert subscription.skipped_cycles == [1]
    assert events(subscription)[-1][:2] == (Kind.SKIPPED, "customer")
    assert subscription.events.last().actor_label == "alice@example.com"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    assert CustomerEmail.objects.filter(kind=CustomerEmail.Kind.PORTAL).count() == 1


def test_a_skipped_box_is_brought_back(
    org_a, portal_client_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    subscription = portal_subscription_a
    on = next_on(subscription)
    post(
        portal_client_a,
        portal_url(org_a, "skip", subscription_id=subscription.pk, on=on),
        {},
        django_capture_on_commit_callbacks,
    )
    url = portal_url(org_a, "unskip", subscription_id=subscription.pk, on=on)

    assert portal_client_a.get(url).status_code == 200
    response = post(portal_client_a, url, {}, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.skipped_cycles == []
    assert subscription.next_cycle == 1
    assert events(subscription)[-1][:2] == (Kind.UNSKIPPED, "customer")
    assert len(mail.outbox) == 2  # one per change


def test_a_box_already_locked_cannot_be_skipped_and_nothing_is_written(
    org_a, portal_client_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    subscription = portal_subscription_a
    batch = open_batch(org_a, subscription.next_charge_at + timedelta(days=2), status="locked")
    BatchLineFactory(batch=batch, subscription=subscription, cycle=1)
    url = portal_url(org_a, "skip", subscription_id=subscription.pk, on=next_on(subscription))
    before = events(subscription)

    page = portal_client_a.get(url)
    response = post(portal_client_a, url, {"confirm": "1"}, django_capture_on_commit_callbacks)

    assert page.status_code == 200
    assert 'name="confirm"' not in page.content.decode()  # no button, the reason instead
    assert response.status_code == 409
    message = response.context["refusal"]
    assert "locked" in message or "verrouill" in message
    assert message in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.skipped_cycles == []
    assert events(subscription) == before
    assert mail.outbox == []


def test_a_date_with_no_delivery_is_not_found(org_a, portal_client_a, portal_subscription_a):
    subscription = portal_subscription_a
    wrong = (subscription.next_charge_at + timedelta(days=3)).date().isoformat()
    for on in (wrong, "2026-02-31", "tomorrow"):
        url = portal_url(org_a, "skip", subscription_id=subscription.pk, on=on)
        assert portal_client_a.get(url).status_code == 404
        assert portal_client_a.post(url).status_code == 404


# --- Pause and resume ------------------------------------------------------------------------


def test_pause_until_a_date_then_resume(
    org_a, portal_client_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    subscription = portal_subscription_a
    until = local_day(subscription, timezone.now()) + timedelta(days=45)
    url = portal_url(org_a, "pause", subscription_id=subscription.pk)

    page = portal_client_a.get(url)
    assert page.status_code == 200
    with translation.override("fr"):
        assert page.context["reach"].text() in page.content.decode()

    response = post(
        portal_client_a, url, {"until": until.isoformat()}, django_capture_on_commit_callbacks
    )

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PAUSED
    assert local_day(subscription, subscription.resume_at) == until
    assert events(subscription)[-1][:2] == (Kind.PAUSED, "customer")
    assert len(mail.outbox) == 1
    [message] = messages_of(portal_client_a.get(url))
    assert str(until.year) in message

    resume = portal_url(org_a, "resume", subscription_id=subscription.pk)
    assert portal_client_a.get(resume).status_code == 200
    response = post(portal_client_a, resume, {"confirm": "1"}, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert events(subscription)[-1][:2] == (Kind.RESUMED, "customer")
    assert len(mail.outbox) == 2


def test_a_pause_date_in_the_past_is_refused_with_the_services_message(
    org_a, portal_client_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    subscription = portal_subscription_a
    yesterday = local_day(subscription, timezone.now()) - timedelta(days=1)
    before = events(subscription)

    response = post(
        portal_client_a,
        portal_url(org_a, "pause", subscription_id=subscription.pk),
        {"until": yesterday.isoformat()},
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 400
    # On the date's field, tied to its input.
    assert response.context["form"].errors["until"] == [
        in_french("The resume date must be in the future.")
    ]
    assert 'aria-invalid="true"' in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert events(subscription) == before
    assert mail.outbox == []


def test_a_pause_longer_than_a_year_is_refused(org_a, portal_client_a, portal_subscription_a):
    far = local_day(portal_subscription_a, timezone.now()) + timedelta(days=400)
    response = portal_client_a.post(
        portal_url(org_a, "pause", subscription_id=portal_subscription_a.pk),
        {"until": far.isoformat()},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["until"]
    portal_subscription_a.refresh_from_db()
    assert portal_subscription_a.status == Subscription.Status.ACTIVE


def test_resume_when_not_paused_is_refused_and_writes_nothing(
    org_a, portal_client_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    url = portal_url(org_a, "resume", subscription_id=portal_subscription_a.pk)
    before = events(portal_subscription_a)

    page = portal_client_a.get(url)
    response = post(portal_client_a, url, {"confirm": "1"}, django_capture_on_commit_callbacks)

    assert 'name="confirm"' not in page.content.decode()
    assert response.status_code == 409
    with translation.override("fr"):
        expected = _("Cannot %(action)s: the subscription is %(status)s.") % {
            "action": _("resume"),
            "status": _("Active").lower(),
        }
    assert expected in response.content.decode()
    assert events(portal_subscription_a) == before
    assert mail.outbox == []


# --- Frequency ---------------------------------------------------------------------------------


def test_change_the_frequency(
    org_a, portal_client_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    subscription = portal_subscription_a
    url = portal_url(org_a, "frequency", subscription_id=subscription.pk)
    next_charge = subscription.next_charge_at

    page = portal_client_a.get(url)
    assert page.status_code == 200
    assert [value for value, _label in page.context["form"].fields["frequency"].choices] == [
        "week-1",
        "week-2",
        "week-4",
        "month-1",
        "month-2",
    ]

    response = post(
        portal_client_a, url, {"frequency": "week-2"}, django_capture_on_commit_callbacks
    )

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.billing_period, subscription.billing_interval) == ("week", 2)
    assert subscription.next_charge_at == next_charge  # the next box stays where it is
    assert subscription.cycle_start(2) - subscription.cycle_start(1) == timedelta(weeks=2)
    assert events(subscription)[-1][:2] == (Kind.SCHEDULE_CHANGED, "customer")
    assert len(mail.outbox) == 1


def test_the_current_frequency_or_one_not_offered_is_refused(
    org_a, portal_client_a, portal_subscription_a
):
    url = portal_url(org_a, "frequency", subscription_id=portal_subscription_a.pk)
    before = events(portal_subscription_a)

    same = portal_client_a.post(url, {"frequency": "month-1"})
    odd = portal_client_a.post(url, {"frequency": "day-1"})

    assert same.status_code == 409
    assert in_french("This is already the subscription's schedule.") in same.content.decode()
    assert odd.status_code == 400
    assert events(portal_subscription_a) == before


# --- Swap ----------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(org_a):
    """What the shop sells besides the subscription's product: a simple product, a product
    sold by variant with one retired variant, and a product no longer sold."""
    simple = ProductFactory(organization=org_a, name="Moka", unit_price=Decimal("15.00"))
    by_variant = ProductFactory(organization=org_a, name="Espresso")
    kilo = VariantFactory(product=by_variant, unit_price=Decimal("30.00"))
    retired = VariantFactory(product=by_variant, active=False)
    gone = ProductFactory(organization=org_a, name="Old blend", active=False)
    return {"simple": simple, "kilo": kilo, "retired": retired, "gone": gone}


def test_swap_offers_active_products_and_variants_and_explains_the_price(
    org_a, portal_client_a, portal_subscription_a, catalogue
):
    page = portal_client_a.get(portal_url(org_a, "swap", subscription_id=portal_subscription_a.pk))

    assert page.status_code == 200
    offered = dict(page.context["form"].fields["by"].choices)
    assert f"p{catalogue['simple'].pk}" in offered
    assert f"v{catalogue['kilo'].pk}" in offered
    assert f"v{catalogue['retired'].pk}" not in offered
    assert f"p{catalogue['gone'].pk}" not in offered
    assert f"p{catalogue['kilo'].product.pk}" not in offered  # sold by variant only
    assert f"p{portal_subscription_a.items.get().product_id}" not in offered  # held already
    # 12.50 now; Moka costs 15.00: 2.50 more per delivery.
    assert "+2,50 EUR" in offered[f"p{catalogue['simple'].pk}"]


def test_swap_a_product_as_the_customer(
    org_a, portal_client_a, portal_subscription_a, catalogue, django_capture_on_commit_callbacks
):
    subscription = portal_subscription_a
    item = subscription.items.get()
    url = portal_url(org_a, "swap", subscription_id=subscription.pk)

    response = post(
        portal_client_a,
        url,
        {"replace": str(item.pk), "by": f"v{catalogue['kilo'].pk}"},
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 302
    [new] = subscription.items.all()
    assert new.variant == catalogue["kilo"]
    assert new.unit_price == Decimal("30.00")
    assert events(subscription)[-1][:2] == (Kind.ITEMS_CHANGED, "customer")
    subscription.refresh_from_db()
    assert subscription.adjustment > 0  # the rest of the paid period, pro rata
    assert len(mail.outbox) == 1


def test_swap_for_something_not_offered_writes_nothing(
    org_a, portal_client_a, portal_subscription_a, catalogue
):
    item = portal_subscription_a.items.get()
    before = events(portal_subscription_a)
    for by in (f"v{catalogue['retired'].pk}", f"p{catalogue['gone'].pk}", "p999999"):
        response = portal_client_a.post(
            portal_url(org_a, "swap", subscription_id=portal_subscription_a.pk),
            {"replace": str(item.pk), "by": by},
        )
        assert response.status_code == 400
    assert events(portal_subscription_a) == before


def test_swap_is_refused_by_the_service_when_the_subscription_ends(
    org_a, portal_client_a, portal_subscription_a, catalogue
):
    Subscription.objects.filter(pk=portal_subscription_a.pk).update(cancel_at_period_end=True)
    item = portal_subscription_a.items.get()
    response = portal_client_a.post(
        portal_url(org_a, "swap", subscription_id=portal_subscription_a.pk),
        {"replace": str(item.pk), "by": f"p{catalogue['simple'].pk}"},
    )
    assert response.status_code == 409
    assert portal_subscription_a.items.get().product_id == item.product_id


def test_the_swap_page_reads_a_fixed_number_of_queries(
    org_a, portal_client_a, portal_subscription_a
):
    url = portal_url(org_a, "swap", subscription_id=portal_subscription_a.pk)
    ProductFactory(organization=org_a)
    portal_client_a.get(url)  # the first request creates the portal's settings
    with CaptureQueriesContext(connection) as few:
        assert portal_client_a.get(url).status_code == 200
    for _n in range(5):
        ProductFactory(organization=org_a)
        VariantFactory(product__organization=org_a)
    with CaptureQueriesContext(connection) as many:
        assert portal_client_a.get(url).status_code == 200
    assert len(many) == len(few)


# --- Cancel ---------------------------------------------------------------------------------------


def test_cancel_offers_pause_and_skip_first_and_says_what_the_last_box_is(
    org_a, portal_client_a, portal_subscription_a
):
    subscription = portal_subscription_a
    page = portal_client_a.get(portal_url(org_a, "cancel", subscription_id=subscription.pk))

    assert page.status_code == 200
    text = page.content.decode()
    assert portal_url(org_a, "pause", subscription_id=subscription.pk) in text
    assert (
        portal_url(org_a, "skip", subscription_id=subscription.pk, on=next_on(subscription)) in text
    )
    last = page.context["last"]
    assert last.ends_on == local_day(subscription, subscription.current_period_end)
    # The last box is the one of the paid cycle (cycle 0, started now).
    assert last.box.cycle_date >= local_day(subscription, subscription.current_period_start)
    assert last.box.cycle_date < last.ends_on


def test_cancel_at_the_end_of_the_period_with_a_reason(
    org_a, portal_client_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    subscription = portal_subscription_a
    url = portal_url(org_a, "cancel", subscription_id=subscription.pk)

    response = post(
        portal_client_a,
        url,
        {"reason": "price", "note": "Trop cher pour moi"},
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE  # until the period ends
    assert subscription.cancel_at_period_end
    kind, actor_kind, reason = events(subscription)[-1]
    assert (kind, actor_kind) == (Kind.CANCEL_SCHEDULED, "customer")
    assert reason.endswith("Trop cher pour moi")
    assert len(mail.outbox) == 1

    again = portal_client_a.post(url, {"reason": "price"})
    assert again.status_code == 409
    assert in_french("A cancellation at period end is already scheduled.") in again.content.decode()


def test_an_ended_subscription_offers_no_cancellation(org_a):
    customer, ended = subscriber(org_a, "ended@example.com", status="canceled")
    client = signed_in_client(customer)
    url = portal_url(org_a, "cancel", subscription_id=ended.pk)

    page = client.get(url)
    refused = client.post(url, {"reason": "price"})

    assert in_french("Your subscription has ended.") in page.content.decode()
    assert 'name="reason"' not in page.content.decode()
    assert refused.status_code == 409
    assert not ended.events.exists()


def test_cancel_needs_a_reason(org_a, portal_client_a, portal_subscription_a):
    response = portal_client_a.post(
        portal_url(org_a, "cancel", subscription_id=portal_subscription_a.pk), {"note": "x"}
    )
    assert response.status_code == 400
    portal_subscription_a.refresh_from_db()
    assert not portal_subscription_a.cancel_at_period_end


@pytest.mark.parametrize("action", ["pause", "frequency", "swap", "cancel"])
def test_an_empty_post_is_refused_on_the_forms_fields_and_writes_nothing(
    org_a, portal_client_a, portal_subscription_a, catalogue, action
):
    # It used to answer 200 with the page as a GET shows it (the fuzz: tests/portal/test_fuzz.py).
    response = portal_client_a.post(
        portal_url(org_a, action, subscription_id=portal_subscription_a.pk), {}
    )
    assert response.status_code == 400
    assert response.context["form"].errors
    assert events(portal_subscription_a) == []


# --- What the organization offers; the shop's subscriptions -----------------------------------

ACTIONS = {
    "skip": ("allow_skip", {"confirm": "1"}),
    "unskip": ("allow_skip", {"confirm": "1"}),
    "pause": ("allow_pause", {"until": "2099-01-01"}),
    "resume": ("allow_pause", {"confirm": "1"}),
    "frequency": ("allow_frequency", {"frequency": "week-1"}),
    "swap": ("allow_swap", {"by": "p1"}),
    "cancel": ("allow_cancel", {"reason": "price"}),
}


def action_url(organization, action, subscription):
    kwargs = {"subscription_id": subscription.pk}
    if action in ("skip", "unskip"):
        kwargs["on"] = next_on(subscription)
    return portal_url(organization, action, **kwargs)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_action_the_settings_turn_off_is_not_offered(
    action, org_a, portal_client_a, portal_subscription_a
):
    setting, data = ACTIONS[action]
    settings = portal_settings_ensure(organization=org_a)
    setattr(settings, setting, False)
    settings.save()
    before = events(portal_subscription_a)
    url = action_url(org_a, action, portal_subscription_a)

    assert portal_client_a.get(url).status_code == 404
    assert portal_client_a.post(url, data).status_code == 404
    assert events(portal_subscription_a) == before


def test_cancel_does_not_offer_what_the_settings_turn_off(
    org_a, portal_client_a, portal_subscription_a
):
    settings = portal_settings_ensure(organization=org_a)
    settings.allow_pause = settings.allow_skip = False
    settings.save()
    page = portal_client_a.get(
        portal_url(org_a, "cancel", subscription_id=portal_subscription_a.pk)
    )
    assert page.context["pause_url"] == page.context["skip_url"] == ""
    assert "/pause/" not in page.content.decode()


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_subscription_the_shop_manages_gets_the_shops_link_and_no_action(
    action, org_a, django_capture_on_commit_callbacks
):
    settings = portal_settings_ensure(organization=org_a)
    settings.shop_account_url = "https://shop.example/my-account/subscriptions/"
    settings.save()
    customer, subscription = subscriber(org_a, "woo@example.com", source="woocommerce")
    client = signed_in_client(customer)
    url = action_url(org_a, action, subscription)
    before = events(subscription)

    page = client.get(url)
    response = post(client, url, ACTIONS[action][1], django_capture_on_commit_callbacks)

    assert page.status_code == 200
    assert settings.shop_account_url in page.content.decode()
    assert '<form method="post" class="card"' not in page.content.decode()
    assert response.status_code == 409
    assert events(subscription) == before
    assert mail.outbox == []


def test_the_confirmation_is_in_the_customers_language(
    org_a, portal_customer_a, portal_subscription_a, django_capture_on_commit_callbacks
):
    """The page follows the browser's language; the e-mail the customer's."""
    client = signed_in_client(portal_customer_a)
    client.cookies["django_language"] = "en"
    url = portal_url(org_a, "pause", subscription_id=portal_subscription_a.pk)
    until = local_day(portal_subscription_a, timezone.now()) + timedelta(days=20)

    post(client, url, {"until": until.isoformat()}, django_capture_on_commit_callbacks)

    [email] = mail.outbox
    assert email.subject == in_french("Your subscription is paused")
    assert "Your subscription is paused until" in messages_of(client.get(url))[0]
