"""The REST API for preferences: the schema, a subscription's values, their history."""

import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import Actor
from preferences import services
from preferences.models import (
    PreferenceChange,
    PreferenceChoice,
    PreferenceField,
    SubscriptionPreference,
)
from tests.api_schema import own_responses
from tests.factories import SubscriptionFactory, coffee_schema, open_batch, preference_field

pytestmark = pytest.mark.django_db

FIELDS_URL = "/api/v1/preference-fields/"
DEFAULTS = {"grind": "beans", "decaf": False}


def _url(subscription, suffix=""):
    return f"/api/v1/subscriptions/{subscription.pk}/preferences/{suffix}"


def _subscription(organization, status="active"):
    return SubscriptionFactory(customer__organization=organization, status=status)


def _field(organization, key):
    return PreferenceField.objects.get(organization=organization, key=key)


def _write(subscription, **values):
    """A change made elsewhere (the admin, the shop), through the one service."""
    return services.preferences_update(
        subscription=subscription, values=values, actor=Actor.system(), source="system"
    )


def _stored(subscription):
    """What is written for the subscription: its stored values and its changes."""
    values = (
        SubscriptionPreference.objects.filter(subscription=subscription)
        .values_list("values", flat=True)
        .first()
    )
    changes = list(
        PreferenceChange.objects.filter(subscription=subscription).values_list("id", flat=True)
    )
    return values, changes


@pytest.fixture
def coffee(org_a):
    return coffee_schema(org_a)


@pytest.fixture
def subscription(org_a, coffee):
    return _subscription(org_a)


# --- The schema ------------------------------------------------------------------


def _retire_roast_and_filter(organization):
    PreferenceField.objects.filter(organization=organization, key="roast").update(active=False)
    PreferenceChoice.objects.filter(
        field__organization=organization, field__key="grind", value="filter"
    ).update(active=False)


def test_the_schema_lists_active_fields_in_order_with_their_active_choices(
    api_client_a, org_a, coffee
):
    # Given a retired preference and a retired choice
    _retire_roast_and_filter(org_a)

    # When the schema is read
    response = api_client_a.get(FIELDS_URL)

    # Then only what can be chosen now is listed, in order, in one unpaginated list
    assert response.status_code == 200
    fields = response.json()
    assert [f["key"] for f in fields] == ["grind", "decaf", "avoid_origins", "grams", "note"]
    assert fields[0] == {
        "key": "grind",
        "label": "Grind",
        "labels": {},
        "type": "choice",
        "required": True,
        "default": "beans",
        "help_text": "",
        "min_value": None,
        "max_value": None,
        "max_length": None,
        "active": True,
        "choices": [
            {"value": "beans", "label": "Whole beans", "labels": {}, "active": True},
            {"value": "espresso", "label": "Espresso", "labels": {}, "active": True},
        ],
    }
    by_key = {f["key"]: f for f in fields}
    assert (by_key["grams"]["type"], by_key["grams"]["min_value"]) == ("integer", 250)
    assert by_key["grams"]["max_value"] == 1000
    assert (by_key["note"]["type"], by_key["note"]["max_length"]) == ("text", 20)
    assert (by_key["decaf"]["type"], by_key["decaf"]["default"]) == ("boolean", False)
    assert by_key["avoid_origins"]["type"] == "multi_choice"


def test_include_retired_lists_retired_fields_and_choices_marked_inactive(
    api_client_a, org_a, coffee
):
    _retire_roast_and_filter(org_a)

    fields = api_client_a.get(FIELDS_URL, {"include_retired": "true"}).json()

    assert [f["key"] for f in fields] == [
        "grind",
        "roast",
        "decaf",
        "avoid_origins",
        "grams",
        "note",
    ]
    assert fields[1]["active"] is False
    assert [(c["value"], c["active"]) for c in fields[0]["choices"]] == [
        ("beans", True),
        ("filter", False),
        ("espresso", True),
    ]


def test_an_invalid_include_retired_is_a_400_naming_it(api_client_a, coffee):
    response = api_client_a.get(FIELDS_URL, {"include_retired": "perhaps"})

    assert response.status_code == 400
    assert "include_retired" in response.json()["extra"]["fields"]


