"""NPS reads: a period, its weeks (the organization's), products, preferences, response rate."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fulfillment.models import BatchLine
from satisfaction import selectors, services
from satisfaction.models import SatisfactionSurvey
from tests.factories import (
    ProductFactory,
    VariantFactory,
    answered_surveys,
    coffee_schema,
    delivered_boxes,
)

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime(2026, 11, 2, tzinfo=PARIS)  # a Monday
PERIOD = {"start": MONDAY - timedelta(days=21), "end": MONDAY + timedelta(days=7)}


def test_the_summary_of_a_fixed_set_matches_the_hand_computation(org_a):
    answered_surveys(
        org_a, [10, 9, 9, 8, 7, 6, 5, 0, 10, 9], answered_at=MONDAY + timedelta(days=2)
    )
    summary = selectors.nps_summary(organization=org_a, **PERIOD)

    assert (summary.nps.promoters, summary.nps.passives, summary.nps.detractors) == (5, 2, 3)
    assert summary.nps.score == pytest.approx(20.0)
    assert summary.nps.margin == pytest.approx(54.03, abs=0.01)


def test_an_empty_period_has_no_score(org_a):
    answered_surveys(org_a, [10, 0], answered_at=MONDAY - timedelta(days=60))
    summary = selectors.nps_summary(organization=org_a, **PERIOD)
    assert (summary.nps.answers, summary.nps.score, summary.sent, summary.response_rate) == (
        0,
        None,
        0,
        None,
    )
    assert all(
        nps.answers == 0 for _week, nps in selectors.nps_by_week(organization=org_a, **PERIOD)
    )
    assert selectors.score_distribution(organization=org_a, **PERIOD) == [0] * 11


def test_an_all_passive_period_scores_zero(org_a):
    answered_surveys(org_a, [7, 8, 7], answered_at=MONDAY + timedelta(days=1))
    nps = selectors.nps_summary(organization=org_a, **PERIOD).nps
    assert (nps.score, nps.margin, nps.answers) == (0.0, 0.0, 3)


def test_the_response_rate_counts_the_surveys_sent_in_the_period(org_a):
    surveys = answered_surveys(org_a, [9, 3], answered_at=MONDAY + timedelta(days=2))
    sent_at = surveys[0].sent_at
    # Two more sent the same day, never answered.
    for shipment in delivered_boxes(org_a, delivered_at=surveys[0].delivered_at, count=2):
        services.surveys_schedule_for(organization=org_a, now=sent_at)
        survey = SatisfactionSurvey.objects.get(shipment=shipment)
        services.survey_send(survey_id=survey.pk, now=sent_at)

    summary = selectors.nps_summary(organization=org_a, **PERIOD)
    assert (summary.sent, summary.answered_of_sent, summary.response_rate) == (4, 2, 50.0)


def test_answers_fall_in_the_organizations_week(org_a):
    sunday_night = datetime(2026, 11, 1, 23, 30, tzinfo=PARIS)  # Sunday 22:30 UTC
    monday_morning = datetime(2026, 11, 2, 0, 30, tzinfo=PARIS)  # Sunday 23:30 UTC
    answered_surveys(org_a, [10], answered_at=sunday_night)
    answered_surveys(org_a, [0, 0], answered_at=monday_morning)

    weeks = selectors.nps_by_week(organization=org_a, **PERIOD)

    assert [week for week, _nps in weeks] == [
        date(2026, 10, 12),
        date(2026, 10, 19),
        date(2026, 10, 26),
        date(2026, 11, 2),
    ]
    by_week = dict(weeks)
    assert (by_week[date(2026, 10, 26)].answers, by_week[date(2026, 10, 26)].score) == (1, 100.0)
    assert (by_week[date(2026, 11, 2)].answers, by_week[date(2026, 11, 2)].score) == (2, -100.0)
    assert by_week[date(2026, 10, 19)].score is None  # a week without answers stays a gap


def test_a_changed_answer_counts_its_latest_score_in_the_week_of_the_first(org_a):
    (survey,) = answered_surveys(org_a, [2], answered_at=MONDAY + timedelta(days=1))
    services.survey_answer(token=survey.token, score=10, now=MONDAY + timedelta(days=9))

    by_week = dict(selectors.nps_by_week(organization=org_a, **PERIOD))
    assert by_week[date(2026, 11, 2)].promoters == 1
    assert selectors.score_distribution(organization=org_a, **PERIOD)[10] == 1


def test_the_distribution_counts_each_score(org_a):
    answered_surveys(org_a, [10, 10, 3, 7], answered_at=MONDAY + timedelta(days=1))
    distribution = selectors.score_distribution(organization=org_a, **PERIOD)
    assert distribution == [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 2]


def test_nps_per_product_of_the_box(org_a):
    kenya = ProductFactory(organization=org_a, name="Kenya AA", sku="KEN")
    house = ProductFactory(organization=org_a, name="House blend", sku="HOUSE")
    at = MONDAY + timedelta(days=1)
    answered_surveys(org_a, [10, 9], answered_at=at, items=[(kenya, 1), (house, 1)])
    answered_surveys(org_a, [2], answered_at=at, items=[(house, 2)])

    rows = {row.label: row.nps for row in selectors.nps_by_product(organization=org_a, **PERIOD)}

    assert rows["House blend"].answers == 3
    assert rows["House blend"].score == pytest.approx(100 * (2 - 1) / 3)
    assert (rows["Kenya AA"].answers, rows["Kenya AA"].score) == (2, 100.0)


def test_nps_per_product_groups_its_variants_and_breaks_down_per_variant(org_a):
    # Given an espresso in two sizes: two boxes of 250 g (10, 9), one with both sizes (2)
    espresso = ProductFactory(organization=org_a, name="Espresso Blend", sku="ESP")
    small = VariantFactory(
        product=espresso, sku="ESP-250", attributes=[{"name": "Weight", "option": "250 g"}]
    )
    large = VariantFactory(
        product=espresso, sku="ESP-1KG", attributes=[{"name": "Weight", "option": "1 kg"}]
    )
    at = MONDAY + timedelta(days=1)
    answered_surveys(org_a, [10, 9], answered_at=at, items=[(small, 1)])
    answered_surveys(org_a, [2], answered_at=at, items=[(small, 1), (large, 2)])

    # When the NPS is read by product
    (row,) = selectors.nps_by_product(organization=org_a, **PERIOD)

    # Then the product counts each box once, and each variant the boxes holding it
    assert (row.label, row.nps.answers) == ("Espresso Blend", 3)
    assert row.nps.score == pytest.approx(100 * (2 - 1) / 3)
    assert [(v.key, v.label, v.nps.answers, v.nps.score) for v in row.variants] == [
        (str(small.pk), "Espresso Blend - 250 g", 3, pytest.approx(100 / 3)),
        (str(large.pk), "Espresso Blend - 1 kg", 1, -100.0),
    ]


def test_nps_per_preference_value_as_the_box_was_packed(org_a):
    coffee_schema(org_a)
    surveys = answered_surveys(org_a, [10, 9, 1, 4], answered_at=MONDAY + timedelta(days=1))
    packed = [
        {"roast": "light", "decaf": False, "avoid_origins": ["brazil"]},
        {"roast": "light", "decaf": True, "avoid_origins": ["brazil", "peru"]},
        {"roast": "dark", "decaf": False, "avoid_origins": []},
        {"roast": "dark", "decaf": False, "grams": 500},
    ]
    for survey, preferences in zip(surveys, packed, strict=True):
        BatchLine.objects.filter(shipment=survey.shipment).update(preferences=preferences)

    rows = selectors.nps_by_preference(organization=org_a, **PERIOD)
    found = {(row.group, row.key): row.nps for row in rows}

    assert (found[("roast", "light")].score, found[("roast", "dark")].score) == (100.0, -100.0)
    assert found[("decaf", "false")].answers == 3
    assert found[("decaf", "true")].promoters == 1
    assert found[("avoid_origins", "brazil")].answers == 2
    assert found[("avoid_origins", "peru")].answers == 1
    assert not any(row.group in ("grams", "note") for row in rows)  # numbers and texts: no rows
    # In the schema's order: roast light before dark, as the organization lists them.
    roasts = [row.label for row in rows if row.group == "roast"]
    assert roasts == ["Light", "Dark"]
    # A multi-choice's rows are named by the choices' labels, never their stored values.
    origins = [row.label for row in rows if row.group == "avoid_origins"]
    assert origins == ["Brazil", "Peru"]


def test_follow_up_lists_detractors_with_a_comment_only(org_a):
    vocal, _silent, _happy = answered_surveys(
        org_a, [3, 2, 10], comments=["Stale beans", "", "Great"], answered_at=MONDAY
    )
    assert list(selectors.surveys_to_follow_up(organization=org_a)) == [vocal]


def test_another_organizations_answers_never_count(org_a, org_b):
    answered_surveys(org_b, [0, 0, 0], comments=["a", "b", "c"], answered_at=MONDAY)
    answered_surveys(org_a, [10], answered_at=MONDAY)

    assert selectors.nps_summary(organization=org_a, **PERIOD).nps.answers == 1
    assert sum(nps.answers for _w, nps in selectors.nps_by_week(organization=org_a, **PERIOD)) == 1
    assert sum(selectors.score_distribution(organization=org_a, **PERIOD)) == 1
    assert (
        sum(row.nps.answers for row in selectors.nps_by_product(organization=org_a, **PERIOD)) == 1
    )
    assert not selectors.surveys_to_follow_up(organization=org_a).exists()
