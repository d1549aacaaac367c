"""The admin's home page: the organization's week at a glance, each number the size of its list."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Membership, StaffProfile
from dashboard import selectors
from fulfillment.models import BatchLine
from subscriptions.models import Charge, Subscription
from tests.factories import (
    ChargeFactory,
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    SubscriptionFactory,
    member,
)
from woocommerce.models import WebhookDelivery, WooCommerceStore

Status = Subscription.Status
HOME = "/admin/"
#: Monday 16 November 2026, 10:00 in Paris.
NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

FIGURE = re.compile(
    r'<a class="figure[^"]*" href="(?P<href>[^"]+)"(?: data-count="(?P<count>\d+)")?>'
    r'<span class="value">(?P<value>[^<]*)</span><span class="label">(?P<label>[^<]*)</span>'
)


@dataclass(frozen=True)
class Shown:
    label: str
    value: str
    href: str
    count: int | None


def figures(html: str) -> dict[str, Shown]:
    """The dashboard's figures by label (the last one wins for a repeated label)."""
    found = {}
    for match in FIGURE.finditer(html):
        count = match["count"]
        shown = Shown(
            unescape(match["label"]),
            unescape(match["value"]),
            unescape(match["href"]),
            int(count) if count is not None else None,
        )
        found[shown.label] = shown
    return found


def all_counted(html: str) -> list[Shown]:
    return [
        Shown(unescape(m["label"]), unescape(m["value"]), unescape(m["href"]), int(m["count"]))
        for m in FIGURE.finditer(html)
        if m["count"] is not None
    ]


def demo_marie():
    """The demo data, and Marie (Purea Café's administrator, not a superuser) logged in."""
    from django.contrib.auth import get_user_model

    call_command("load_demo", password="demo", stdout=io.StringIO())
    client = Client()
    client.force_login(get_user_model().objects.get(username="marie"))
    return client


# --- With the demo data -----------------------------------------------------------------


@pytest.mark.django_db
def test_every_number_equals_the_count_of_the_list_it_links_to():
    client = demo_marie()

    home = client.get(HOME, HTTP_ACCEPT_LANGUAGE="en")
    counted = all_counted(home.text)

    # Real demo numbers, each with its list...
    shown = figures(home.text)
    assert int(shown["Active subscribers"].value) > 0
    assert int(shown["Open cases"].value) > 0
    assert int(shown["Past due"].value) > 0
    assert len(counted) >= 10
    for figure in counted:
        listed = client.get(figure.href, HTTP_ACCEPT_LANGUAGE="en")
        assert listed.status_code == 200, figure
        # ...which shows exactly that many rows
        assert listed.context_data["cl"].result_count == figure.count, figure


@pytest.mark.django_db
def test_the_next_batch_figures_are_its_boxes():
    client = demo_marie()

    home = client.get(HOME, HTTP_ACCEPT_LANGUAGE="en")
    card = home.text[home.text.index('id="dashboard-batch"') :]
    card = card[: card.index("</section>")]
    shown = figures(card)
    boxes = shown.get("Boxes") or shown["Boxes due"]
    page = client.get(boxes.href, HTTP_ACCEPT_LANGUAGE="en")

    if boxes.count is None:  # an open batch: its page previews the boxes due
        assert page.context_data["preview"]["total"] == int(boxes.value)
    else:  # a locked one: its live lines
        batch = page.context_data["cl"].queryset.first().batch
        live = BatchLine.objects.filter(batch=batch).exclude(
            status__in=[BatchLine.Status.EXCLUDED, BatchLine.Status.ROLLED]
        )
        assert live.count() == boxes.count
    assert "Production plan" in card