def test_labels_follow_the_requests_language(api_client_a, org_a):
    # Given a preference and a choice labelled in French too
    grind = preference_field(
        org_a, "grind", "choice", label="Grind", labels={"en": "Grind", "fr": "Mouture"}
    )
    PreferenceChoice.objects.create(
        field=grind, value="beans", label="Whole beans", labels={"fr": "Grains entiers"}
    )

    # When a French reader and an English reader ask
    french = api_client_a.get(FIELDS_URL, HTTP_ACCEPT_LANGUAGE="fr").json()[0]
    english = api_client_a.get(FIELDS_URL, HTTP_ACCEPT_LANGUAGE="en").json()[0]

    # Then each reads their language, and every language is listed for both
    assert (french["label"], french["choices"][0]["label"]) == ("Mouture", "Grains entiers")
    assert (english["label"], english["choices"][0]["label"]) == ("Grind", "Whole beans")
    assert french["labels"] == english["labels"] == {"en": "Grind", "fr": "Mouture"}
    assert french["choices"][0]["labels"] == {"fr": "Grains entiers"}


def test_a_subscriptions_display_follows_the_requests_language(api_client_a, org_a, subscription):
    PreferenceField.objects.filter(organization=org_a, key="grind").update(labels={"fr": "Mouture"})
    PreferenceChoice.objects.filter(field__organization=org_a, value="espresso").update(
        labels={"fr": "Expresso"}
    )
    _write(subscription, grind="espresso")

    rows = api_client_a.get(_url(subscription), HTTP_ACCEPT_LANGUAGE="fr").json()["display"]

    assert rows[0] == {
        "key": "grind",
        "label": "Mouture",
        "value": "espresso",
        "display": "Expresso",
        "retired": False,
    }


# --- Two organizations, one key -----------------------------------------------------


def _choice_values(client):
    return [choice["value"] for choice in client.get(FIELDS_URL).json()[0]["choices"]]


def test_each_organization_sees_and_is_validated_against_only_its_own_schema(
    api_client_for, org_a, org_b
):
    # Given "grind" in both organizations, with different choices
    preference_field(org_a, "grind", "choice", choices=[("beans", "Beans"), ("filter", "Filter")])
    preference_field(org_b, "grind", "choice", choices=[("turkish", "Turkish"), ("moka", "Moka")])
    mine, theirs = _subscription(org_a), _subscription(org_b)
    api_client_a, client_b = api_client_for(org_a), api_client_for(org_b)

    # Then each reads its own choices only
    assert _choice_values(api_client_a) == ["beans", "filter"]
    assert _choice_values(client_b) == ["turkish", "moka"]

    # When A writes a value only B's schema allows
    before = _stored(mine)
    refused = api_client_a.patch(_url(mine), {"grind": "turkish"}, format="json")

    # Then it is refused, naming the field, and nothing is written
    assert refused.status_code == 400
    assert list(refused.json()["extra"]["fields"]) == ["grind"]
    assert _stored(mine) == before

    # While B may write it, and A's values are not B's
    accepted = client_b.patch(_url(theirs), {"grind": "turkish"}, format="json")
    assert accepted.status_code == 200
    assert accepted.json()["values"] == {"grind": "turkish"}
    assert api_client_a.get(_url(mine)).json()["values"] == {}


# --- Read, update, replace -------------------------------------------------------------


PATCH = {"roast": "dark", "avoid_origins": ["peru", "brazil"], "grams": 500, "note": " Ring "}


def test_a_subscription_never_written_reads_the_defaults_in_the_schemas_order(
    api_client_a, subscription
):
    first = api_client_a.get(_url(subscription))

    assert first.status_code == 200
    assert first.json()["subscription"] == subscription.pk
    assert first.json()["values"] == DEFAULTS
    assert first.json()["updated_at"] is None
    assert [row["key"] for row in first.json()["display"]] == [
        "grind",
        "roast",
        "decaf",
        "avoid_origins",
        "grams",
        "note",
    ]


