"""Preferences carried by a WooCommerce subscription, through the real webhook handlers.

The shop of organization A maps its meta keys and attributes to A's coffee preferences
(grind: beans/filter/espresso, required, default beans; roast; decaf; avoid_origins;
grams 250..1000). The samples are edited copies of what WooCommerce sends.
"""

from __future__ import annotations

import copy
import re

import pytest
from django.core.exceptions import ValidationError

from core.actors import Actor, ActorKind
from preferences import selectors
from preferences.models import PreferenceChange, SubscriptionPreference
from preferences.services import preferences_update
from subscriptions.models import Subscription
from tests.factories import MembershipFactory, coffee_schema, preference_field
from tests.woocommerce.conftest import later, sample
from woocommerce.models import WebhookDelivery, WooMapping, WooPreferenceMapping

pytestmark = pytest.mark.django_db

STORES = "/admin/woocommerce/woocommercestore/"
PREFIX = "preference_mappings"
DEFAULTS = {"grind": "beans", "decaf": False}


# --- Given ------------------------------------------------------------------------------


@pytest.fixture
def schema(org_a):
    return {field.key: field for field in coffee_schema(org_a)}


@pytest.fixture
def mapped(store, schema):
    """The shop's mappings: `mapped("pa_grind", "grind")`."""

    def make(woo_key, key):
        return WooPreferenceMapping.objects.create(
            organization=store.organization, store=store, woo_key=woo_key, field=schema[key]
        )

    return make


def attribute(key, value, display_key, display_value=None):
    return {
        "id": 900,
        "key": key,
        "value": value,
        "display_key": display_key,
        "display_value": value if display_value is None else display_value,
    }


def subscription_payload(*, lines=(), meta=(), **changes):
    """`subscription.json` (one line item) with meta entries added to its line and itself."""
    payload = sample("subscription")
    payload["line_items"][0]["meta_data"].extend(lines)
    payload["meta_data"].extend({"id": 901, "key": k, "value": v} for k, v in meta)
    payload.update(changes)
    return payload


def with_line_meta(payload, lines):
    """A copy of `payload` whose first line item carries `lines` instead."""
    result = copy.deepcopy(payload)
    result["line_items"][0]["meta_data"] = list(lines)
    return result


def the_subscription() -> Subscription:
    mapping = WooMapping.objects.get(resource="subscription", woo_id=1300)
    return Subscription.objects.get(pk=mapping.object_id)


def current(subscription) -> dict:
    return selectors.preferences_current(subscription=subscription)


def changes(subscription):
    return list(PreferenceChange.objects.filter(subscription=subscription).order_by("id"))


# --- From the shop to the subscription --------------------------------------------------


def test_a_line_attribute_and_a_subscription_meta_become_the_preferences(apply, mapped):
    mapped("pa_grind", "grind")
    mapped("_roast_choice", "roast")
    mapped("decaf", "decaf")
    payload = subscription_payload(
        lines=[
            attribute("pa_grind", "espresso", "Grind", "Espresso"),
            attribute("decaf", "Yes", "Decaf"),
        ],
        meta=[("_roast_choice", "dark")],
    )

    delivery = apply("subscription.created", payload)

    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.error == ""
    subscription = the_subscription()
    assert current(subscription) == {"grind": "espresso", "roast": "dark", "decaf": True}
    [change] = changes(subscription)
    assert change.actor_kind == ActorKind.WOOCOMMERCE
    assert change.actor_label == "WooCommerce: Purea shop"
    assert change.source == "woocommerce"
    assert change.new_values == {"grind": "espresso", "roast": "dark", "decaf": True}