@pytest.mark.django_db
def test_the_dashboard_renders_in_a_bounded_number_of_queries(
    django_assert_max_num_queries, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = demo_marie()
    client.get(HOME)  # the session's language and time zone are read once
    # The next batch is the open one, whose live preview reads the boxes due; the
    # batches still to dispatch beside it are one query more, the subscribers' own
    # changes of the week (their portal) one more.
    with django_assert_max_num_queries(41), CaptureQueriesContext(connection) as demo:
        assert client.get(HOME).status_code == 200

    # Twice the subscriptions, more shops and cases: not one query more.
    purea = Membership.objects.get(user__username="marie").organization
    for status in [Status.ACTIVE, Status.PAUSED, Status.PAST_DUE, Status.CANCELED] * 5:
        SubscriptionFactory(customer=CustomerFactory(organization=purea), status=status)
    for name in ["Second shop", "Third shop"]:
        store = WooCommerceStore.objects.create(
            organization=purea, name=name, base_url="https://shop.example.com"
        )
        WebhookDelivery.objects.create(
            organization=purea,
            store=store,
            topic="order.updated",
            resource="order",
            event="updated",
            status=WebhookDelivery.Status.FAILED,
            body=b"{}",
            body_sha256="0" * 64,
        )
    with django_assert_num_queries(len(demo.captured_queries)):
        assert client.get(HOME).status_code == 200


# --- Hand-computed figures --------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def november(org_a):
    """Purea's subscriptions as of Monday 16 November 2026 (Paris), computed by hand below."""
    coffee = ProductFactory(organization=org_a, unit_price=Decimal("11.90"))
    espresso = ProductFactory(organization=org_a, unit_price=Decimal("10.00"))
    big = ProductFactory(organization=org_a, unit_price=Decimal("30.00"))

    def subscription(status, started, items, **fields):
        return SubscriptionFactory(
            customer=CustomerFactory(organization=org_a),
            status=status,
            started_at=at(started),
            billing_anchor=at(started),
            items=items,
            **fields,
        )

    with time_machine.travel(NOW, tick=False):
        # Active: 2 x 11.90 a month, 10.00 a week, 30.00 every two months.
        subscription(Status.ACTIVE, "2026-11-02T10:00+01:00", [(coffee, 2)])
        subscription(
            Status.ACTIVE, "2026-10-01T10:00+02:00", [(espresso, 1)], billing_period="week"
        )
        # 31 October 23:30 UTC is 1 November 00:30 in Paris: new this month.
        subscription(Status.ACTIVE, "2026-10-31T23:30Z", [(big, 1)], billing_interval=2)
        subscription(Status.PAUSED, "2026-09-01T10:00+02:00", [(coffee, 1)])
        late = subscription(Status.PAST_DUE, "2026-09-01T10:00+02:00", [(big, 1)])
        ChargeFactory(
            subscription=late, cycle=1, amount=Decimal("30.00"), status=Charge.Status.FAILED
        )
        churned = subscription(Status.CANCELED, "2026-06-01T10:00+02:00", [(coffee, 1)])
        # Ended on 31 October at 23:30 UTC: 1 November in Paris, churned this month.
        churned_at_midnight = subscription(Status.CANCELED, "2026-06-01T10:00+02:00", [(coffee, 1)])
        before = subscription(Status.CANCELED, "2026-06-01T10:00+02:00", [(coffee, 1)])
        ran_its_course = subscription(Status.EXPIRED, "2026-06-01T10:00+02:00", [(coffee, 1)])
    Subscription.objects.filter(pk=churned.pk).update(ended_at=at("2026-11-03T12:00+01:00"))
    Subscription.objects.filter(pk=churned_at_midnight.pk).update(ended_at=at("2026-10-31T23:30Z"))
    Subscription.objects.filter(pk=before.pk).update(ended_at=at("2026-10-31T22:30Z"))
    Subscription.objects.filter(pk=ran_its_course.pk).update(ended_at=at("2026-11-05T12:00+01:00"))
    return org_a


@pytest.mark.django_db
def test_the_subscription_figures_computed_by_hand(november, admin_client_for):
    staff = member(november, Membership.Role.VIEWER)

    with time_machine.travel(NOW, tick=False):
        home = admin_client_for(staff).get(HOME, HTTP_ACCEPT_LANGUAGE="en")
    shown = figures(home.text)

    assert shown["Active subscribers"].value == "3"
    # 23.80 + 10.00 x 52 / 12 + 30.00 / 2 = 23.80 + 43.33 + 15.00
    assert shown["Monthly recurring revenue"].value == "82.13 EUR"
    assert shown["New this month"].value == "2"
    assert shown["Churned this month"].value == "2"
    assert shown["Paused"].value == "1"
    assert shown["Past due"].value == "1"
    assert "Owed: 30.00 EUR" in home.text


@pytest.mark.django_db
def test_amounts_in_another_currency_are_never_added_and_the_dashboard_says_so(
    november, admin_client_for
):
    # Given, beside the figures above, a shop's subscriptions in US dollars: two active
    # (12.00 USD a month, 12.00 USD a week) and one past due owing 15.00 USD
    product = ProductFactory(organization=november, unit_price=Decimal("12.00"))
    with time_machine.travel(NOW, tick=False):
        for status, period in [(Status.ACTIVE, "month"), (Status.ACTIVE, "week")]:
            SubscriptionFactory(
                customer=CustomerFactory(organization=november),
                status=status,
                currency="USD",
                billing_period=period,
                items=[(product, 1)],
            )
        late = SubscriptionFactory(
            customer=CustomerFactory(organization=november),
            status=Status.PAST_DUE,
            currency="USD",
            items=[(product, 1)],
        )
        ChargeFactory(
            subscription=late,
            cycle=1,
            amount=Decimal("15.00"),
            currency="USD",
            status=Charge.Status.FAILED,
        )
    staff = member(november, Membership.Role.VIEWER)

    with time_machine.travel(NOW, tick=False):
        home = admin_client_for(staff).get(HOME, HTTP_ACCEPT_LANGUAGE="en")
    shown = figures(home.text)

    # Then the organization's figures are in euros only, as before
    assert shown["Monthly recurring revenue"].value == "82.13 EUR"
    assert "Owed: 30.00 EUR" in home.text
    assert "USD" not in shown["Monthly recurring revenue"].value
    # And the dollars are shown apart, with their currency: 12.00 + 12.00 x 52 / 12 = 64.00
    note = re.search(r'<p class="left-out" id="dashboard-left-out">([^<]*)</p>', home.text)
    assert unescape(note[1]) == (
        "Not counted in these amounts (in EUR only): 64.00 USD a month from 2 active "
        "subscriptions in other currencies; 15.00 USD owed."
    )
    assert shown["Active subscribers"].value == "5"  # they are subscribers all the same


@pytest.mark.django_db
def test_nothing_is_said_left_out_when_every_amount_is_in_the_organizations_currency(
    november, admin_client_for
):
    with time_machine.travel(NOW, tick=False):
        home = admin_client_for(member(november, Membership.Role.VIEWER)).get(HOME)
    assert "dashboard-left-out" not in home.text


@pytest.mark.django_db
def test_amounts_and_dates_are_in_french_when_the_staff_member_reads_french(
    november, admin_client_for
):
    staff = member(november, Membership.Role.STAFF)

    with time_machine.travel(NOW, tick=False):
        home = admin_client_for(staff).get(HOME, HTTP_ACCEPT_LANGUAGE="fr")

    assert "82,13 EUR" in home.text
    assert "Revenu mensuel récurrent" in home.text
    assert "novembre 2026" in home.text
    # 09:00 UTC is 10:00 in Paris
    assert "16 novembre 2026 10:00" in home.text


FRENCH_WEEK = re.compile(
    r"\d{1,2} (janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.)"
)


@pytest.mark.django_db
def test_the_charts_weeks_read_in_french_at_a_readable_size(november, admin_client_for):
    staff = member(november, Membership.Role.STAFF)

    with time_machine.travel(NOW, tick=False):
        home = admin_client_for(staff).get(HOME, HTTP_ACCEPT_LANGUAGE="fr")

    for card in ("dashboard-subscriptions", "dashboard-satisfaction"):
        section = home.text[home.text.index(f'id="{card}"') :]
        svg = section[section.index("<svg") : section.index("</svg>")]
        # Drawn at about a card's width (420 px at least), so its 11-unit labels stay ~11 px.
        assert 'viewBox="0 0 440 220"' in svg, card
        axis = svg[svg.index('class="axis x-axis"') :]
        axis = axis[: axis.index("</g>")]
        weeks = [unescape(text) for text in re.findall(r"<text[^>]*>([^<]+)</text>", axis)]
        assert 1 < len(weeks) <= 6, (card, weeks)
        assert all(FRENCH_WEEK.fullmatch(week) for week in weeks), (card, weeks)
        # The latest week is always labelled: Monday 16 November.
        assert weeks[-1] == "16 nov.", card


@pytest.mark.django_db
def test_the_trend_counts_the_subscriptions_under_way_at_the_end_of_each_week(org_a):
    with time_machine.travel(NOW, tick=False):
        SubscriptionFactory(
            customer=CustomerFactory(organization=org_a),
            status=Status.ACTIVE,
            started_at=at("2026-10-20T10:00+02:00"),
        )
        left = SubscriptionFactory(
            customer=CustomerFactory(organization=org_a),
            status=Status.CANCELED,
            started_at=at("2026-10-06T10:00+02:00"),
        )
        SubscriptionFactory(customer=CustomerFactory(organization=org_a), status=Status.PENDING)
    Subscription.objects.filter(pk=left.pk).update(ended_at=at("2026-11-04T10:00+01:00"))

    trend = selectors.subscribers(organization=org_a, now=NOW).trend

    assert len(trend) == selectors.TREND_WEEKS
    by_week = {point.week.isoformat(): point.value for point in trend}
    assert by_week["2026-09-28"] == 0
    assert by_week["2026-10-05"] == 1  # the one who left, from 6 October
    assert by_week["2026-10-19"] == 2
    assert by_week["2026-11-02"] == 1  # left on 4 November
    assert by_week["2026-11-16"] == 1  # this week, up to now; the pending one never started


# --- Organizations ----------------------------------------------------------------------


@pytest.mark.django_db
def test_another_organizations_figures_never_show(org_a, org_b, admin_client_for):
    for _ in range(3):
        SubscriptionFactory(customer=CustomerFactory(organization=org_b), status=Status.ACTIVE)
    SubscriptionFactory(customer=CustomerFactory(organization=org_a), status=Status.ACTIVE)
    staff = member(org_a, Membership.Role.STAFF)
    client = admin_client_for(staff)

    # Asking for the other organization's dashboard is ignored
    client.get(f"{HOME}?organization={org_b.pk}")
    home = client.get(HOME, HTTP_ACCEPT_LANGUAGE="en")

    assert figures(home.text)["Active subscribers"].value == "1"
    assert org_b.name not in home.text
    assert 'id="dashboard-organization"' not in home.text  # one organization: nothing to pick


@pytest.mark.django_db
def test_a_member_of_two_organizations_picks_one_and_works_in_its_time_zone(
    org_a, admin_client_for
):
    montreal = OrganizationFactory(name="Thé Montréal", timezone="America/Toronto")
    SubscriptionFactory(customer=CustomerFactory(organization=montreal), status=Status.ACTIVE)
    SubscriptionFactory(customer=CustomerFactory(organization=montreal), status=Status.ACTIVE)
    staff = member(org_a, Membership.Role.STAFF)
    Membership.objects.create(user=staff, organization=montreal, role=Membership.Role.VIEWER)
    client = admin_client_for(staff)

    first = client.get(HOME, HTTP_ACCEPT_LANGUAGE="en")
    picked = client.get(f"{HOME}?organization={montreal.pk}")
    home = client.get(HOME, HTTP_ACCEPT_LANGUAGE="en")

    # The first by name, then the one picked, with a picker naming both
    assert "Purea Café" in first.text.split('id="dashboard"')[0]
    assert picked.status_code == 302
    assert picked["Location"] == reverse("admin:index")
    assert "This week · Thé Montréal" in home.text
    assert figures(home.text)["Active subscribers"].value == "2"
    assert "(America/Toronto time)" in home.text
    assert 'id="dashboard-organization"' in home.text
    # Each figure's list is that organization's
    assert f"organization__id__exact={montreal.pk}" in figures(home.text)["Active subscribers"].href


@pytest.mark.django_db
def test_a_staff_member_without_organization_sees_the_models_only(admin_client_for):
    from tests.factories import UserFactory

    home = admin_client_for(UserFactory()).get(HOME, HTTP_ACCEPT_LANGUAGE="en")

    assert home.status_code == 200
    assert 'id="dashboard"' not in home.text


# --- Language ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_language_switch_is_kept_in_the_profile_for_the_next_login(org_a, admin_client_for):
    staff = member(org_a, Membership.Role.STAFF)
    admin_client_for(staff).post("/i18n/setlang/", {"language": "fr", "next": HOME})

    # Another device, whose browser asks for English
    elsewhere = admin_client_for(staff)
    home = elsewhere.get(HOME, HTTP_ACCEPT_LANGUAGE="en")

    assert StaffProfile.objects.get(user=staff).language == "fr"
    assert "Back-office des abonnements" in home.text
    assert "Abonnés actifs" in home.text


@pytest.mark.django_db
def test_without_a_profile_language_the_browser_decides(org_a, admin_client_for):
    staff = member(org_a, Membership.Role.STAFF)

    english = admin_client_for(staff).get(HOME, HTTP_ACCEPT_LANGUAGE="en")
    french = admin_client_for(staff).get(HOME, HTTP_ACCEPT_LANGUAGE="fr")

    assert "Active subscribers" in english.text
    assert "Abonnés actifs" in french.text


@pytest.mark.django_db
def test_the_api_keeps_utc_whatever_the_staff_pages_use(org_a, api_client_for, admin_client_for):
    subscription = SubscriptionFactory(
        customer=CustomerFactory(organization=org_a),
        status=Status.ACTIVE,
        started_at=at("2026-11-02T10:00+01:00"),
    )
    staff = member(org_a, Membership.Role.STAFF)
    admin_client_for(staff).get(HOME)  # a staff page activates Paris time in this thread

    body = api_client_for(org_a).get(f"/api/v1/subscriptions/{subscription.pk}").json()

    assert body["started_at"].endswith(("Z", "+00:00"))


@pytest.mark.django_db
def test_an_open_batch_shows_its_countdown_and_its_preview(org_a, admin_client_for):
    from datetime import timedelta

    from tests.factories import open_batch

    batch = open_batch(org_a, NOW + timedelta(days=2, hours=5))
    staff = member(org_a, Membership.Role.STAFF)

    with time_machine.travel(NOW, tick=False):
        home = admin_client_for(staff).get(HOME, HTTP_ACCEPT_LANGUAGE="en")
        page = admin_client_for(staff).get(
            reverse("admin:fulfillment_batch_change", args=[batch.pk]), HTTP_ACCEPT_LANGUAGE="en"
        )
    card = home.text[home.text.index('id="dashboard-batch"') :]
    card = card[: card.index("</section>")]

    # 16 November 10:00 in Paris + 2 days 5 hours
    assert "Cut-off in 2\xa0days, 5\xa0hours, Nov. 18, 2026, 3 p.m." in unescape(card)
    assert figures(card)["Boxes due"].value == str(page.context_data["preview"]["total"])


@pytest.mark.django_db
def test_the_next_batch_is_the_open_one_and_a_locked_one_still_to_dispatch_is_named_beside_it(
    org_a, admin_client_for
):
    from datetime import timedelta

    from tests.factories import BatchLineFactory, open_batch

    # Two weeks ago: locked with nothing in it; last week: locked, one box ready to pack.
    empty = open_batch(org_a, NOW - timedelta(days=12), status="locked")
    waiting = open_batch(org_a, NOW - timedelta(days=5), status="locked")
    BatchLineFactory(batch=waiting)  # a subscriber's cycle, paid: ready
    upcoming = open_batch(org_a, NOW + timedelta(days=2))
    staff = member(org_a, Membership.Role.STAFF)

    with time_machine.travel(NOW, tick=False):
        home = admin_client_for(staff).get(HOME, HTTP_ACCEPT_LANGUAGE="en")
    card = unescape(home.text[home.text.index('id="dashboard-batch"') :])
    card = card[: card.index("</section>")]

    heading = card[: card.index("</h3>")]
    assert str(upcoming) in heading
    assert "(Open)" in heading
    assert f'Still to dispatch: <a href="/admin/fulfillment/batch/{waiting.pk}/change/">' in card
    assert "1 box to prepare or ship" in card
    assert f"/admin/fulfillment/batch/{empty.pk}/" not in card


# --- Satisfaction: the last 30 days, and this month once it has answers --------------------


@pytest.mark.django_db
def test_the_satisfaction_card_reads_the_last_30_days_and_this_month_once_it_has_answers(
    org_a, admin_client_for
):
    from satisfaction.models import SatisfactionSurvey
    from tests.factories import answered_surveys

    # Wednesday 2 December 2026, 10:00 in Paris: the last 30 days began on 3 November.
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(now - timedelta(days=12), tick=False):
        surveys = answered_surveys(org_a, [10, 9, 3, 7, 9], answered_at=timezone.now())
    last_month, at_the_start, just_before, _passive, _promoter = surveys

    def answered_at(survey, moment):
        SatisfactionSurvey.objects.filter(pk=survey.pk).update(answered_at=moment)

    answered_at(at_the_start, datetime(2026, 11, 2, 23, 30, tzinfo=UTC))  # 3 Nov, 00:30 Paris
    answered_at(just_before, datetime(2026, 11, 2, 22, 30, tzinfo=UTC))  # 2 Nov, 23:30 Paris
    answered_at(last_month, datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    client = admin_client_for(member(org_a, Membership.Role.VIEWER))

    def card():
        with time_machine.travel(now, tick=False):
            home = client.get(HOME, HTTP_ACCEPT_LANGUAGE="en")
            text = home.text[home.text.index('id="dashboard-satisfaction"') :]
            text = text[: text.index("</section>")]
            shown = figures(text)
            for figure in shown.values():  # each count is its list's
                if figure.count is not None:
                    listed = client.get(figure.href, HTTP_ACCEPT_LANGUAGE="en")
                    assert listed.context_data["cl"].result_count == figure.count, figure
        return text, shown

    # Given December's first answer is yet to come, November's last 30 days lead:
    # 9 and 9 promote, 7 is passive (3 November counts, 2 November does not; nor October).
    text, shown = card()
    assert "NPS 67, 3 answers: too few for a margin of error" in unescape(text)
    assert shown["Answers, last 30 days"].count == 3
    assert "NPS this month" not in shown

    # When an answer comes in on 1 December, the month's figures join the card.
    answered_at(last_month, datetime(2026, 12, 1, 17, 0, tzinfo=UTC))
    SatisfactionSurvey.objects.filter(pk=last_month.pk).update(score=2)
    text, shown = card()
    assert "NPS 25, 4 answers: too few for a margin of error" in unescape(text)
    assert shown["Answers, last 30 days"].count == 4
    assert shown["NPS this month"].value == "-100"
    assert shown["Answers this month"].count == 1