def test_a_patch_changes_the_values_given_and_keeps_the_others(api_client_a, subscription):
    patched = api_client_a.patch(_url(subscription), PATCH, format="json")

    assert patched.status_code == 200, patched.json()
    body = patched.json()
    assert body["values"] == {
        **DEFAULTS,
        "roast": "dark",
        "avoid_origins": ["brazil", "peru"],  # a set of choices, in the schema's order
        "grams": 500,
        "note": "Ring",
    }
    display = {row["key"]: row["display"] for row in body["display"]}
    assert (display["roast"], display["avoid_origins"]) == ("Dark", "Brazil, Peru")
    assert display["decaf"] == "No"
    assert body["updated_at"] is not None
    read = api_client_a.get(_url(subscription)).json()
    assert read == {key: value for key, value in body.items() if key != "change"}


def test_a_patch_answers_its_change_who_from_where_and_what(api_client_a, subscription):
    body = api_client_a.patch(_url(subscription), PATCH, format="json").json()

    change = body["change"]
    assert change["source"] == "api"
    assert change["actor"] == {"kind": "api_key", "label": "integration"}
    assert change["old_values"] == DEFAULTS
    assert change["new_values"] == body["values"]
    assert change["changed_keys"] == ["avoid_origins", "grams", "note", "roast"]
    assert change["effective_cycle"] == body["applies_to"]["cycle_date"]


def test_a_put_replaces_the_whole_set_and_clears_what_it_leaves_out(api_client_a, subscription):
    patched = api_client_a.patch(_url(subscription), PATCH, format="json").json()

    put = api_client_a.put(_url(subscription), {"grind": "filter", "decaf": True}, format="json")

    # What was left out is cleared (back to its default, if any)
    assert put.status_code == 200, put.json()
    assert put.json()["values"] == {"grind": "filter", "decaf": True}
    assert put.json()["change"]["old_values"] == patched["values"]
    assert api_client_a.get(_url(subscription)).json()["values"] == {
        "grind": "filter",
        "decaf": True,
    }
    assert PreferenceChange.objects.filter(subscription=subscription).count() == 2


