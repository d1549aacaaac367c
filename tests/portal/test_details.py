"""A subscriber changes their preferences and their shipping address in the portal: through
the services staff use, saying which box the change reaches before and after, confirmed by
e-mail, named as the customer in the history staff read."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import formats, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import Address, CustomerEmail
from fulfillment.snapshots import addresses_at_many
from portal.models import PortalSettings
from portal.selectors import box_ships_on, change_reach
from preferences.models import PreferenceChange, SubscriptionPreference
from preferences.selectors import preferences_current
from preferences.services import MESSAGES
from subscriptions.models import Subscription, SubscriptionEvent
from tests.factories import AddressFactory, coffee_schema, open_batch, preference_field
from tests.helpers import messages_of
from tests.portal.conftest import portal_url, signed_in_client, subscriber

pytestmark = pytest.mark.django_db

# Wednesday 2 December 2026, 12:00 in Paris: a batch's cut-off (as tests/preferences/).
CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
BEFORE = CUTOFF - timedelta(minutes=2)
AFTER = CUTOFF + timedelta(minutes=2)

NEW_ADDRESS = {
    "name": "Alice Martin",
    "company": "",
    "line1": "5 quai Saint-Vincent",
    "line2": "",
    "postcode": "69001",
    "city": "Lyon",
    "state": "",
    "country": "FR",
    "phone": "",
}


def box(day) -> str:
    with translation.override("fr"):
        return formats.date_format(day, "j F")


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def schema(org_a):
    return coffee_schema(org_a)


@pytest.fixture
def preferences_url(org_a, portal_subscription_a):
    return portal_url(org_a, "preferences", subscription_id=portal_subscription_a.pk)


@pytest.fixture
def address_url(org_a, portal_subscription_a):
    return portal_url(org_a, "address", subscription_id=portal_subscription_a.pk)


@pytest.fixture
def shipping_a(portal_customer_a, portal_subscription_a):
    """The customer's address, which the subscription ships to."""
    address = portal_customer_a.addresses.get()
    Subscription.objects.filter(pk=portal_subscription_a.pk).update(shipping_address=address)
    portal_subscription_a.refresh_from_db()
    return address


def woo_subscriber(org_a):
    customer, subscription = subscriber(org_a, "carla@example.com", source="woocommerce")
    address = customer.addresses.get()
    Subscription.objects.filter(pk=subscription.pk).update(shipping_address=address)
    return customer, subscription


# --- Preferences ----------------------------------------------------------------------


def test_the_form_is_the_organizations_schema_in_its_order_with_its_labels_and_values(
    schema, org_a, portal_client_a, portal_subscription_a, preferences_url
):
    response = portal_client_a.get(preferences_url)

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields) == ["grind", "roast", "decaf", "avoid_origins", "grams", "note"]
    assert [label for _value, label in form.fields["grind"].choices] == [
        "—",
        "Whole beans",
        "Filter",
        "Espresso",
    ]
    page = page_text(response)
    assert '<option value="beans" selected>Whole beans</option>' in page  # the default now
    with translation.override("fr"):
        assert change_reach(organization=org_a).text() in page


def test_a_change_before_the_cutoff_reaches_this_weeks_box(
    schema, org_a, portal_customer_a, portal_client_a, portal_subscription_a, preferences_url
):
    batch = open_batch(org_a, CUTOFF)
    with time_machine.travel(BEFORE, tick=False):
        reach = change_reach(organization=org_a)
        shown = page_text(portal_client_a.get(preferences_url))
        response = portal_client_a.post(preferences_url, {"grind": "espresso"}, follow=True)

    change = PreferenceChange.objects.get(subscription=portal_subscription_a)
    assert change.effective_cycle == batch.cycle_date
    assert reach.this_box == batch.ships_on  # a box is named by the day it ships
    with translation.override("fr"):
        assert reach.text() in shown  # said before saving
    assert messages_of(response) == [
        f"Vos préférences sont enregistrées : elles s\u2019appliquent à partir de la box du "
        f"{box(batch.cycle_date)}."
    ]
    assert change.source == PreferenceChange.Source.PORTAL
    assert (change.actor_kind, change.actor_label) == ("customer", "alice@example.com")
    assert change.new_values["grind"] == "espresso"
    assert "roast" not in change.new_values  # left as it was: never chosen