@pytest.mark.parametrize(
    ("woo_key", "entry"),
    [
        ("pa_grind", attribute("pa_grind", "espresso", "Grind", "Espresso")),  # the slug
        ("grind", attribute("grind", "Espresso", "Grind")),  # a product's own attribute: label
        ("grind", attribute("pa_grind", "espresso", "Grind")),  # mapped without "pa_"
        ("pa_grind", attribute("grind", "ESPRESSO", "Grind")),  # mapped with it; any case
        ("Mouture", attribute("pa_mouture", "fin", "mouture", "Espresso")),  # name, shown label
    ],
)
def test_a_label_or_a_slug_under_any_spelling_of_the_key_maps_to_the_choice(
    apply, mapped, woo_key, entry
):
    mapped(woo_key, "grind")

    apply("subscription.created", subscription_payload(lines=[entry]))

    assert current(the_subscription())["grind"] == "espresso"


def test_a_multi_choice_is_the_union_of_every_line_items_values(apply, mapped):
    mapped("pa_avoid", "avoid_origins")
    payload = sample("subscription_created")  # two line items
    first, second = payload["line_items"]
    first["meta_data"].append(attribute("pa_avoid", "brazil", "Avoid"))
    second["meta_data"].append(attribute("pa_avoid", "Peru, brazil", "Avoid"))

    apply("subscription.created", payload)

    subscription = Subscription.objects.get(
        pk=WooMapping.objects.get(resource="subscription", woo_id=1313).object_id
    )
    assert current(subscription)["avoid_origins"] == ["brazil", "peru"]


def test_an_unmapped_meta_key_is_ignored(apply, mapped):
    mapped("pa_grind", "grind")
    payload = subscription_payload(
        lines=[attribute("pa_roast", "dark", "Roast")], meta=[("grams", "500")]
    )

    delivery = apply("subscription.created", payload)

    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.error == ""
    subscription = the_subscription()
    assert changes(subscription) == []
    assert current(subscription) == DEFAULTS


# --- Who wins: staff or the shop --------------------------------------------------------


@pytest.fixture
def synced(apply, mapped, staff_user_a):
    """Synced from the shop with grind espresso, then changed to filter by staff here."""
    mapped("pa_grind", "grind")
    payload = subscription_payload(lines=[attribute("pa_grind", "espresso", "Grind", "Espresso")])
    apply("subscription.created", payload)
    preferences_update(
        subscription=the_subscription(),
        values={"grind": "filter"},
        actor=Actor.for_user(staff_user_a),
        source="admin",
    )
    return payload


def test_a_later_webhook_with_the_same_shop_value_keeps_the_staff_change(apply, synced):
    # The customer changed their address in the shop: an unrelated update.
    payload = later(synced)
    payload["shipping"]["address_1"] = "2 Main Road"

    delivery = apply("subscription.updated", payload)

    assert delivery.status == WebhookDelivery.Status.PROCESSED
    subscription = the_subscription()
    assert subscription.shipping_address.line1 == "2 Main Road"
    assert current(subscription)["grind"] == "filter"
    assert [c.source for c in changes(subscription)] == ["woocommerce", "admin"]


def test_the_same_value_under_its_label_is_the_same_shop_value(apply, synced):
    payload = with_line_meta(later(synced), [attribute("pa_grind", "Espresso", "Grind")])

    apply("subscription.updated", payload)

    assert current(the_subscription())["grind"] == "filter"


def test_a_new_value_chosen_in_the_shop_is_applied(apply, synced):
    payload = with_line_meta(
        later(synced), [attribute("pa_grind", "beans", "Grind", "Whole beans")]
    )

    delivery = apply("subscription.updated", payload)

    assert delivery.error == ""
    subscription = the_subscription()
    assert current(subscription)["grind"] == "beans"
    last = changes(subscription)[-1]
    assert (last.actor_kind, last.source) == (ActorKind.WOOCOMMERCE, "woocommerce")
    assert (last.old_values["grind"], last.new_values["grind"]) == ("filter", "beans")
    stored = SubscriptionPreference.objects.get(subscription=subscription)
    assert stored.shop_values == {"grind": "beans"}