def test_put_without_a_required_value_is_refused(api_client_a, org_a, subscription):
    preference_field(org_a, "size", "choice", choices=[("s", "S"), ("l", "L")], required=True)
    _write(subscription, size="l")
    before = _stored(subscription)

    response = api_client_a.put(_url(subscription), {"grind": "filter"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["size"]
    assert _stored(subscription) == before


def test_null_clears_a_value_back_to_its_default(api_client_a, subscription):
    _write(subscription, grind="espresso", roast="dark")

    response = api_client_a.patch(_url(subscription), {"grind": None, "roast": None}, format="json")

    assert response.status_code == 200
    assert response.json()["values"] == DEFAULTS


def test_the_cycle_a_change_counts_for_is_the_open_batch_before_its_cutoff(
    api_client_a, org_a, subscription
):
    batch = open_batch(org_a, timezone.now() + timedelta(days=2))

    read = api_client_a.get(_url(subscription)).json()
    written = api_client_a.patch(_url(subscription), {"grind": "espresso"}, format="json").json()

    assert read["applies_to"]["batch"] == batch.pk
    assert read["applies_to"]["cycle_date"] == batch.cycle_date.isoformat()
    assert written["change"]["effective_cycle"] == batch.cycle_date.isoformat()
    cutoff = PreferenceChange.objects.get().effective_cutoff_at
    assert cutoff == batch.cutoff_at


def test_without_a_batch_the_cycle_is_the_calendars_next(api_client_a, subscription):
    applies_to = api_client_a.get(_url(subscription)).json()["applies_to"]

    assert applies_to["batch"] is None
    assert datetime.fromisoformat(applies_to["cutoff_at"]) > timezone.now()


# --- Refused writes ----------------------------------------------------------------------

INVALID = [
    ("grind", "turkish"),  # not a choice
    ("grind", 3),  # not text
    ("roast", ["dark"]),  # one choice, not a list
    ("avoid_origins", "brazil"),  # not a list
    ("avoid_origins", ["mars"]),  # not a choice
    ("avoid_origins", ["peru", "peru"]),  # twice
    ("avoid_origins", [1]),  # not text
    ("decaf", "yes"),  # text is not a boolean in JSON
    ("decaf", 1),
    ("grams", 249),  # below the minimum
    ("grams", 1001),  # above the maximum
    ("grams", 500.5),  # not whole
    ("grams", "500"),  # text
    ("grams", True),
    ("note", "x" * 21),  # too long
    ("note", 7),  # not text
    ("note", {"text": "hi"}),
    ("nonsense", "x"),  # no such preference
]


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize(("key", "value"), INVALID, ids=[f"{k}={v!r}" for k, v in INVALID])
def test_an_invalid_value_is_a_400_naming_it_and_nothing_is_written(
    api_client_a, subscription, method, key, value
):
    # Given values already written
    _write(subscription, grind="filter", roast="light", grams=300)
    before = _stored(subscription)
    shown = api_client_a.get(_url(subscription)).json()

    # When an invalid value is sent, with a valid one beside it
    other = {"roast": "medium"} if key != "roast" else {"grind": "espresso"}
    body = {**other, key: value}
    if method == "put":
        body = {"grind": "filter", **body}
    response = getattr(api_client_a, method)(_url(subscription), body, format="json")

    # Then it is refused naming that field, and nothing at all is written
    assert response.status_code == 400, response.json()
    assert set(response.json()) == {"message", "extra"}
    assert list(response.json()["extra"]["fields"]) == [key]
    assert response.json()["extra"]["fields"][key]
    assert key in response.json()["message"]
    assert _stored(subscription) == before
    assert api_client_a.get(_url(subscription)).json() == shown


def test_every_invalid_value_is_named_at_once(api_client_a, subscription):
    response = api_client_a.patch(
        _url(subscription), {"grind": "x", "grams": 1, "color": "red"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"grind", "grams", "color"}
    assert _stored(subscription) == (None, [])


@pytest.mark.parametrize("body", [["grind", "beans"], "grind=beans", 42, None])
def test_a_body_that_is_not_an_object_is_a_400(api_client_a, subscription, body):
    response = api_client_a.patch(
        _url(subscription), json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    assert _stored(subscription) == (None, [])


def test_a_body_that_is_not_json_is_refused(api_client_a, subscription):
    malformed = api_client_a.patch(_url(subscription), "{grind", content_type="application/json")
    form = api_client_a.patch(_url(subscription), {"grind": "espresso"}, format="multipart")

    assert malformed.status_code == 400
    assert set(malformed.json()) == {"message", "extra"}
    assert form.status_code == 415
    assert _stored(subscription) == (None, [])


def test_a_retired_choice_stays_readable_but_cannot_be_chosen_anew(api_client_a, org_a, coffee):
    # Given a subscription that chose "dark" before it was retired, and one that did not
    keeper, newcomer = _subscription(org_a), _subscription(org_a)
    _write(keeper, roast="dark")
    PreferenceChoice.objects.filter(field__organization=org_a, value="dark").update(active=False)

    # Then the keeper reads it as before
    read = api_client_a.get(_url(keeper)).json()
    assert read["values"]["roast"] == "dark"
    assert {"key": "roast", "label": "Roast", "value": "dark", "display": "Dark"}.items() <= (
        read["display"][1].items()
    )

    # When the newcomer chooses it, it is refused and nothing is written
    refused = api_client_a.patch(_url(newcomer), {"roast": "dark"}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["extra"]["fields"]) == ["roast"]
    assert _stored(newcomer) == (None, [])

    # When the keeper changes another preference, or sends "dark" back unchanged, it keeps it
    patched = api_client_a.patch(_url(keeper), {"grind": "espresso"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["values"]["roast"] == "dark"
    replaced = api_client_a.put(_url(keeper), patched.json()["values"], format="json")
    assert replaced.status_code == 200
    assert replaced.json()["change"] is None


def test_a_retired_preference_is_kept_by_a_put_and_refused_as_a_new_write(
    api_client_a, org_a, subscription
):
    _write(subscription, note="Ring twice")
    PreferenceField.objects.filter(organization=org_a, key="note").update(active=False)

    refused = api_client_a.patch(_url(subscription), {"note": "Knock"}, format="json")
    replaced = api_client_a.put(_url(subscription), {"grind": "filter"}, format="json")

    assert refused.status_code == 400
    assert list(refused.json()["extra"]["fields"]) == ["note"]
    assert replaced.status_code == 200
    assert replaced.json()["values"]["note"] == "Ring twice"
    note_row = next(row for row in replaced.json()["display"] if row["key"] == "note")
    assert note_row["retired"] is True


@pytest.mark.parametrize("status", ["canceled", "expired"])
@pytest.mark.parametrize("method", ["patch", "put"])
def test_an_ended_subscription_is_a_409_and_nothing_is_written(
    api_client_a, org_a, coffee, status, method
):
    ended = _subscription(org_a, status=status)

    response = getattr(api_client_a, method)(_url(ended), {"grind": "espresso"}, format="json")

    assert response.status_code == 409
    assert set(response.json()) == {"message", "extra"}
    assert response.json()["extra"] == {"status": status}
    assert _stored(ended) == (None, [])
    assert api_client_a.get(_url(ended)).status_code == 200  # still readable


@pytest.mark.parametrize("body", [{}, {"grind": "espresso"}, {"grind": "espresso", "decaf": False}])
def test_a_patch_that_changes_nothing_records_nothing(api_client_a, subscription, body):
    _write(subscription, grind="espresso")
    before = _stored(subscription)

    response = api_client_a.patch(_url(subscription), body, format="json")

    assert response.status_code == 200
    assert response.json()["change"] is None
    assert response.json()["values"] == {**DEFAULTS, "grind": "espresso"}
    assert _stored(subscription) == before


# --- History -----------------------------------------------------------------------------


def test_history_is_paginated_newest_first(api_client_a, subscription):
    for grams in (300, 400, 500):
        api_client_a.patch(_url(subscription), {"grams": grams}, format="json")
    _write(subscription, grind="espresso")  # by someone else

    first = api_client_a.get(_url(subscription, "history/"), {"page_size": 3}).json()
    second = api_client_a.get(first["next"]).json()

    assert first["count"] == 4
    assert [c["changed_keys"] for c in first["results"] + second["results"]] == [
        ["grind"],
        ["grams"],
        ["grams"],
        ["grams"],
    ]
    assert [c["new_values"].get("grams") for c in first["results"]] == [500, 500, 400]
    latest = first["results"][0]
    assert (latest["source"], latest["actor"]) == ("system", {"kind": "system", "label": "system"})
    assert first["results"][1]["actor"] == {"kind": "api_key", "label": "integration"}
    assert set(latest) == {
        "id",
        "changed_at",
        "source",
        "actor",
        "old_values",
        "new_values",
        "changed_keys",
        "effective_cycle",
        "effective_cutoff_at",
    }
    times = [c["changed_at"] for c in first["results"] + second["results"]]
    assert times == sorted(times, reverse=True)
    assert second["next"] is None


def test_a_subscription_never_written_has_an_empty_history(api_client_a, subscription):
    response = api_client_a.get(_url(subscription, "history"))

    assert response.status_code == 200
    assert (response.json()["count"], response.json()["results"]) == (0, [])


@pytest.mark.parametrize("changes", [2, 20])
def test_history_queries_do_not_grow_with_its_length(
    api_client_a, subscription, django_assert_max_num_queries, changes
):
    for grams in range(300, 300 + changes):
        _write(subscription, grams=grams)

    with django_assert_max_num_queries(4):  # key, subscription, count, page
        response = api_client_a.get(_url(subscription, "history/"), {"page_size": 50})

    assert response.json()["count"] == changes


# --- Scoping and HTTP --------------------------------------------------------------------

ROUTES = [
    ("get", ""),
    ("patch", ""),
    ("put", ""),
    ("get", "history/"),
]


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_another_organizations_subscription_is_not_found(
    api_client_for, org_a, org_b, coffee, method, suffix
):
    # Given B's subscription, with a field of the same key in B
    preference_field(org_b, "grind", "choice", choices=[("espresso", "Espresso")])
    theirs = _subscription(org_b)
    _write(theirs, grind="espresso")
    before = _stored(theirs)

    # When A's key reads or writes it
    response = getattr(api_client_for(org_a), method)(
        _url(theirs, suffix), {"grind": "espresso"}, format="json"
    )

    # Then it is answered exactly like an unknown id, and nothing changes
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}
    assert _stored(theirs) == before


@pytest.mark.parametrize("pk", ["abc", "99999999"])
@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_an_unknown_or_malformed_id_is_a_json_404(api_client_a, coffee, method, suffix, pk):
    url = f"/api/v1/subscriptions/{pk}/preferences/{suffix}"

    response = getattr(api_client_a, method)(url, {}, format="json")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.parametrize(("method", "suffix"), [*ROUTES, ("get", "fields")])
def test_without_a_key_every_route_is_401(subscription, method, suffix):
    url = FIELDS_URL if suffix == "fields" else _url(subscription, suffix)

    response = getattr(APIClient(), method)(url, {"grind": "espresso"}, format="json")

    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}
    assert _stored(subscription) == (None, [])


def test_both_spellings_of_every_url_answer_without_a_redirect(api_client_a, subscription):
    base = f"/api/v1/subscriptions/{subscription.pk}/preferences"
    reads = [
        FIELDS_URL,
        FIELDS_URL.rstrip("/"),
        base,
        f"{base}/",
        f"{base}/history",
        base + "/history/",
    ]

    answers = {url: api_client_a.get(url).status_code for url in reads}
    writes = [
        api_client_a.patch(base, {"grams": 300}, format="json").status_code,
        api_client_a.patch(f"{base}/", {"grams": 400}, format="json").status_code,
        api_client_a.put(base, {"grams": 500}, format="json").status_code,
        api_client_a.put(f"{base}/", {"grams": 600}, format="json").status_code,
    ]

    assert set(answers.values()) == {200}
    assert writes == [200, 200, 200, 200]
    assert PreferenceChange.objects.filter(subscription=subscription).count() == 4


def test_preferences_are_neither_deleted_nor_posted(api_client_a, subscription):
    _write(subscription, grind="espresso")
    before = _stored(subscription)

    assert api_client_a.delete(_url(subscription)).status_code == 405
    assert (
        api_client_a.post(_url(subscription), {"grind": "filter"}, format="json").status_code == 405
    )
    assert api_client_a.patch(_url(subscription, "history/"), {}, format="json").status_code == 405
    assert api_client_a.post(FIELDS_URL, {"key": "x"}, format="json").status_code == 405
    assert _stored(subscription) == before


# --- Documentation -----------------------------------------------------------------------


def test_the_schema_documents_every_operation_and_its_errors_without_warnings():
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    schema = json.loads(out.getvalue())
    paths = schema["paths"]

    preferences = "/api/v1/subscriptions/{id}/preferences/"
    write = {"200", "400", "401", "404", "409"}
    expected = {
        ("/api/v1/preference-fields/", "get"): {"200", "400", "401"},
        (preferences, "get"): {"200", "401", "404"},
        (preferences, "patch"): write,
        (preferences, "put"): write,
        # 400: a bad `page` or `page_size` (crm.api.pagination).
        (preferences + "history/", "get"): {"200", "400", "401", "404"},
    }
    operations = {key: paths[key[0]][key[1]] for key in expected}
    assert {key: own_responses(op["responses"]) for key, op in operations.items()} == expected
    assert all(op["tags"] == ["preferences"] for op in operations.values())
    assert set(paths[preferences]) - {"parameters"} == {"get", "patch", "put"}
    body = operations[preferences, "patch"]["requestBody"]["content"]
    assert list(body) == ["application/json"]
    assert body["application/json"]["schema"]["type"] == "object"
    update = operations[preferences, "patch"]["responses"]["200"]["content"]["application/json"]
    assert update["schema"]["$ref"].endswith("/SubscriptionPreferencesUpdate")
    history = operations[preferences + "history/", "get"]["responses"]["200"]
    assert history["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PaginatedPreferenceChangeList"
    )
    params = {p["name"] for p in operations["/api/v1/preference-fields/", "get"]["parameters"]}
    assert params == {"include_retired"}  # and no page: the schema comes whole
