"""Preferences in the back office, through the real admin URLs, as staff use them.

Organization A ("Purea Café", Europe/Paris) is the staff member's; B is someone else's.
The schema pages edit A's fields; a subscription's page shows a form generated from
them, the batch a change applies to and the history. Every value written from a page
went through `preferences.services` (a `PreferenceChange` names the staff member).
"""

import re
from datetime import timedelta

import pytest
from django.utils import formats, timezone, translation
from django.utils.html import escape

from core.actors import ActorKind
from crm.models import Membership
from preferences.models import (
    PreferenceChange,
    PreferenceChoice,
    PreferenceField,
    SubscriptionPreference,
)
from subscriptions.models import Subscription
from tests.factories import (
    AddressFactory,
    CustomerFactory,
    SubscriptionFactory,
    coffee_schema,
    member,
    open_batch,
    preference_field,
)
from tests.helpers import write_preferences

pytestmark = pytest.mark.django_db

Role = Membership.Role
FIELDS = "/admin/preferences/preferencefield/"
SUBSCRIPTIONS = "/admin/subscriptions/subscription/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def field_url(field):
    return f"{FIELDS}{field.pk}/change/"


def page_url(subscription):
    return f"{SUBSCRIPTIONS}{subscription.pk}/change/"


def page_form_data(response):
    """What the browser posts back from a change page: every form and inline as shown."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
        forms.extend(formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None and value is not False:  # unchecked boxes are not posted
                data[form.add_prefix(name)] = value
    return data


def history(subscription):
    return list(
        PreferenceChange.objects.filter(subscription=subscription).order_by("changed_at", "id")
    )


def inline(response, model_name):
    return next(
        i
        for i in response.context["inline_admin_formsets"]
        if i.formset.model.__name__ == model_name
    )


# --- The schema ------------------------------------------------------------------------


def new_field_form(org, **extra):
    return {
        "organization": org.pk,
        "key": "grind",
        "label": "Grind",
        "label_en": "",
        "label_fr": "Mouture",
        "type": "choice",
        "help_text": "",
        "required": "on",
        "default": "Espresso",
        "active": "on",
        "position": "1",
        "choices-TOTAL_FORMS": "2",
        "choices-INITIAL_FORMS": "0",
        "choices-0-value": "beans",
        "choices-0-label": "Whole beans",
        "choices-0-label_fr": "Grains entiers",
        "choices-0-active": "on",
        "choices-0-position": "0",
        "choices-1-value": "espresso",
        "choices-1-label": "Espresso",
        "choices-1-active": "on",
        "choices-1-position": "1",
        **extra,
    }


def test_a_field_is_created_with_its_choices_and_translated_labels(admin_client_a, org_a):
    # The add page offers a label input per language
    page = admin_client_a.get(f"{FIELDS}add/", **EN)
    assert "Label (English)" in page.content.decode()
    assert "Label (French)" in page.content.decode()

    # When staff create a field with two choices, its default typed as a choice's label
    response = admin_client_a.post(f"{FIELDS}add/", new_field_form(org_a), **EN)

    # Then the field, its labels per language and its choices are stored; the default is the value
    assert response.status_code == 302
    field = PreferenceField.objects.get(organization=org_a, key="grind")
    assert (field.label, field.labels, field.type) == ("Grind", {"fr": "Mouture"}, "choice")
    assert field.required is True
    assert field.default == "espresso"
    choices = list(field.choices.values_list("value", "label", "labels", "active"))
    assert choices == [
        ("beans", "Whole beans", {"fr": "Grains entiers"}, True),
        ("espresso", "Espresso", {}, True),
    ]


@pytest.mark.parametrize(
    ("type_", "default", "stored"),
    [
        ("boolean", "yes", True),
        ("integer", "300", 300),
        ("multi_choice", "beans, Espresso", ["beans", "espresso"]),
        ("text", "  ring twice ", "ring twice"),
    ],
)
def test_the_default_is_read_according_to_the_type(admin_client_a, org_a, type_, default, stored):
    data = new_field_form(org_a, type=type_, default=default, required="")
    if type_ not in ("choice", "multi_choice"):
        data["choices-TOTAL_FORMS"] = "0"

    response = admin_client_a.post(f"{FIELDS}add/", data)

    assert response.status_code == 302
    assert PreferenceField.objects.get(organization=org_a, key="grind").default == stored


def test_key_type_and_choice_values_cannot_change_once_they_exist(admin_client_a, org_a):
    field = preference_field(org_a, "grind", "choice", choices=[("beans", "Whole beans")])
    page = admin_client_a.get(field_url(field))
    data = page_form_data(page)
    assert "key" not in page.context["adminform"].form.fields
    assert "type" not in page.context["adminform"].form.fields
    assert page.context["inline_admin_formsets"][0].formset.forms[0].fields["value"].disabled

    # Posting other values for them (by hand) changes only what may change
    data.update(
        {
            "key": "mouture",
            "type": "text",
            "label": "Grind size",
            "label_fr": "Mouture",
            "choices-0-value": "grains",
            "choices-0-label": "Beans",
        }
    )
    response = admin_client_a.post(field_url(field), data)

    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.key, field.type, field.label, field.labels) == (
        "grind",
        "choice",
        "Grind size",
        {"fr": "Mouture"},
    )
    assert list(field.choices.values_list("value", "label")) == [("beans", "Beans")]


@pytest.mark.parametrize(
    ("change", "field_error"),
    [
        ({"default": "french_press"}, "“french_press” is not one of the choices"),
        ({"default": "espresso", "choices-1-active": ""}, "The choice “espresso” is retired"),
        ({"type": "integer", "default": "12", "min_value": "100"}, "Must be at least 100."),
        ({"type": "boolean", "default": "maybe"}, "Expected true or false."),
    ],
)
def test_a_bad_default_is_refused_on_the_page_and_nothing_is_saved(
    admin_client_a, org_a, change, field_error
):
    data = new_field_form(org_a, **change)
    if data["type"] not in ("choice", "multi_choice"):
        data["choices-TOTAL_FORMS"] = "0"

    response = admin_client_a.post(f"{FIELDS}add/", data, **EN)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["default"]
    assert any(field_error in error for error in errors), errors
    assert not PreferenceField.objects.exists()
    assert not PreferenceChoice.objects.exists()


def test_retiring_the_choice_that_is_the_default_is_refused_and_changes_nothing(
    admin_client_a, org_a
):
    field = preference_field(
        org_a,
        "grind",
        "choice",
        choices=[("beans", "Beans"), ("filter", "Filter")],
        default="beans",
    )
    data = page_form_data(admin_client_a.get(field_url(field)))
    data.update({"choices-0-active": "", "label": "Renamed"})

    response = admin_client_a.post(field_url(field), data, **EN)

    assert response.status_code == 200
    assert "The choice “beans” is retired" in response.content.decode()
    field.refresh_from_db()
    assert field.label == "Grind"
    assert field.choices.get(value="beans").active is True


def test_choices_are_only_for_choice_types(admin_client_a, org_a):
    response = admin_client_a.post(
        f"{FIELDS}add/", new_field_form(org_a, type="text", default=""), **EN
    )

    assert response.status_code == 200
    assert "has choices" in response.content.decode()
    assert not PreferenceField.objects.exists()


def test_fields_and_choices_are_retired_never_deleted(admin_client_for, org_a):
    # Even the organization's administrator cannot delete
    client = admin_client_for(member(org_a, Role.ADMIN))
    field = preference_field(org_a, "grind", "choice", choices=[("beans", "Beans")])

    page = client.get(field_url(field), **EN)
    data = page_form_data(page)
    data["choices-0-DELETE"] = "on"
    saved = client.post(field_url(field), data)
    deleted = client.post(f"{FIELDS}{field.pk}/delete/", {"post": "yes"})
    listing = client.get(FIELDS)

    content = page.content.decode()
    assert f"{FIELDS}{field.pk}/delete/" not in content
    assert "choices-0-DELETE" not in content
    assert "uncheck “active” to retire one" in content
    assert saved.status_code == 302
    assert deleted.status_code == 403
    assert listing.context["action_form"] is None  # not even "delete selected"
    assert field.choices.filter(value="beans").exists()
    assert PreferenceField.objects.filter(pk=field.pk).exists()


def test_another_organizations_fields_are_not_listed_nor_found(admin_client_a, org_a, org_b):
    mine = preference_field(org_a, "grind", "choice", choices=[("beans", "Beans")])
    theirs = preference_field(org_b, "leaf", "choice", label="Leaf grade")

    listing = admin_client_a.get(FIELDS)
    add = admin_client_a.get(f"{FIELDS}add/")

    assert list(listing.context["cl"].result_list) == [mine]
    assert "Leaf grade" not in listing.content.decode()
    assert admin_client_a.get(field_url(theirs)).status_code == 404
    assert admin_client_a.post(field_url(theirs), {"label": "Mine now"}).status_code == 404
    assert list(add.context["adminform"].form.fields["organization"].queryset) == [org_a]
    theirs.refresh_from_db()
    assert theirs.label == "Leaf grade"


def test_a_field_cannot_be_created_in_another_organization(admin_client_a, org_b):
    response = admin_client_a.post(f"{FIELDS}add/", new_field_form(org_b))

    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not PreferenceField.objects.exists()


def test_a_viewer_reads_the_schema_but_cannot_change_it(admin_client_for, org_a):
    viewer = admin_client_for(member(org_a, Role.VIEWER))
    field = preference_field(
        org_a, "grind", "choice", choices=[("beans", "Beans")], labels={"fr": "Mouture"}
    )
    PreferenceChoice.objects.filter(field=field).update(labels={"fr": "Grains"})

    page = viewer.get(field_url(field), **EN)

    assert page.status_code == 200
    assert "French: Mouture" in page.content.decode()
    assert "French: Grains" in page.content.decode()
    assert viewer.post(field_url(field), {"label": "x"}).status_code == 403
    assert viewer.post(f"{FIELDS}add/", new_field_form(field.organization)).status_code == 403
    field.refresh_from_db()
    assert field.label == "Grind"


# --- A subscription's page ------------------------------------------------------------------


def test_the_page_shows_an_input_per_type_and_the_batch_a_change_applies_to(
    admin_client_a, org_a, subscription
):
    batch = open_batch(org_a, timezone.now() + timedelta(days=2))

    response = admin_client_a.get(page_url(subscription), **EN)

    page = response.content.decode()
    assert response.status_code == 200
    # One choice: a select of the choices, the current value (the default) selected
    assert re.search(r'<select name="preference-0-grind"[^>]*>', page)
    assert '<option value="beans" selected>Whole beans</option>' in page
    # Several choices: checkboxes; yes / no: a select; a number with its range; text with max
    assert re.search(r'type="checkbox" name="preference-0-avoid_origins" value="peru"', page)
    assert re.search(r'<select name="preference-0-decaf"[^>]*>', page)
    assert '<option value="false" selected>No</option>' in page
    assert re.search(r'type="number" name="preference-0-grams"[^>]*min="250"[^>]*max="1000"', page)
    assert re.search(r'type="text" name="preference-0-note"[^>]*maxlength="20"', page)
    # And the batch a change made now applies to, its cut-off in the organization's time
    with translation.override("en"):
        cutoff = formats.date_format(
            timezone.localtime(batch.cutoff_at, org_a.tzinfo), "DATETIME_FORMAT"
        )
        date = formats.date_format(batch.cycle_date, "DATE_FORMAT")
    sentence = f"A change made now applies to the batch of {date} (cut-off {cutoff})."
    assert escape(sentence) in page


def test_a_valid_save_writes_one_change_by_the_staff_member(
    admin_client_a, staff_user_a, subscription
):
    data = page_form_data(admin_client_a.get(page_url(subscription)))
    data.update(
        {
            "preference-0-grind": "espresso",
            "preference-0-avoid_origins": ["peru", "brazil"],
            "preference-0-decaf": "true",
            "preference-0-grams": "500",
        }
    )

    response = admin_client_a.post(page_url(subscription), data, follow=True, **EN)

    assert response.redirect_chain
    [change] = history(subscription)
    assert change.actor_kind == ActorKind.USER
    assert change.actor_user == staff_user_a
    assert change.source == PreferenceChange.Source.ADMIN
    assert change.new_values == {
        "grind": "espresso",
        "avoid_origins": ["brazil", "peru"],
        "decaf": True,
        "grams": 500,
    }
    assert SubscriptionPreference.objects.get(subscription=subscription).values == change.new_values
    messages = [str(m) for m in response.context["messages"]]
    assert any(
        m.startswith("Preferences changed; the change applies to the batch") for m in messages
    )


def test_saving_the_page_unchanged_writes_no_change(admin_client_a, org_a, subscription):
    write_preferences(subscription, roast="light", avoid_origins=["peru", "brazil"], note="ring")
    address = AddressFactory(customer=subscription.customer)
    data = page_form_data(admin_client_a.get(page_url(subscription)))
    data["shipping_address"] = address.pk

    response = admin_client_a.post(page_url(subscription), data)

    assert response.status_code == 302
    assert len(history(subscription)) == 1
    subscription.refresh_from_db()
    assert subscription.shipping_address == address


def test_clearing_a_value_writes_it(admin_client_a, subscription):
    write_preferences(subscription, note="ring twice", roast="dark")
    data = page_form_data(admin_client_a.get(page_url(subscription)))
    data["preference-0-note"] = ""
    data["preference-0-roast"] = ""

    admin_client_a.post(page_url(subscription), data)

    change = history(subscription)[-1]
    assert (change.old_values["note"], "note" in change.new_values) == ("ring twice", False)
    assert "roast" not in change.new_values


@pytest.mark.parametrize(
    ("key", "posted", "message"),
    [
        ("grams", "5000", "Must be at most 1000."),
        ("note", "much more than twenty characters", "At most 20 characters."),
        ("grind", "french_press", "“french_press” is not one of the choices"),
        ("roast", "light", "The choice “light” is retired and cannot be chosen any more."),
        ("avoid_origins", ["brazil", "chile"], "“chile” is not one of the choices"),
    ],
)
def test_an_invalid_value_shows_its_error_and_nothing_on_the_page_is_written(
    admin_client_a, org_a, subscription, key, posted, message
):
    # Given a retired choice, and a page posted with one bad value among good changes
    PreferenceChoice.objects.filter(field__organization=org_a, value="light").update(active=False)
    address = AddressFactory(customer=subscription.customer)
    data = page_form_data(admin_client_a.get(page_url(subscription)))
    data.update({"preference-0-decaf": "true", "shipping_address": address.pk})
    data[f"preference-0-{key}"] = posted

    response = admin_client_a.post(page_url(subscription), data, **EN)

    # Then the error is next to the field, and nothing was written
    assert response.status_code == 200
    form = inline(response, "SubscriptionPreference").formset.forms[0]
    assert any(message in error for error in form.errors[key]), form.errors
    assert escape(message) in response.content.decode()
    assert history(subscription) == []
    assert not SubscriptionPreference.objects.filter(subscription=subscription).exists()
    subscription.refresh_from_db()
    assert subscription.shipping_address is None


def test_preferences_are_not_written_when_another_part_of_the_page_is_refused(
    admin_client_a, org_a, subscription
):
    stranger = AddressFactory(customer=CustomerFactory(organization=org_a))
    data = page_form_data(admin_client_a.get(page_url(subscription)))
    data.update({"preference-0-grind": "espresso", "shipping_address": stranger.pk})

    response = admin_client_a.post(page_url(subscription), data)

    assert response.status_code == 200
    assert "shipping_address" in response.context["adminform"].form.errors
    assert history(subscription) == []


def test_preferences_are_undone_when_the_items_are_refused(admin_client_a, org_a, subscription):
    # The items are refused: the page's services ran in one savepoint, rolled back
    data = page_form_data(admin_client_a.get(page_url(subscription)))
    data.update({"preference-0-grind": "espresso", "items-0-quantity": "0"})

    response = admin_client_a.post(page_url(subscription), data)

    assert response.status_code == 200
    assert history(subscription) == []
    assert not SubscriptionPreference.objects.filter(subscription=subscription).exists()


def test_a_retired_choice_or_field_stays_displayed_for_a_subscription_that_has_it(
    admin_client_a, org_a, subscription
):
    write_preferences(subscription, roast="light", note="ring twice")
    PreferenceChoice.objects.filter(field__organization=org_a, value="light").update(active=False)
    PreferenceField.objects.filter(organization=org_a, key="note").update(active=False)

    page = admin_client_a.get(page_url(subscription), **EN)

    content = page.content.decode()
    assert '<option value="light" selected>Light (retired)</option>' in content
    assert '<option value="dark">Dark</option>' in content
    assert 'name="preference-0-note"' not in content
    assert re.search(r'data-preference="note" data-readonly="true">.*?ring twice', content, re.S)
    # Saving the page as it is keeps the retired values and records nothing
    assert admin_client_a.post(page_url(subscription), page_form_data(page)).status_code == 302
    assert len(history(subscription)) == 1


def test_history_rows_show_who_what_and_which_batch_newest_first(
    admin_client_a, staff_user_a, subscription
):
    write_preferences(subscription, grind="filter")
    data = page_form_data(admin_client_a.get(page_url(subscription)))
    data.update({"preference-0-grind": "espresso", "preference-0-decaf": "true"})
    admin_client_a.post(page_url(subscription), data)

    response = admin_client_a.get(page_url(subscription), **EN)

    rows = [f.instance for f in inline(response, "PreferenceChange").formset.forms]
    assert [row.source for row in rows] == ["admin", "system"]
    content = response.content.decode()
    newest = content.index(escape("Grind: Filter → Espresso"))
    oldest = content.index(escape("Grind: Whole beans → Filter"))
    assert newest < oldest
    assert "Decaf: No → Yes" in content
    assert f"Staff member: {staff_user_a.username}" in content
    assert "Back office" in content
    with translation.override("en"):
        first_batch = formats.date_format(rows[0].effective_cycle, "DATE_FORMAT")
    assert first_batch in content


def test_the_pages_queries_do_not_grow_with_the_history(
    admin_client_a, subscription, django_assert_max_num_queries
):
    def changes(count):
        for number in range(count):
            write_preferences(
                subscription, grams=250 + number, grind=["filter", "espresso"][number % 2]
            )

    changes(2)
    admin_client_a.get(page_url(subscription))  # warm the session and content types

    with django_assert_max_num_queries(60) as few:
        admin_client_a.get(page_url(subscription))
    changes(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_a.get(page_url(subscription))

    assert len(inline(response, "PreferenceChange").formset.forms) == 22


def test_labels_are_in_french_when_the_admin_is(admin_client_a, org_a):
    field = preference_field(
        org_a,
        "grind",
        "choice",
        choices=[("beans", "Whole beans"), ("espresso", "Espresso")],
        labels={"fr": "Mouture"},
    )
    PreferenceChoice.objects.filter(field=field, value="beans").update(
        labels={"fr": "Grains entiers"}
    )
    subscription = SubscriptionFactory(customer__organization=org_a, status="active")
    write_preferences(subscription, grind="espresso")

    french = admin_client_a.get(page_url(subscription), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    english = admin_client_a.get(page_url(subscription), **EN).content.decode()

    assert "Mouture:</label>" in french
    assert "Grains entiers</option>" in french
    assert escape("Mouture : — → Espresso") in french
    assert "Mouture" not in english
    assert "Grind:</label>" in english


def test_a_viewer_sees_the_values_read_only(admin_client_for, org_a, subscription):
    write_preferences(subscription, grind="espresso")
    viewer = admin_client_for(member(org_a, Role.VIEWER))

    response = viewer.get(page_url(subscription), **EN)

    content = response.content.decode()
    assert response.status_code == 200
    assert 'name="preference-0-grind"' not in content
    assert re.search(r'data-preference="grind" data-readonly="true">.*?Espresso', content, re.S)
    assert viewer.post(page_url(subscription), {"preference-0-grind": "filter"}).status_code == 403
    assert len(history(subscription)) == 1


def test_an_ended_subscriptions_preferences_are_read_only(admin_client_a, org_a):
    coffee_schema(org_a)
    canceled = SubscriptionFactory(customer__organization=org_a, status=Subscription.Status.ACTIVE)
    write_preferences(canceled, grind="filter")
    Subscription.objects.filter(pk=canceled.pk).update(status=Subscription.Status.CANCELED)

    page = admin_client_a.get(page_url(canceled), **EN)
    data = page_form_data(page)
    data["preference-0-grind"] = "espresso"  # posted by hand
    response = admin_client_a.post(page_url(canceled), data)

    content = page.content.decode()
    assert 'name="preference-0-grind"' not in content
    assert "The subscription has ended: its preferences can no longer change." in content
    assert re.search(r'data-preference="grind" data-readonly="true">.*?Filter', content, re.S)
    assert response.status_code == 302  # the rest of the page may still be saved
    assert len(history(canceled)) == 1
    assert SubscriptionPreference.objects.get(subscription=canceled).values["grind"] == "filter"


def test_the_form_offers_only_the_subscriptions_organizations_fields(
    admin_client_a, org_a, org_b, subscription
):
    preference_field(org_b, "grind", "choice", choices=[("chai", "Chai")])
    preference_field(org_b, "leaf", "text", label="Leaf grade")

    page = admin_client_a.get(page_url(subscription), **EN).content.decode()

    assert "Chai" not in page
    assert "Leaf grade" not in page
    assert "Whole beans" in page


# --- Found in the lead's modules --------------------------------------------------------