def test_the_same_choices_in_another_order_keep_the_staff_choice(apply, mapped, staff_user_a):
    # Given the shop sent "peru, brazil" for a multi-choice, and staff then chose "ethiopia"
    mapped("pa_avoid", "avoid_origins")
    payload = subscription_payload(lines=[attribute("pa_avoid", "peru, brazil", "Avoid")])
    apply("subscription.created", payload)
    assert current(the_subscription())["avoid_origins"] == ["brazil", "peru"]
    preferences_update(
        subscription=the_subscription(),
        values={"avoid_origins": ["ethiopia"]},
        actor=Actor.for_user(staff_user_a),
        source="admin",
    )

    # When the shop resends the same choices in another order
    resent = with_line_meta(later(payload), [attribute("pa_avoid", "brazil, peru", "Avoid")])
    delivery = apply("subscription.updated", resent)

    # Then that is no change: the staff's choice stays, and nothing is recorded
    assert delivery.error == ""
    subscription = the_subscription()
    assert current(subscription)["avoid_origins"] == ["ethiopia"]
    assert [c.source for c in changes(subscription)] == ["woocommerce", "admin"]

    # While a different set chosen in the shop is applied
    apply(
        "subscription.updated", with_line_meta(later(resent), [attribute("pa_avoid", "peru", "A")])
    )
    assert current(the_subscription())["avoid_origins"] == ["peru"]


# --- Values the schema refuses ---------------------------------------------------------


def test_an_invalid_shop_value_changes_nothing_and_the_delivery_says_which_field(apply, mapped):
    mapped("pa_grind", "grind")
    payload = subscription_payload(lines=[attribute("pa_grind", "turkish", "Grind", "Turkish")])

    delivery = apply("subscription.created", payload)

    assert delivery.status == WebhookDelivery.Status.PROCESSED  # the subscription is synced
    subscription = the_subscription()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.items.count() == 1
    assert delivery.error.startswith("preference grind: 'turkish' is not one of the choices")
    assert changes(subscription) == []
    assert not SubscriptionPreference.objects.filter(subscription=subscription).exists()


def test_the_valid_values_are_written_and_the_invalid_one_is_reported_each_time(apply, mapped):
    mapped("pa_grind", "grind")
    mapped("_grams", "grams")
    payload = subscription_payload(
        lines=[attribute("pa_grind", "filter", "Grind", "Filter")], meta=[("_grams", "5000")]
    )

    first = apply("subscription.created", payload)
    again = apply("subscription.updated", later(payload))

    subscription = the_subscription()
    assert current(subscription) == {**DEFAULTS, "grind": "filter"}
    assert len(changes(subscription)) == 1
    for delivery in (first, again):
        assert delivery.status == WebhookDelivery.Status.PROCESSED
        assert delivery.error == "preference grams: must be at most 1000."


def test_several_different_values_for_one_choice_are_reported_not_guessed(apply, mapped):
    mapped("pa_grind", "grind")
    mapped("_grind", "grind")
    payload = subscription_payload(
        lines=[attribute("pa_grind", "filter", "Grind", "Filter")], meta=[("_grind", "espresso")]
    )

    delivery = apply("subscription.created", payload)

    assert "preference grind: the shop sent several values" in delivery.error
    assert changes(the_subscription()) == []


def test_an_ended_subscription_is_synced_and_its_preferences_left_alone(apply, mapped):
    mapped("pa_grind", "grind")
    payload = subscription_payload(
        lines=[attribute("pa_grind", "turkish", "Grind")],
        status="cancelled",
        cancelled_date_gmt="2021-04-23T10:00:00",
        end_date_gmt="2021-04-23T10:00:00",
    )

    delivery = apply("subscription.created", payload)

    assert (delivery.status, delivery.error) == (WebhookDelivery.Status.PROCESSED, "")
    subscription = the_subscription()
    assert subscription.status == Subscription.Status.CANCELED
    assert changes(subscription) == []


# --- The mapping itself -----------------------------------------------------------------


def test_a_mapping_cannot_point_at_another_organizations_preference(store, org_b):
    theirs = {field.key: field for field in coffee_schema(org_b)}
    mapping = WooPreferenceMapping(store=store, woo_key="pa_grind", field=theirs["grind"])

    with pytest.raises(ValidationError) as refused:
        mapping.full_clean()

    assert refused.value.message_dict["field"] == [
        "Choose a preference of the shop's organization."
    ]


