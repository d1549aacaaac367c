"""The satisfaction API: surveys (list, filters, detail, follow-up, cancel), the NPS report,
scoping to the API key's organization, input errors and the schema."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from core.actors import Actor
from fulfillment.models import BatchLine
from preferences.models import PreferenceField
from satisfaction import services
from satisfaction.models import SatisfactionSurvey
from tests.api_schema import own_responses
from tests.factories import (
    ProductFactory,
    answered_surveys,
    coffee_schema,
    delivered_boxes,
    satisfaction_on,
)

pytestmark = pytest.mark.django_db

S = SatisfactionSurvey.Status
URL = "/api/v1/surveys/"
NPS_URL = "/api/v1/satisfaction/nps"
PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime(2026, 11, 2, 12, 0, tzinfo=PARIS)  # a Monday
PERIOD = {"start": "2026-10-26", "end": "2026-11-08"}  # two whole weeks around MONDAY


# --- Given -----------------------------------------------------------------------------


def scheduled_surveys(org, count=1, **box_fields):
    """`count` boxes delivered four days ago, each with a survey scheduled (not sent yet)."""
    satisfaction_on(org, delay_days=3)
    shipments = delivered_boxes(
        org, delivered_at=timezone.now() - timedelta(days=4), count=count, **box_fields
    )
    services.surveys_schedule_for(organization=org)
    return list(SatisfactionSurvey.objects.filter(shipment__in=shipments).order_by("id"))


def sent_survey(org):
    (survey,) = scheduled_surveys(org)
    services.survey_send(survey_id=survey.pk)
    survey.refresh_from_db()
    assert survey.status == S.SENT
    return survey


def _url(survey, action=""):
    return f"{URL}{survey.pk}/" + (f"{action}/" if action else "")


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def rows(org):
    return list(SatisfactionSurvey.objects.filter(organization=org).order_by("id").values())


# --- Reading surveys -----------------------------------------------------------------------


def test_a_survey_shows_every_documented_field_and_never_its_token(api_client_a, org_a):
    (survey,) = answered_surveys(org_a, [3], comments=["Stale beans"], answered_at=MONDAY)

    response = api_client_a.get(_url(survey))
    listed = api_client_a.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "status",
        "score",
        "band",
        "comment",
        "language",
        "customer",
        "subscription",
        "shipment",
        "delivered_at",
        "send_at",
        "sent_at",
        "expires_at",
        "answered_at",
        "answer_changed_at",
        "cancel_reason",
        "canceled_reason",
        "needs_follow_up",
        "followed_up_at",
        "return_request",
    }
    customer = survey.customer
    assert body["customer"] == {
        "id": customer.pk,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
    }
    assert (body["status"], body["score"], body["band"], body["comment"]) == (
        "answered",
        3,
        "detractor",
        "Stale beans",
    )
    assert (body["subscription"], body["shipment"]) == (survey.subscription_id, survey.shipment_id)
    assert body["needs_follow_up"] is True
    assert body["return_request"] is None
    assert datetime.fromisoformat(body["answered_at"]) == MONDAY
    # The token is the customer's key to the public page: not in the detail, not in the list.
    assert survey.token not in response.content.decode()
    assert survey.token not in listed.content.decode()
    assert "token" not in listed.json()["results"][0]


def test_the_list_is_paginated_latest_to_send_first(api_client_a, org_a):
    older = answered_surveys(org_a, [9], answered_at=MONDAY - timedelta(days=14))
    newer = answered_surveys(org_a, [9, 9], answered_at=MONDAY)

    response = api_client_a.get(URL, {"page_size": 2})

    body = response.json()
    assert body["count"] == 3
    assert body["next"] is not None
    newer_first = sorted(newer, key=lambda survey: survey.pk, reverse=True)
    assert ids(response) == [survey.pk for survey in newer_first]
    assert ids(api_client_a.get(URL, {"page_size": 2, "page": 2})) == [older[0].pk]


def test_a_survey_without_an_answer_has_no_band(api_client_a, org_a):
    (survey,) = scheduled_surveys(org_a)

    body = api_client_a.get(_url(survey)).json()

    assert (body["status"], body["score"], body["band"], body["sent_at"]) == (
        "scheduled",
        None,
        None,
        None,
    )
    assert body["needs_follow_up"] is False


def test_filters_by_status_band_and_follow_up(api_client_a, org_a):
    vocal, silent, passive, happy = answered_surveys(
        org_a, [2, 5, 7, 10], comments=["Too bitter", "", "", "Great"], answered_at=MONDAY
    )
    (scheduled,) = scheduled_surveys(org_a)

    assert set(ids(api_client_a.get(URL, {"status": "scheduled"}))) == {scheduled.pk}
    assert set(ids(api_client_a.get(URL, {"status": ["scheduled", "answered"]}))) == {
        vocal.pk,
        silent.pk,
        passive.pk,
        happy.pk,
        scheduled.pk,
    }
    assert set(ids(api_client_a.get(URL, {"band": "detractor"}))) == {vocal.pk, silent.pk}
    assert set(ids(api_client_a.get(URL, {"band": ["passive", "promoter"]}))) == {
        passive.pk,
        happy.pk,
    }
    assert ids(api_client_a.get(URL, {"needs_follow_up": "true"})) == [vocal.pk]
    # false: everything else, the survey without a score included.
    assert set(ids(api_client_a.get(URL, {"needs_follow_up": "false"}))) == {
        silent.pk,
        passive.pk,
        happy.pk,
        scheduled.pk,
    }


def test_a_followed_up_detractor_no_longer_needs_follow_up(api_client_a, org_a, staff_user_a):
    vocal, other = answered_surveys(
        org_a, [2, 1], comments=["Too bitter", "Late"], answered_at=MONDAY
    )
    services.survey_mark_followed_up(survey=vocal, actor=Actor.for_user(staff_user_a))

    assert ids(api_client_a.get(URL, {"needs_follow_up": "true"})) == [other.pk]


def test_filters_by_answer_time_in_the_organizations_time(api_client_a, org_a):
    # Sunday 23:30 in Paris is still Sunday there, Monday 00:30 is Monday (both Sunday in UTC).
    (sunday,) = answered_surveys(
        org_a, [9], answered_at=datetime(2026, 11, 1, 23, 30, tzinfo=PARIS)
    )
    (monday,) = answered_surveys(org_a, [9], answered_at=datetime(2026, 11, 2, 0, 30, tzinfo=PARIS))

    assert ids(api_client_a.get(URL, {"answered_after": "2026-11-02"})) == [monday.pk]
    assert ids(api_client_a.get(URL, {"answered_before": "2026-11-02T00:00"})) == [sunday.pk]
    # With an offset, the instant given: 23:00 UTC is 00:00 in Paris.
    assert ids(api_client_a.get(URL, {"answered_after": "2026-11-01T23:00:00Z"})) == [monday.pk]
    both = {"answered_after": "2026-11-01T12:00", "answered_before": "2026-11-03"}
    assert set(ids(api_client_a.get(URL, both))) == {sunday.pk, monday.pk}


def test_filters_by_product_customer_and_subscription(api_client_a, org_a):
    kenya = ProductFactory(organization=org_a, name="Kenya AA", sku="KEN")
    house = ProductFactory(organization=org_a, name="House blend", sku="HOUSE")
    (both,) = answered_surveys(org_a, [9], answered_at=MONDAY, items=[(kenya, 1), (house, 1)])
    (house_only,) = answered_surveys(org_a, [4], answered_at=MONDAY, items=[(house, 2)])

    assert ids(api_client_a.get(URL, {"product": kenya.pk})) == [both.pk]
    assert set(ids(api_client_a.get(URL, {"product": house.pk}))) == {both.pk, house_only.pk}
    assert ids(api_client_a.get(URL, {"customer": house_only.customer_id})) == [house_only.pk]
    assert ids(api_client_a.get(URL, {"subscription": both.subscription_id})) == [both.pk]


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("status", "lost"),
        ("band", "fan"),
        ("answered_after", "last week"),
        ("answered_before", "2026-13-01"),
        ("product", "kenya"),
        ("product", "1.5"),
        ("customer", "x"),
        ("needs_follow_up", "maybe"),
    ],
)
def test_an_unknown_filter_value_is_refused_in_the_error_shape(
    api_client_a, org_a, parameter, value
):
    response = api_client_a.get(URL, {parameter: value})

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert parameter in body["extra"]["fields"]


@pytest.mark.parametrize("count", [3, 30])
def test_list_queries_do_not_grow_with_its_length(
    api_client_a, org_a, django_assert_max_num_queries, count
):
    scheduled_surveys(org_a, count=count)

    with django_assert_max_num_queries(3):  # key, count, page with its customers
        response = api_client_a.get(URL, {"page_size": 50, "status": "scheduled"})

    assert response.json()["count"] == count
    assert all(row["customer"]["email"] for row in response.json()["results"])


# --- Another organization ------------------------------------------------------------------


def test_another_organizations_surveys_are_neither_listed_nor_found(api_client_a, org_a, org_b):
    (theirs,) = answered_surveys(org_b, [2], comments=["Bad"], answered_at=MONDAY)
    (scheduled_theirs,) = scheduled_surveys(org_b)
    (ours,) = answered_surveys(org_a, [10], answered_at=MONDAY)
    before = rows(org_b)

    assert ids(api_client_a.get(URL)) == [ours.pk]
    assert ids(api_client_a.get(URL, {"customer": theirs.customer_id})) == []
    assert ids(api_client_a.get(URL, {"needs_follow_up": "true"})) == []
    assert api_client_a.get(_url(theirs)).status_code == 404
    follow_up = api_client_a.post(_url(theirs, "follow-up"))
    cancel = api_client_a.post(_url(scheduled_theirs, "cancel"), {}, format="json")

    assert (follow_up.status_code, cancel.status_code) == (404, 404)
    assert set(follow_up.json()) == {"message", "extra"}
    assert rows(org_b) == before


def test_another_organizations_answers_never_count_in_the_report(api_client_a, org_a, org_b):
    answered_surveys(org_b, [0, 0, 0], answered_at=MONDAY)
    answered_surveys(org_a, [10], answered_at=MONDAY)

    body = api_client_a.get(NPS_URL, PERIOD).json()

    assert (body["answers"], body["sent"], body["nps"]) == (1, 1, 100.0)
    assert sum(body["distribution"]) == 1


def test_without_an_api_key_nothing_is_shown(client, org_a):
    answered_surveys(org_a, [10], answered_at=MONDAY)

    for url in (URL, NPS_URL):
        response = client.get(url)
        assert response.status_code == 401
        assert set(response.json()) == {"message", "extra"}


# --- Follow-up and cancel ------------------------------------------------------------------


def test_follow_up_marks_an_answered_survey_once(api_client_a, org_a):
    (survey,) = answered_surveys(org_a, [2], comments=["Too bitter"], answered_at=MONDAY)

    with time_machine.travel(MONDAY + timedelta(days=1), tick=False):
        first = api_client_a.post(_url(survey, "follow-up"))
    with time_machine.travel(MONDAY + timedelta(days=2), tick=False):
        again = api_client_a.post(_url(survey, "follow-up"))

    assert first.status_code == 200
    assert first.json()["needs_follow_up"] is False
    assert datetime.fromisoformat(first.json()["followed_up_at"]) == MONDAY + timedelta(days=1)
    assert again.status_code == 200
    assert again.json()["followed_up_at"] == first.json()["followed_up_at"]
    survey.refresh_from_db()
    assert survey.followed_up_by is None  # an API key is nobody on the staff


def test_follow_up_of_a_survey_not_answered_is_a_conflict_and_changes_nothing(api_client_a, org_a):
    survey = sent_survey(org_a)
    before = rows(org_a)

    response = api_client_a.post(_url(survey, "follow-up"))

    assert response.status_code == 409
    assert response.json()["extra"] == {"status": "sent"}
    assert response.json()["message"]
    assert rows(org_a) == before


def test_cancel_a_scheduled_survey_with_a_reason(api_client_a, org_a):
    (survey,) = scheduled_surveys(org_a)

    response = api_client_a.post(_url(survey, "cancel"), {"reason": "Moved abroad"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["canceled_reason"]) == (
        "canceled",
        "Canceled by staff or the API: Moved abroad",
    )
    survey.refresh_from_db()
    assert survey.status == S.CANCELED


def test_cancel_without_a_body_records_the_api_key(api_client_a, org_a):
    (survey,) = scheduled_surveys(org_a)

    response = api_client_a.post(_url(survey, "cancel"))

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert "integration" in response.json()["canceled_reason"]  # the key's name


@pytest.mark.parametrize("status", [S.SENT, S.ANSWERED, S.CANCELED])
def test_cancel_of_a_survey_not_scheduled_is_a_conflict_and_changes_nothing(
    api_client_a, org_a, status
):
    if status == S.CANCELED:
        (survey,) = scheduled_surveys(org_a)
        api_client_a.post(_url(survey, "cancel"), {"reason": "First"}, format="json")
    else:
        survey = sent_survey(org_a)
    if status == S.ANSWERED:
        survey = services.survey_answer(token=survey.token, score=8)
    before = rows(org_a)

    response = api_client_a.post(_url(survey, "cancel"), {"reason": "Again"}, format="json")

    assert response.status_code == 409
    assert response.json()["extra"] == {"status": status}
    assert rows(org_a) == before


def test_a_cancel_reason_too_long_is_refused(api_client_a, org_a):
    (survey,) = scheduled_surveys(org_a)

    response = api_client_a.post(_url(survey, "cancel"), {"reason": "x" * 201}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["extra"]["fields"]
    survey.refresh_from_db()
    assert survey.status == S.SCHEDULED


# API keys have no scopes in this project (any key of an organization may write): there is no
# read-only key to test here.


# --- The NPS report ------------------------------------------------------------------------


def test_the_report_of_a_fixed_set_equals_the_hand_computation(api_client_a, org_a):
    answered_surveys(org_a, [10, 9, 9, 8, 6, 3], answered_at=MONDAY)

    body = api_client_a.get(NPS_URL, PERIOD).json()

    # 3 promoters, 1 passive, 2 detractors of 6: (3 - 2) / 6 = 16.666... points.
    assert (body["answers"], body["promoters"], body["passives"], body["detractors"]) == (
        6,
        3,
        1,
        2,
    )
    assert body["nps"] == 16.67  # rounded to two decimals
    p, d = 3 / 6, 2 / 6
    variance = p + d - (p - d) ** 2  # 0.8055...
    assert body["margin_of_error"] == round(196 * math.sqrt(variance / 6), 2) == 71.82
    assert (body["start"], body["end"], body["timezone"]) == (
        "2026-10-26",
        "2026-11-08",
        "Europe/Paris",
    )
    assert (body["sent"], body["response_rate"]) == (6, 100.0)
    assert body["distribution"] == [0, 0, 0, 1, 0, 0, 1, 0, 1, 2, 1]
    assert [week["week"] for week in body["weeks"]] == ["2026-10-26", "2026-11-02"]
    assert body["weeks"][0] == {
        "week": "2026-10-26",
        "answers": 0,
        "promoters": 0,
        "passives": 0,
        "detractors": 0,
        "nps": None,
        "margin_of_error": None,
    }
    assert body["weeks"][1]["answers"] == 6
    assert (body["weeks"][1]["nps"], body["weeks"][1]["margin_of_error"]) == (16.67, 71.82)


def test_the_response_rate_counts_surveys_sent_in_the_period(api_client_a, org_a):
    answered = answered_surveys(org_a, [9], answered_at=MONDAY)
    # Three more e-mailed the same day, never answered.
    shipments = delivered_boxes(org_a, delivered_at=answered[0].delivered_at, count=3)
    services.surveys_schedule_for(organization=org_a, now=answered[0].sent_at)
    for survey in SatisfactionSurvey.objects.filter(shipment__in=shipments):
        services.survey_send(survey_id=survey.pk, now=answered[0].sent_at)

    body = api_client_a.get(NPS_URL, PERIOD).json()

    assert (body["sent"], body["answers"], body["response_rate"]) == (4, 1, 25.0)


def test_an_empty_period_has_no_score(api_client_a, org_a):
    answered_surveys(org_a, [10, 0], answered_at=MONDAY - timedelta(days=60))

    body = api_client_a.get(NPS_URL, PERIOD).json()

    assert (body["answers"], body["nps"], body["margin_of_error"]) == (0, None, None)
    assert (body["sent"], body["response_rate"]) == (0, None)
    assert len(body["weeks"]) == 2
    assert all(week["answers"] == 0 and week["nps"] is None for week in body["weeks"])
    assert body["distribution"] == [0] * 11
    assert (body["products"], body["preferences"]) == ([], [])


def test_an_all_passive_period_scores_zero_with_no_margin(api_client_a, org_a):
    answered_surveys(org_a, [7, 8, 7], answered_at=MONDAY)

    body = api_client_a.get(NPS_URL, PERIOD).json()

    assert (body["answers"], body["passives"], body["nps"], body["margin_of_error"]) == (
        3,
        3,
        0.0,
        0.0,
    )


def test_the_period_is_whole_days_of_the_organizations_time(api_client_a, org_a):
    answered_surveys(org_a, [10], answered_at=datetime(2026, 11, 1, 23, 59, tzinfo=PARIS))
    answered_surveys(org_a, [0], answered_at=datetime(2026, 11, 2, 0, 0, tzinfo=PARIS))
    answered_surveys(org_a, [5], answered_at=datetime(2026, 11, 3, 0, 0, tzinfo=PARIS))

    only_monday = api_client_a.get(NPS_URL, {"start": "2026-11-02", "end": "2026-11-02"}).json()
    up_to_sunday = api_client_a.get(NPS_URL, {"start": "2026-10-26", "end": "2026-11-01"}).json()

    # Monday 00:00 in Paris is in Monday; Tuesday 00:00 is not (the end day is included, no more).
    assert (only_monday["answers"], only_monday["detractors"]) == (1, 1)
    assert [week["week"] for week in only_monday["weeks"]] == ["2026-11-02"]
    assert (up_to_sunday["answers"], up_to_sunday["promoters"]) == (1, 1)


def test_the_default_period_is_twelve_weeks_ending_today_in_the_organizations_time(
    api_client_a, org_a
):
    # 23:30 UTC on 25 November is already the 26th in Paris.
    with time_machine.travel(datetime(2026, 11, 25, 23, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        body = api_client_a.get(NPS_URL).json()
        only_start = api_client_a.get(NPS_URL, {"start": "2026-11-20"}).json()
        only_end = api_client_a.get(NPS_URL, {"end": "2026-10-31"}).json()

    assert (body["start"], body["end"]) == ("2026-09-04", "2026-11-26")
    assert (date(2026, 11, 26) - date(2026, 9, 4)).days + 1 == 84
    assert len(body["weeks"]) == 13  # from the start's week (a Friday) to the end's
    assert (only_start["start"], only_start["end"]) == ("2026-11-20", "2026-11-26")
    assert (only_end["start"], only_end["end"]) == ("2026-08-09", "2026-10-31")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2026-11-09", "end": "2026-11-08"}, "start"),
        ({"start": "2024-11-01", "end": "2026-11-01"}, "end"),  # two years and a day
        ({"start": "2026-02-30"}, "start"),
        ({"end": "08/11/2026"}, "end"),
        ({"start": "2026-11-01T00:00"}, "start"),
    ],
)
def test_a_bad_period_is_refused_naming_the_parameter(api_client_a, org_a, query, field):
    response = api_client_a.get(NPS_URL, query)

    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    assert list(response.json()["extra"]["fields"]) == [field]


def test_two_years_is_the_longest_period(api_client_a, org_a):
    response = api_client_a.get(NPS_URL, {"start": "2024-11-02", "end": "2026-11-01"})

    assert response.status_code == 200
    assert len(response.json()["weeks"]) == 105


def test_a_period_from_29_february_runs_to_28_february_two_years_on(api_client_a, org_a):
    longest = api_client_a.get(NPS_URL, {"start": "2024-02-29", "end": "2026-02-28"})
    too_long = api_client_a.get(NPS_URL, {"start": "2024-02-29", "end": "2026-03-01"})

    assert longest.status_code == 200
    assert too_long.status_code == 400
    assert "2026-02-28" in too_long.json()["extra"]["fields"]["end"][0]


@pytest.fixture
def rated_boxes(org_a):
    """Two boxes of Kenya and House blend rated 10 and 9, one of two House blends rated 2;
    packed with roast light (decaf, then not) and dark (not decaf). Returns (kenya, house)."""
    coffee_schema(org_a)
    roast = PreferenceField.objects.get(organization=org_a, key="roast")
    roast.labels = {"fr": "Torréfaction"}
    roast.save()
    kenya = ProductFactory(organization=org_a, name="Kenya AA", sku="KEN")
    house = ProductFactory(organization=org_a, name="House blend", sku="HOUSE")
    surveys = answered_surveys(
        org_a, [10, 9], answered_at=MONDAY, items=[(kenya, 1), (house, 1)]
    ) + answered_surveys(org_a, [2], answered_at=MONDAY, items=[(house, 2)])
    packed = [
        {"roast": "light", "decaf": True},
        {"roast": "light", "decaf": False},
        {"roast": "dark", "decaf": False},
    ]
    for survey, preferences in zip(surveys, packed, strict=True):
        BatchLine.objects.filter(shipment=survey.shipment).update(preferences=preferences)
    return kenya, house


def test_the_report_costs_the_same_queries_whatever_the_rows(
    api_client_a, rated_boxes, django_assert_max_num_queries
):
    # Key, summary (2), weeks, scores, products, schema (2) and preferences.
    with django_assert_max_num_queries(9):
        response = api_client_a.get(NPS_URL, PERIOD, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200


def test_the_report_per_product_counts_every_box_the_product_was_in(api_client_a, rated_boxes):
    kenya, house = rated_boxes

    report = api_client_a.get(NPS_URL, PERIOD, HTTP_ACCEPT_LANGUAGE="en").json()

    assert report["products"] == [
        {
            "product": house.pk,
            "name": "House blend",
            "answers": 3,
            "promoters": 2,
            "passives": 0,
            "detractors": 1,
            "nps": 33.33,
            "margin_of_error": round(100 * 1.96 * math.sqrt((1 - (1 / 3) ** 2) / 3), 2),
            "variants": [],
        },
        {
            "product": kenya.pk,
            "name": "Kenya AA",
            "answers": 2,
            "promoters": 2,
            "passives": 0,
            "detractors": 0,
            "nps": 100.0,
            "margin_of_error": 0.0,
            "variants": [],
        },
    ]


def test_the_report_per_preference_value_in_the_schemas_order(api_client_a, rated_boxes):
    report = api_client_a.get(NPS_URL, PERIOD, HTTP_ACCEPT_LANGUAGE="en").json()

    found = {(row["field"], row["value"]): row for row in report["preferences"]}
    assert [(row["field"], row["value"]) for row in report["preferences"]] == [
        ("roast", "light"),
        ("roast", "dark"),
        ("decaf", "true"),
        ("decaf", "false"),
    ]
    assert (found[("roast", "light")]["answers"], found[("roast", "light")]["nps"]) == (2, 100.0)
    assert found[("roast", "dark")]["nps"] == -100.0
    assert found[("decaf", "false")]["answers"] == 2


def test_the_report_names_fields_and_values_in_the_requests_language(api_client_a, rated_boxes):
    english = api_client_a.get(NPS_URL, PERIOD, HTTP_ACCEPT_LANGUAGE="en").json()
    french = api_client_a.get(NPS_URL, PERIOD, HTTP_ACCEPT_LANGUAGE="fr").json()

    found = {(row["field"], row["value"]): row for row in english["preferences"]}
    assert (found[("roast", "light")]["field_label"], found[("decaf", "true")]["value_label"]) == (
        "Roast",
        "Yes",
    )
    french_found = {(row["field"], row["value"]): row for row in french["preferences"]}
    assert french_found[("roast", "light")]["field_label"] == "Torréfaction"
    assert french_found[("decaf", "true")]["value_label"] == "Oui"


# --- The documentation -----------------------------------------------------------------------


def test_the_schema_documents_the_satisfaction_api_without_warnings():
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    schema = json.loads(out.getvalue())
    paths = schema["paths"]
    assert own_responses(paths["/api/v1/surveys/"]["get"]["responses"]) == {"200", "400", "401"}
    assert set(paths["/api/v1/surveys/{id}/"]) - {"parameters"} == {"get"}
    assert own_responses(paths["/api/v1/surveys/{id}/cancel/"]["post"]["responses"]) == {
        "200",
        "400",
        "401",
        "404",
        "409",
    }
    follow_up = paths["/api/v1/surveys/{id}/follow-up/"]["post"]
    assert own_responses(follow_up["responses"]) == {"200", "401", "404", "409"}
    assert "admin" in follow_up["description"]
    parameters = {p["name"] for p in paths["/api/v1/surveys/"]["get"]["parameters"]}
    assert {
        "status",
        "band",
        "answered_after",
        "answered_before",
        "product",
        "customer",
        "subscription",
        "needs_follow_up",
    } <= parameters
    nps = paths["/api/v1/satisfaction/nps/"]["get"]
    assert {p["name"] for p in nps["parameters"]} == {"start", "end"}
    assert own_responses(nps["responses"]) == {"200", "400", "401"}
    components = schema["components"]["schemas"]
    assert "token" not in components["Survey"]["properties"]
    assert components["SurveyStatusEnum"]["enum"] == S.values
    assert list(components["NpsReport"]["properties"])[:3] == ["start", "end", "timezone"]