def test_a_change_after_the_cutoff_reaches_next_weeks_box(
    schema, org_a, portal_client_a, portal_subscription_a, preferences_url
):
    batch = open_batch(org_a, CUTOFF)  # not locked yet: still open
    with time_machine.travel(BEFORE, tick=False):
        reach = change_reach(organization=org_a)
    with time_machine.travel(AFTER, tick=False):
        response = portal_client_a.post(preferences_url, {"grind": "filter"}, follow=True)

    change = PreferenceChange.objects.get(subscription=portal_subscription_a)
    assert change.effective_cycle > batch.cycle_date
    assert box_ships_on(organization=org_a, cutoff_at=change.effective_cutoff_at) == reach.next_box
    assert box(reach.next_box) in messages_of(response)[0]


def test_an_invalid_value_is_refused_with_the_schemas_message_on_its_field(
    schema, portal_client_a, portal_subscription_a, preferences_url
):
    with translation.override("fr"):
        too_small = str(MESSAGES["too_small"]) % {"minimum": 250}
    response = portal_client_a.post(preferences_url, {"grind": "espresso", "grams": "100"})

    assert response.status_code == 400
    assert response.context["form"].errors["grams"] == [too_small]
    page = page_text(response)
    assert 'aria-describedby="id_grams_error"' in page
    assert 'aria-invalid="true"' in page
    assert not PreferenceChange.objects.exists()
    assert not SubscriptionPreference.objects.exists()


def test_a_choice_outside_the_schema_gets_the_services_message(
    schema, portal_client_a, portal_subscription_a, preferences_url
):
    response = portal_client_a.post(preferences_url, {"grind": "turkish"})

    assert response.status_code == 400
    (message,) = response.context["form"].errors["grind"]
    assert "turkish" in message
    assert "beans, filter, espresso" in message
    assert not PreferenceChange.objects.exists()


def test_an_ended_subscription_is_refused_and_nothing_is_written(
    schema, org_a, portal_customer_a, preferences_url, portal_subscription_a
):
    Subscription.objects.filter(pk=portal_subscription_a.pk).update(status="canceled")
    client = signed_in_client(portal_customer_a)

    shown = client.get(preferences_url)
    assert shown.status_code == 200
    assert shown.context["ended"] is True
    assert '<form method="post" class="card details-form"' not in shown.content.decode()
    response = client.post(preferences_url, {"grind": "espresso"})
    assert response.status_code == 409
    assert "ne peuvent plus changer" in page_text(response)
    assert not PreferenceChange.objects.exists()
    assert not mail.outbox