def store_form(store, **rows):
    """The shop's change form as the browser posts it, with the mapping rows given."""
    data = {
        "name": store.name,
        "base_url": store.base_url,
        "active": "on",
        "weight_unit": "kg",
        "keep_replaced_secret": "on",
        f"{PREFIX}-TOTAL_FORMS": str(len(rows)),
        f"{PREFIX}-INITIAL_FORMS": "0",
        f"{PREFIX}-MIN_NUM_FORMS": "0",
        f"{PREFIX}-MAX_NUM_FORMS": "1000",
    }
    for index, (woo_key, field) in enumerate(rows.items()):
        data[f"{PREFIX}-{index}-woo_key"] = woo_key
        data[f"{PREFIX}-{index}-field"] = str(field.pk)
    return data


def offered(page: str) -> set[int]:
    select = re.search(rf'<select name="{PREFIX}-0-field".*?</select>', page, re.DOTALL)
    assert select, "the mapping row is on the page"
    return {int(pk) for pk in re.findall(r'<option value="(\d+)"', select.group(0))}


def test_the_shops_page_offers_only_its_organizations_preferences(
    admin_client_for, administrator_user_a, store, schema, org_b
):
    theirs = coffee_schema(org_b)
    MembershipFactory(
        organization=org_b, user=administrator_user_a
    )  # a member of both organizations

    response = admin_client_for(administrator_user_a).get(f"{STORES}{store.pk}/change/")

    assert response.status_code == 200
    assert offered(response.text) == {field.pk for field in schema.values()}
    assert not offered(response.text) & {field.pk for field in theirs}


def test_owner_add_a_mapping_on_the_shops_page(
    admin_client_for, administrator_user_a, store, schema
):
    response = admin_client_for(administrator_user_a).post(
        f"{STORES}{store.pk}/change/", store_form(store, pa_grind=schema["grind"])
    )

    assert response.status_code == 302
    mapping = WooPreferenceMapping.objects.get(store=store)
    assert (mapping.woo_key, mapping.field, mapping.organization) == (
        "pa_grind",
        schema["grind"],
        store.organization,
    )


def test_another_organizations_preference_posted_anyway_is_refused(
    admin_client_for, administrator_user_a, store, schema, org_b
):
    theirs = {field.key: field for field in coffee_schema(org_b)}

    response = admin_client_for(administrator_user_a).post(
        f"{STORES}{store.pk}/change/", store_form(store, pa_grind=theirs["grind"])
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    assert not WooPreferenceMapping.objects.exists()


def test_a_key_mapped_twice_on_one_shop_is_refused(
    admin_client_for, administrator_user_a, store, mapped
):
    mapped("pa_grind", "grind")

    response = admin_client_for(administrator_user_a).post(
        f"{STORES}{store.pk}/change/",
        store_form(store, pa_grind=WooPreferenceMapping.objects.get().field),
    )

    assert response.status_code == 200
    assert "This WooCommerce key is already mapped." in response.text
    assert WooPreferenceMapping.objects.count() == 1


def test_a_required_preference_without_value_is_reported_and_nothing_written(apply, mapped, org_a):
    preference_field(org_a, "bag", "choice", choices=[("paper", "Paper")], required=True)
    mapped("pa_grind", "grind")
    payload = subscription_payload(lines=[attribute("pa_grind", "filter", "Grind", "Filter")])

    delivery = apply("subscription.created", payload)

    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.error == "preferences not written: bag: A value is required."
    assert changes(the_subscription()) == []


def test_a_viewer_reads_the_mappings_without_a_form(admin_client_for, org_a, store, mapped):
    mapped("Mouture", "grind")
    viewer = MembershipFactory(organization=org_a, role="viewer").user

    response = admin_client_for(viewer).get(f"{STORES}{store.pk}/change/")

    assert response.status_code == 200
    assert "Mouture" in response.text
    assert f'name="{PREFIX}-0-woo_key"' not in response.text
