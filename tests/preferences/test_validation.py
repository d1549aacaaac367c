"""Preference values against a schema: the pure rules, without a database."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preferences.validation import (
    ChoiceSpec,
    FieldSpec,
    PreferenceErrors,
    changed_keys,
    check_value,
    coerce_text,
    display,
    resolve,
    validate,
)

GRIND = FieldSpec(
    key="grind",
    label="Grind",
    type="choice",
    choices=(
        ChoiceSpec("beans", "Whole beans"),
        ChoiceSpec("espresso", "Espresso"),
        ChoiceSpec("turkish", "Turkish", active=False),
    ),
    required=True,
    default="beans",
)
AVOID = FieldSpec(
    key="avoid",
    label="Origins to avoid",
    type="multi_choice",
    choices=(ChoiceSpec("brazil", "Brazil"), ChoiceSpec("peru", "Peru")),
)
DECAF = FieldSpec(key="decaf", label="Decaf", type="boolean", default=False)
GRAMS = FieldSpec(key="grams", label="Grams", type="integer", min_value=250, max_value=1000)
NOTE = FieldSpec(key="note", label="Note", type="text", max_length=10)
OLD = FieldSpec(key="mug", label="Mug size", type="text", active=False)
SCHEMA = [GRIND, AVOID, DECAF, GRAMS, NOTE, OLD]


def codes(excinfo) -> dict[str, str]:
    return {e.key: e.code for e in excinfo.value.errors}


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("grind", "espresso", "espresso"),
        ("avoid", ["peru", "brazil"], ["brazil", "peru"]),
        ("avoid", [], None),
        ("decaf", True, True),
        ("decaf", False, False),
        ("grams", 250, 250),
        ("grams", 1000, 1000),
        ("grams", 500.0, 500),
        ("note", "  no sugar ", "no sugar"),
        ("note", "x" * 10, "x" * 10),
    ],
)
def test_every_type_accepts_its_valid_values(key, value, stored):
    values = validate(SCHEMA, {}, {key: value})
    assert values.get(key) == stored


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("grind", "french_press", "not_a_choice"),
        ("grind", 3, "not_a_string"),
        ("grind", ["espresso"], "not_a_string"),
        ("grind", "turkish", "retired_choice"),
        ("avoid", "brazil", "not_a_list"),
        ("avoid", ["brazil", "brazil"], "duplicate_choice"),
        ("avoid", ["chile"], "not_a_choice"),
        ("avoid", [1], "not_a_list"),
        ("decaf", "yes", "not_a_boolean"),
        ("decaf", 1, "not_a_boolean"),
        ("grams", 249, "too_small"),
        ("grams", 1001, "too_large"),
        ("grams", 500.5, "not_an_integer"),
        ("grams", "500", "not_an_integer"),
        ("grams", True, "not_an_integer"),
        ("note", "x" * 11, "too_long"),
        ("note", 12, "not_a_string"),
        ("mug", "large", "retired_field"),
        ("colour", "red", "unknown_field"),
    ],
)
def test_every_type_refuses_invalid_values_naming_the_field(key, value, code):
    with pytest.raises(PreferenceErrors) as excinfo:
        validate(SCHEMA, {"grind": "beans"}, {key: value})
    assert codes(excinfo) == {key: code}
    assert key in str(excinfo.value)


def test_all_problems_are_reported_at_once():
    size = FieldSpec(key="size", label="Size", type="integer", required=True)
    with pytest.raises(PreferenceErrors) as excinfo:
        validate([*SCHEMA, size], {}, {"grams": 5, "colour": "red"})
    assert codes(excinfo) == {"size": "required", "grams": "too_small", "colour": "unknown_field"}


def test_clearing_a_field_with_a_default_puts_the_default_back():
    assert validate(SCHEMA, {"grind": "espresso"}, {"grind": None})["grind"] == "beans"


def test_defaults_fill_missing_optional_fields_and_required_ones():
    assert validate(SCHEMA, {}, {}) == {"grind": "beans", "decaf": False}


def test_a_required_field_without_default_must_be_given():
    schema = [FieldSpec(key="size", label="Size", type="integer", required=True)]
    with pytest.raises(PreferenceErrors) as excinfo:
        validate(schema, {}, {})
    assert codes(excinfo) == {"size": "required"}
    assert validate(schema, {}, {"size": 2}) == {"size": 2}


def test_partial_keeps_other_values_and_full_replace_resets_them():
    current = {"grind": "espresso", "grams": 500, "note": "hi"}
    assert validate(SCHEMA, current, {"grams": 750}) == {
        "grind": "espresso",
        "grams": 750,
        "note": "hi",
        "decaf": False,
    }
    assert validate(SCHEMA, current, {"grams": 750}, partial=False) == {
        "grind": "beans",
        "grams": 750,
        "decaf": False,
    }


def test_none_clears_an_optional_value():
    assert "grams" not in validate(SCHEMA, {"grams": 500}, {"grams": None})


def test_stored_retired_values_are_kept_and_may_be_repeated_but_not_changed():
    current = {"grind": "turkish", "mug": "large"}
    kept = validate(SCHEMA, current, {"grams": 300})
    assert kept["grind"] == "turkish"
    assert kept["mug"] == "large"
    assert validate(SCHEMA, current, {"grind": "turkish", "mug": "large"})["mug"] == "large"
    # A full replace keeps the retired field's stored value: it cannot be written anyway.
    assert validate(SCHEMA, current, {"grind": "beans"}, partial=False)["mug"] == "large"
    with pytest.raises(PreferenceErrors) as excinfo:
        validate(SCHEMA, current, {"mug": "small"})
    assert codes(excinfo) == {"mug": "retired_field"}


def test_the_input_must_be_an_object():
    with pytest.raises(PreferenceErrors) as excinfo:
        validate(SCHEMA, {}, ["grind", "espresso"])
    assert codes(excinfo) == {"": "not_an_object"}


@pytest.mark.parametrize(
    ("spec", "raw", "labels", "expected"),
    [
        (GRIND, "espresso", (), "espresso"),
        (GRIND, "Espresso", (), "espresso"),
        (GRIND, "whole BEANS", (), "beans"),
        (GRIND, "x-espresso", ("Espresso",), "espresso"),
        (GRIND, "unknown", (), "unknown"),
        (AVOID, "Brazil, peru", (), ["brazil", "peru"]),
        (AVOID, "brazil|Peru", (), ["brazil", "peru"]),
        (DECAF, "yes", (), True),
        (DECAF, "Oui", (), True),
        (DECAF, "0", (), False),
        (DECAF, "maybe", (), "maybe"),
        (DECAF, " ", (), ""),
        (GRAMS, " 500 ", (), 500),
        (GRAMS, "lots", (), "lots"),
        (NOTE, " hello ", (), "hello"),
        (GRAMS, 500, (), 500),
    ],
)
def test_text_from_a_shop_is_converted_to_the_field_type(spec, raw, labels, expected):
    assert coerce_text(spec, raw, labels=labels) == expected


def test_display_uses_labels_even_for_retired_choices():
    assert display(GRIND, "turkish") == "Turkish"
    assert display(GRIND, "gone") == "gone"
    assert display(AVOID, ["peru", "brazil"]) == "Peru, Brazil"
    assert display(None, ["a", 1]) == "a, 1"
    assert display(GRAMS, None) == ""


def test_resolve_keeps_stored_values_and_skips_retired_defaults():
    schema = [*SCHEMA, FieldSpec(key="cup", label="Cup", type="text", default="x", active=False)]
    assert resolve(schema, {"grind": "espresso"}) == {"grind": "espresso", "decaf": False}


def test_changed_keys():
    assert changed_keys({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == ["b", "c"]


# --- Properties: whatever a client sends ----------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers(-2000, 2000) | st.floats(-2000, 2000) | st.text()
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4), max_leaves=6)
KEYS = st.sampled_from([spec.key for spec in SCHEMA] + ["colour", ""])
VALUES = st.sampled_from(["beans", "espresso", "turkish", "brazil", "peru", "chile"])
INCOMING = st.dictionaries(KEYS, JSON | VALUES | st.lists(VALUES, max_size=3), max_size=6)


@given(current=st.sampled_from([{}, {"grind": "turkish", "mug": "large"}]), incoming=INCOMING)
@settings(max_examples=300, deadline=None)
def test_anything_sent_is_either_refused_or_stored_valid(current, incoming):
    before = dict(current)
    try:
        values = validate(SCHEMA, current, incoming, partial=True)
    except PreferenceErrors as errors:
        refused = errors.errors
    else:
        refused = []
        specs = {spec.key: spec for spec in SCHEMA}
        for key, value in values.items():
            if key in current and current[key] == value:
                continue  # kept as stored, retired or not
            assert specs[key].active
            assert check_value(specs[key], value) == (value, None)
        assert values["grind"]  # the required field always has a value
    # Refused with a reason naming a field that was sent (or a required one).
    assert all(e.key in incoming or e.code == "required" for e in refused)
    assert current == before  # the input is never modified
