"""Writing preferences: checked against the organization's own schema, recorded, or refused."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import translation

from core.actors import Actor, ActorKind
from core.errors import ApplicationError, ConflictError
from preferences import selectors, services
from preferences.models import PreferenceChange, PreferenceChoice, PreferenceField
from preferences.models import SubscriptionPreference as Stored
from tests.factories import (
    SubscriptionFactory,
    UserFactory,
    coffee_schema,
    open_batch,
    preference_field,
)
from tests.helpers import write_preferences

pytestmark = pytest.mark.django_db


def stored(subscription):
    row = Stored.objects.filter(subscription=subscription).first()
    return None if row is None else row.values


VALID = [
    {"grind": "espresso"},
    {"roast": "dark"},
    {"decaf": True},
    {"avoid_origins": ["brazil", "peru"]},
    {"grams": 250},
    {"grams": 1000},
    {"note": "ring twice"},
]
INVALID = [
    ({"grind": "french_press"}, "grind"),
    ({"grind": None, "roast": "pale"}, "roast"),
    ({"decaf": "yes"}, "decaf"),
    ({"avoid_origins": ["chile"]}, "avoid_origins"),
    ({"avoid_origins": "brazil"}, "avoid_origins"),
    ({"grams": 1001}, "grams"),
    ({"grams": 249}, "grams"),
    ({"grams": "500"}, "grams"),
    ({"note": "x" * 21}, "note"),
    ({"colour": "red"}, "colour"),
    ({"grind": "filter", "grams": 10}, "grams"),  # one bad value: the good one is not written
]


@pytest.mark.parametrize("values", VALID)
def test_a_valid_value_of_every_type_is_stored_with_its_history(subscription, values):
    staff = UserFactory()
    preference, change = write_preferences(subscription, actor=Actor.for_user(staff), **values)

    assert preference.values == {"grind": "beans", "decaf": False, **values}
    assert change.new_values == preference.values
    assert change.old_values == {"grind": "beans", "decaf": False}
    assert change.actor_kind == ActorKind.USER
    assert change.actor_user == staff
    assert selectors.preferences_current(subscription=subscription) == preference.values


@pytest.mark.parametrize(("values", "field"), INVALID)
def test_an_invalid_value_is_refused_naming_the_field_and_changes_nothing(
    subscription, values, field
):
    write_preferences(subscription, grind="filter", grams=500)
    before = stored(subscription)

    with pytest.raises(ApplicationError) as excinfo:
        write_preferences(subscription, **values)

    assert list(excinfo.value.extra["fields"]) == [field]
    assert field in excinfo.value.message
    assert stored(subscription) == before
    assert PreferenceChange.objects.filter(subscription=subscription).count() == 1


def test_an_invalid_first_write_leaves_no_row_at_all(subscription):
    with pytest.raises(ApplicationError):
        write_preferences(subscription, grams=5)
    assert stored(subscription) is None
    assert not PreferenceChange.objects.exists()


def test_the_error_is_in_the_readers_language_and_names_the_field_by_its_label(subscription):
    with translation.override("fr"), pytest.raises(ApplicationError) as excinfo:
        write_preferences(subscription, grams=5000)
    assert excinfo.value.message == "Préférences non valides : Grams (grams)."
    assert excinfo.value.extra["fields"]["grams"] == ["Doit être au plus 1000."]


def test_a_write_that_changes_nothing_records_nothing(subscription):
    write_preferences(subscription, grind="filter")
    _, change = write_preferences(subscription, grind="filter")
    _, defaults_only = write_preferences(subscription, decaf=False)
    assert change is None
    assert defaults_only is None
    assert PreferenceChange.objects.filter(subscription=subscription).count() == 1


def test_a_full_replace_resets_what_is_not_given(subscription):
    write_preferences(subscription, grind="filter", roast="dark", grams=500)
    preference, change = write_preferences(subscription, partial=False, roast="light")
    assert preference.values == {"grind": "beans", "roast": "light", "decaf": False}
    assert change.changed_keys == ["grams", "grind", "roast"]


def test_an_ended_subscription_refuses_changes(org_a):
    coffee_schema(org_a)
    ended = SubscriptionFactory(customer__organization=org_a, status="canceled")
    with pytest.raises(ConflictError):
        write_preferences(ended, grind="filter")
    assert stored(ended) is None


def test_two_organizations_with_the_same_key_validate_against_their_own_choices(org_a, org_b):
    preference_field(org_a, "format", "choice", choices=[("beans", "Beans")])
    preference_field(org_b, "format", "choice", choices=[("loose", "Loose leaf")])
    sub_a = SubscriptionFactory(customer__organization=org_a, status="active")
    sub_b = SubscriptionFactory(customer__organization=org_b, status="active")

    with pytest.raises(ApplicationError) as excinfo:
        write_preferences(sub_a, format="loose")
    assert "beans" in excinfo.value.extra["fields"]["format"][0]
    assert "loose" not in excinfo.value.extra["fields"]["format"][0].split("(")[1]
    write_preferences(sub_b, format="loose")
    with pytest.raises(ApplicationError):
        write_preferences(sub_b, format="beans")

    assert stored(sub_a) is None
    assert stored(sub_b) == {"format": "loose"}
    assert [s.key for s in selectors.preference_schema(organization=org_a)] == ["format"]
    assert selectors.preference_schema(organization=org_a)[0].choice_values() == ["beans"]


def test_a_retired_choice_stays_readable_and_is_refused_for_new_writes(subscription):
    write_preferences(subscription, roast="dark", grams=300)
    PreferenceChoice.objects.filter(field__key="roast", value="dark").update(active=False)

    schema = selectors.preference_schema(organization=subscription.organization)
    values = selectors.preferences_current(subscription=subscription)
    rows = {row.key: row for row in selectors.preference_rows(schema, values)}
    assert rows["roast"].display == "Dark"

    with pytest.raises(ApplicationError) as excinfo:
        write_preferences(other_subscription(subscription), roast="dark")
    assert "retired" in excinfo.value.extra["fields"]["roast"][0]
    # Writing another field keeps it, and so does repeating it.
    preference, _ = write_preferences(subscription, grams=400, roast="dark")
    assert preference.values["roast"] == "dark"


def other_subscription(subscription):
    return SubscriptionFactory(customer__organization=subscription.organization, status="active")


def test_a_retired_field_keeps_its_values_and_history_readable(subscription):
    write_preferences(subscription, note="leave at door")
    PreferenceField.objects.filter(key="note").update(active=False)

    with pytest.raises(ApplicationError):
        write_preferences(subscription, note="other")
    schema = selectors.preference_schema(organization=subscription.organization)
    values = selectors.preferences_current(subscription=subscription)
    row = next(r for r in selectors.preference_rows(schema, values) if r.key == "note")
    assert (row.label, row.display, row.retired) == ("Note", "leave at door", True)
    assert selectors.preference_change_list(subscription=subscription).get().new_values["note"] == (
        "leave at door"
    )


def test_values_at_any_instant_come_from_the_history(org_a, subscription):
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        write_preferences(subscription, grind="filter")
    with time_machine.travel(start + timedelta(days=2), tick=False):
        write_preferences(subscription, grind="espresso")

    def at(delta):
        return selectors.preferences_at(subscription=subscription, at=start + delta)["grind"]

    assert at(-timedelta(seconds=1)) == "beans"  # before any change: the default
    assert at(timedelta(0)) == "beans"  # a change counts strictly after its instant
    assert at(timedelta(seconds=1)) == "filter"
    assert at(timedelta(days=3)) == "espresso"


def test_values_at_an_instant_for_many_subscriptions_take_a_fixed_number_of_queries(
    org_a, django_assert_max_num_queries
):
    coffee_schema(org_a)
    subs = [SubscriptionFactory(customer__organization=org_a, status="active") for _ in range(12)]
    for n, sub in enumerate(subs):
        write_preferences(sub, grams=250 + n)
        write_preferences(sub, grams=500 + n)
    now = datetime.now(UTC) + timedelta(seconds=1)

    with django_assert_max_num_queries(3):
        values = selectors.preferences_at_many(
            organization=org_a, subscription_ids=[s.pk for s in subs], at=now
        )
    assert [values[s.pk]["grams"] for s in subs] == [500 + n for n in range(12)]


def test_the_history_says_which_batch_each_change_first_counts_for(org_a, subscription):
    cutoff = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
    batch = open_batch(org_a, cutoff)
    with time_machine.travel(cutoff - timedelta(hours=1), tick=False):
        write_preferences(subscription, grind="filter")
    with time_machine.travel(cutoff + timedelta(hours=1), tick=False):
        write_preferences(subscription, grind="espresso")
    history = list(selectors.preference_change_list(subscription=subscription))
    assert [(c.new_values["grind"], c.effective_cycle.isoformat()) for c in history] == [
        ("espresso", "2026-12-09"),
        ("filter", batch.cycle_date.isoformat()),
    ]


def test_a_first_write_of_the_defaults_records_nothing_and_leaves_no_row(subscription):
    preference, change = write_preferences(subscription, grind="beans")
    assert change is None
    assert preference.pk is None
    assert stored(subscription) is None


def test_the_same_choices_in_another_order_are_not_a_change(subscription):
    preference, _ = write_preferences(subscription, avoid_origins=["peru", "brazil"])
    _, change = write_preferences(subscription, avoid_origins=["brazil", "peru"])
    assert preference.values["avoid_origins"] == ["brazil", "peru"]  # the schema's order
    assert change is None


# --- The organization's schema ------------------------------------------------------------


def _schema_rows(organization):
    return (
        list(PreferenceField.objects.filter(organization=organization).values()),
        list(PreferenceChoice.objects.filter(field__organization=organization).values()),
    )


def test_a_field_is_saved_with_its_choices_and_a_default_naming_a_new_choice(org_a):
    field = PreferenceField(organization=org_a, key="grind", label="Grind", type="choice")
    choices = [
        PreferenceChoice(value="beans", label="Beans"),
        PreferenceChoice(value="filter", label="Filter"),
    ]

    saved = services.preference_field_save(field=field, choices=choices, default="Filter")

    saved.refresh_from_db()
    assert saved.default == "filter"  # the label typed, the value stored
    assert list(saved.choices.values_list("value", flat=True)) == ["beans", "filter"]


@pytest.mark.parametrize(
    ("change", "at_fault"),
    [
        ({"key": "mouture"}, "key"),
        ({"type": "text"}, "type"),
        ({"choice_value": "grains"}, "choices"),
    ],
)
def test_a_key_type_or_choice_value_never_changes_and_nothing_is_written(org_a, change, at_fault):
    stored = preference_field(org_a, "grind", "choice", choices=[("beans", "Beans")])
    before = _schema_rows(org_a)
    field = PreferenceField.objects.get(pk=stored.pk)
    field.label = "Renamed"
    choices = list(field.choices.all())
    if "choice_value" in change:
        choices[0].value = change.pop("choice_value")
    for name, value in change.items():
        setattr(field, name, value)

    with pytest.raises(ConflictError) as refused:
        services.preference_field_save(field=field, choices=choices, default="")

    assert list(refused.value.extra["fields"]) == [at_fault]
    assert _schema_rows(org_a) == before


def test_choices_are_only_for_a_choice_type_and_nothing_is_written(org_a):
    field = PreferenceField(organization=org_a, key="note", label="Note", type="text")

    with pytest.raises(ApplicationError) as refused:
        services.preference_field_save(
            field=field, choices=[PreferenceChoice(value="x", label="X")], default=""
        )

    assert "choices" in refused.value.extra["fields"]
    assert _schema_rows(org_a) == ([], [])


def test_a_default_that_fits_no_choice_is_refused_on_its_field(org_a):
    stored = preference_field(org_a, "grind", "choice", choices=[("beans", "Beans")])
    before = _schema_rows(org_a)
    field = PreferenceField.objects.get(pk=stored.pk)
    choices = list(field.choices.all())
    choices[0].active = False  # retiring the choice the default would name

    with translation.override("en"), pytest.raises(ApplicationError) as refused:
        services.preference_field_save(field=field, choices=choices, default="beans")

    assert "retired" in refused.value.extra["fields"]["default"][0]
    assert _schema_rows(org_a) == before