def test_the_confirmation_is_mailed_once_in_the_customers_language(
    schema,
    portal_customer_a,
    portal_client_a,
    portal_subscription_a,
    preferences_url,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        portal_client_a.post(preferences_url, {"grind": "espresso", "avoid_origins": ["peru"]})

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["alice@example.com"]
    assert sent.subject == "Vos préférences ont changé"
    assert "Grind: Whole beans → Espresso" in sent.body
    assert "Avoid_Origins: — → Peru" in sent.body
    change = PreferenceChange.objects.get()
    shipped = box_ships_on(organization=change.organization, cutoff_at=change.effective_cutoff_at)
    assert f"À partir de la box du {box(shipped)}." in sent.body
    assert CustomerEmail.objects.filter(customer=portal_customer_a, kind="portal").count() == 1


def test_a_change_that_changes_nothing_says_so_and_sends_nothing(
    schema,
    portal_client_a,
    portal_subscription_a,
    preferences_url,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = portal_client_a.post(
            preferences_url, {"grind": "beans", "decaf": "false"}, follow=True
        )

    assert messages_of(response) == ["Rien n\u2019a changé : c\u2019étaient déjà vos choix."]
    assert not PreferenceChange.objects.exists()
    assert not mail.outbox


def test_inputs_left_out_of_the_post_keep_their_values(
    schema, portal_client_a, portal_subscription_a, preferences_url
):
    portal_client_a.post(preferences_url, {"grind": "espresso", "roast": "dark"})
    portal_client_a.post(preferences_url, {"roast": "light"})

    values = preferences_current(subscription=portal_subscription_a)
    assert (values["grind"], values["roast"]) == ("espresso", "light")


def test_preferences_are_offered_for_a_shop_subscription_too(schema, org_a):
    customer, subscription = woo_subscriber(org_a)
    client = signed_in_client(customer)
    url = portal_url(org_a, "preferences", subscription_id=subscription.pk)

    response = client.post(url, {"grind": "filter"})

    assert response.status_code == 302
    change = PreferenceChange.objects.get(subscription=subscription)
    assert change.source == "portal"


def test_the_page_reads_the_schema_in_a_fixed_number_of_queries(
    schema, org_a, portal_client_a, preferences_url
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert portal_client_a.get(preferences_url).status_code == 200
        return len(captured)

    queries()  # the first visit creates the portal's settings
    few = queries()
    for position in range(3):
        preference_field(
            org_a, f"extra_{position}", "choice", choices=[("a", "A"), ("b", "B")], position=10
        )
    assert queries() == few


def test_the_staff_history_names_the_customer(
    schema,
    admin_client_a,
    portal_client_a,
    portal_subscription_a,
    preferences_url,
    shipping_a,
    address_url,
):
    portal_client_a.post(preferences_url, {"grind": "espresso"})
    portal_client_a.post(address_url, NEW_ADDRESS)

    page = admin_client_a.get(
        f"/admin/subscriptions/subscription/{portal_subscription_a.pk}/change/",
        HTTP_ACCEPT_LANGUAGE="fr",
    ).content.decode()
    # The preference history and the "address changed" event.
    assert page.count("Client : alice@example.com") >= 2
    assert "Espace client" in page  # the source of the preference change


@pytest.mark.parametrize("name", ["preferences", "address"])
def test_settings_off_offer_nothing(
    name, schema, org_a, portal_client_a, portal_subscription_a, shipping_a
):
    PortalSettings.objects.update_or_create(
        organization=org_a, defaults={"allow_preferences": False, "allow_address": False}
    )
    url = portal_url(org_a, name, subscription_id=portal_subscription_a.pk)
    addresses = Address.objects.count()

    assert portal_client_a.get(url).status_code == 404
    assert portal_client_a.post(url, {"grind": "espresso", **NEW_ADDRESS}).status_code == 404
    assert not PreferenceChange.objects.exists()
    assert Address.objects.count() == addresses


# --- Shipping address -----------------------------------------------------------------


def test_the_form_starts_from_the_address_the_boxes_go_to(portal_client_a, address_url, shipping_a):
    response = portal_client_a.get(address_url)

    assert response.status_code == 200
    assert response.context["form"].initial["line1"] == shipping_a.line1
    assert 'autocomplete="postal-code"' in response.content.decode()


def test_a_new_address_before_the_cutoff_ships_this_weeks_box(
    org_a,
    portal_client_a,
    portal_subscription_a,
    address_url,
    shipping_a,
    django_capture_on_commit_callbacks,
):
    batch = open_batch(org_a, CUTOFF)
    with time_machine.travel(BEFORE, tick=False), django_capture_on_commit_callbacks(execute=True):
        shown = page_text(portal_client_a.get(address_url))
        response = portal_client_a.post(address_url, NEW_ADDRESS, follow=True)
        reach = change_reach(organization=org_a)

    with translation.override("fr"):
        assert reach.text() in shown
    assert messages_of(response) == [
        f"Vos box iront à la nouvelle adresse à partir de la box du {box(batch.cycle_date)}."
    ]
    portal_subscription_a.refresh_from_db()
    new = portal_subscription_a.shipping_address
    assert new.pk != shipping_a.pk
    assert new.line1 == "5 quai Saint-Vincent"
    shipping_a.refresh_from_db()
    assert shipping_a.line1 == "12 rue des Lilas"  # the row shipped before is not edited
    at_cutoff = addresses_at_many(subscription_ids=[portal_subscription_a.pk], at=CUTOFF)
    assert at_cutoff[portal_subscription_a.pk]["line1"] == "5 quai Saint-Vincent"
    event = SubscriptionEvent.objects.get(kind="address_changed")
    assert (event.actor_kind, event.actor_label) == ("customer", "alice@example.com")
    assert len(mail.outbox) == 1
    assert "5 quai Saint-Vincent, 69001 Lyon, France" in mail.outbox[0].body


def test_a_new_address_after_the_cutoff_leaves_the_closed_box_where_it_was(
    org_a, portal_client_a, portal_subscription_a, address_url, shipping_a
):
    batch = open_batch(org_a, CUTOFF)
    with time_machine.travel(BEFORE, tick=False):
        reach = change_reach(organization=org_a)
    with time_machine.travel(AFTER, tick=False):
        response = portal_client_a.post(address_url, NEW_ADDRESS, follow=True)

    assert box(reach.next_box) in messages_of(response)[0]
    at_cutoff = addresses_at_many(subscription_ids=[portal_subscription_a.pk], at=batch.cutoff_at)
    assert at_cutoff[portal_subscription_a.pk]["line1"] == "12 rue des Lilas"


def test_the_same_address_again_changes_nothing(
    portal_client_a, portal_subscription_a, address_url, shipping_a
):
    same = {**NEW_ADDRESS, **shipping_a.snapshot()}
    response = portal_client_a.post(address_url, same, follow=True)

    assert messages_of(response) == ["Rien n\u2019a changé : c\u2019était déjà votre adresse."]
    assert not SubscriptionEvent.objects.filter(kind="address_changed").exists()
    assert not mail.outbox


def test_an_incomplete_address_is_refused_on_its_field(
    portal_client_a, portal_subscription_a, address_url, shipping_a
):
    addresses = Address.objects.count()
    response = portal_client_a.post(address_url, {**NEW_ADDRESS, "line1": "", "country": "XX"})

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"line1", "country"}
    assert 'aria-describedby="id_line1_error"' in response.content.decode()
    assert Address.objects.count() == addresses
    portal_subscription_a.refresh_from_db()
    assert portal_subscription_a.shipping_address_id == shipping_a.pk


def test_a_shop_subscription_links_to_the_shop_and_refuses_a_change(org_a):
    PortalSettings.objects.update_or_create(
        organization=org_a,
        defaults={"shop_account_url": "https://shop.example/my-account/subscriptions/"},
    )
    customer, subscription = woo_subscriber(org_a)
    client = signed_in_client(customer)
    url = portal_url(org_a, "address", subscription_id=subscription.pk)
    addresses = Address.objects.count()

    page = page_text(client.get(url))
    assert 'href="https://shop.example/my-account/subscriptions/"' in page
    assert "géré par la boutique" in page
    assert 'name="line1"' not in page
    response = client.post(url, NEW_ADDRESS)
    assert response.status_code == 409
    assert Address.objects.count() == addresses
    assert not SubscriptionEvent.objects.filter(kind="address_changed").exists()


def test_an_ended_subscriptions_address_cannot_change(
    org_a, portal_customer_a, portal_subscription_a, address_url, shipping_a
):
    Subscription.objects.filter(pk=portal_subscription_a.pk).update(status="expired")
    client = signed_in_client(portal_customer_a)

    assert 'name="line1"' not in client.get(address_url).content.decode()
    assert client.post(address_url, NEW_ADDRESS).status_code == 409
    assert Address.objects.count() == 1


def test_an_address_the_customer_already_has_is_reused(
    org_a, portal_customer_a, portal_client_a, portal_subscription_a, address_url, shipping_a
):
    other = AddressFactory(customer=portal_customer_a, **NEW_ADDRESS)

    portal_client_a.post(address_url, NEW_ADDRESS)

    portal_subscription_a.refresh_from_db()
    assert portal_subscription_a.shipping_address_id == other.pk
    assert Address.objects.filter(customer=portal_customer_a).count() == 2


# --- Whatever is posted, no server error ----------------------------------------------

ODD_TEXT = st.text(max_size=120) | st.sampled_from(
    ["", " ", "\x00", "1e309", "-1", "99999999999999999999", "beans", "espresso", "FR", "true"]
)
ODD_VALUE = ODD_TEXT | st.lists(ODD_TEXT, max_size=3)
FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(
    data=st.dictionaries(
        st.sampled_from(["grind", "roast", "decaf", "avoid_origins", "grams", "note", "other"]),
        ODD_VALUE,
    )
)
def test_no_post_to_the_preferences_page_is_a_server_error(
    schema, portal_client_a, preferences_url, data
):
    assert portal_client_a.post(preferences_url, data).status_code in (302, 400)


@FUZZ
@given(data=st.dictionaries(st.sampled_from([*Address.CONTENT_FIELDS, "kind"]), ODD_VALUE))
def test_no_post_to_the_address_page_is_a_server_error(
    portal_client_a, address_url, shipping_a, data
):
    assert portal_client_a.post(address_url, {**NEW_ADDRESS, **data}).status_code in (302, 400)
