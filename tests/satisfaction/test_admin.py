"""The satisfaction back office, through the real admin URLs, as staff use it: the settings,
the surveys' list and buttons, and the report.

The clock stands on Thursday 12 November 2026, 3 pm in Paris (organization A's time
zone): "this week" started on Monday 9 November. Organization B is someone else's.
"""

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import translation

from core.actors import Actor
from crm.models import Customer, Membership
from fulfillment.models import BatchLine
from returns import services as returns
from returns.models import ReturnRequest
from satisfaction import services
from satisfaction.models import SatisfactionConfig, SatisfactionSurvey
from satisfaction.nps import Nps
from satisfaction.presentation import nps_headline, number
from tests.factories import (
    MembershipFactory,
    ProductFactory,
    UserFactory,
    answered_surveys,
    billing_settings,
    coffee_schema,
    delivered_boxes,
    member,
    satisfaction_on,
)
from tests.helpers import messages_of, transitions_offered

pytestmark = pytest.mark.django_db

S = SatisfactionSurvey.Status
Role = Membership.Role
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 12, 15, 0, tzinfo=PARIS)  # a Thursday
WEDNESDAY = datetime(2026, 11, 11, 10, 0, tzinfo=PARIS)
SURVEYS = "/admin/satisfaction/satisfactionsurvey/"
REPORT = f"{SURVEYS}report/"
SETTINGS = "/admin/satisfaction/satisfactionconfig/"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "http://testserver.example"


@pytest.fixture
def coffee(org_a):
    return ProductFactory(organization=org_a, sku="COF-250", name="Coffee beans")


@pytest.fixture
def mug(org_a):
    return ProductFactory(organization=org_a, sku="MUG-1", name="Mug")


def scheduled(organization, *, delivered_at=NOW - timedelta(days=50)):
    """A survey scheduled, not sent yet (it stays so: nothing sends it).

    Tests make their boxes oldest first, a fortnight apart: one batch per cut-off.
    """
    satisfaction_on(organization, delay_days=3)
    (shipment,) = delivered_boxes(organization, delivered_at=delivered_at)
    services.surveys_schedule_for(
        organization=organization, now=delivered_at + timedelta(days=3, minutes=1)
    )
    return SatisfactionSurvey.objects.get(shipment=shipment)


def survey_url(survey, suffix="change/"):
    return f"{SURVEYS}{survey.pk}/{suffix}"


def transition_url(survey, name):
    return survey_url(survey, f"transition/{name}/")


def listed(response):
    return list(response.context["cl"].result_list)


def state(survey):
    return SatisfactionSurvey.objects.filter(pk=survey.pk).values().get()


def svg_of(markup):
    return ET.fromstring(str(markup))  # noqa: S314 (the page's own chart)


# --- The list: filters, ordering, search -----------------------------------------------------


def answered_on(survey, at):
    """Say `survey` was answered at `at` (a box a week can be made, not eight)."""
    SatisfactionSurvey.objects.filter(pk=survey.pk).update(answered_at=at)
    survey.refresh_from_db()
    return survey


@pytest.fixture
def surveys(org_a, staff_user_a, coffee, mug):
    """Answers over four months, and a survey not sent yet."""
    pending = scheduled(org_a)
    (angry,) = answered_surveys(
        org_a,
        [3],
        answered_at=WEDNESDAY - timedelta(days=28),
        comments=["Stale beans"],
        items=[(coffee, 1), (mug, 1)],
    )
    old, happy = answered_surveys(
        org_a, [9, 10], answered_at=WEDNESDAY - timedelta(days=14), items=[(coffee, 2)]
    )
    older, cased, meh, followed, monday = answered_surveys(
        org_a,
        [6, 4, 8, 2, 7],
        answered_at=WEDNESDAY,
        comments=["", "Broken", "", "Late", ""],
        items=[(mug, 1)],
    )
    for survey, name in ((angry, "Anne Colere"), (happy, "Paul Heureux")):
        first, last = name.split()
        Customer.objects.filter(pk=survey.customer_id).update(first_name=first, last_name=last)
    actor = Actor.for_user(staff_user_a)
    services.survey_open_case(survey=cased, actor=actor)
    services.survey_mark_followed_up(survey=followed, actor=actor)
    return {
        "older": answered_on(older, datetime(2026, 8, 20, 10, 0, tzinfo=PARIS)),
        "old": answered_on(old, datetime(2026, 9, 10, 10, 0, tzinfo=PARIS)),
        "angry": answered_on(angry, datetime(2026, 10, 20, 10, 0, tzinfo=PARIS)),
        "cased": answered_on(cased, datetime(2026, 11, 2, 10, 0, tzinfo=PARIS)),
        "meh": answered_on(meh, datetime(2026, 11, 3, 10, 0, tzinfo=PARIS)),
        "followed": answered_on(followed, datetime(2026, 11, 5, 10, 0, tzinfo=PARIS)),
        # Monday 00:30 in Paris is still Sunday in UTC: this week for the roaster.
        "monday": answered_on(monday, datetime(2026, 11, 9, 0, 30, tzinfo=PARIS)),
        "happy": answered_on(happy, WEDNESDAY),
        "pending": pending,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status__exact=answered", "older old angry cased meh followed monday happy"),
        ("status__exact=scheduled", "pending"),
        ("band=promoter", "old happy"),
        ("band=passive", "meh monday"),
        ("band=detractor", "older angry cased followed"),
        ("band=none", "pending"),
        ("product={coffee}", "old angry happy"),
        ("product={mug}", "older angry cased meh followed monday"),
        ("answered=week", "monday happy"),
        ("answered=4weeks", "angry cased meh followed monday happy"),
        ("answered=month", "cased meh followed monday happy"),
        ("answered=3months", "old angry cased meh followed monday happy"),
        ("follow_up=todo", "angry"),
        ("follow_up=case", "cased"),
        ("follow_up=done", "cased followed"),
        ("band=detractor&answered=month", "cased followed"),
    ],
)
def test_each_filter_lists_the_right_surveys(admin_client_a, surveys, coffee, mug, query, expected):
    query = query.format(coffee=coffee.pk, mug=mug.pk)

    response = admin_client_a.get(f"{SURVEYS}?{query}", **EN)

    assert response.status_code == 200
    names = {survey.pk: name for name, survey in surveys.items()}
    assert sorted(names[survey.pk] for survey in listed(response)) == sorted(expected.split())


def test_detractor_comments_to_follow_up_come_first_then_the_latest_answers(
    admin_client_a, surveys
):
    response = admin_client_a.get(SURVEYS, **EN)

    names = {survey.pk: name for name, survey in surveys.items()}
    assert [names[survey.pk] for survey in listed(response)] == [
        "angry",  # a detractor's comment nobody answered, though three weeks old
        "happy",
        "monday",
        "followed",
        "meh",
        "cased",
        "old",
        "older",  # a detractor without a comment: nothing to answer
        "pending",  # not answered
    ]


def test_the_columns_show_the_customer_score_band_comment_products_and_follow_up(
    admin_client_a, surveys
):
    response = admin_client_a.get(SURVEYS, **EN)
    page = response.content.decode()

    rows = re.findall(r"<tr>.*?</tr>", page, flags=re.S)
    angry = next(row for row in rows if "Anne Colere" in row)
    assert 'class="score-badge band-detractor"' in angry
    assert "Stale beans" in angry
    assert "1 x Coffee beans, 1 x Mug" in angry
    assert 'class="follow-up-todo"' in angry
    assert "To follow up" in angry
    happy = next(row for row in rows if "Paul Heureux" in row)
    assert 'class="score-badge band-promoter"' in happy
    assert "To follow up" not in happy
    case = ReturnRequest.objects.get(shipment=surveys["cased"].shipment)
    assert (
        f'<a href="/admin/returns/returnrequest/{case.pk}/change/" class="follow-up-case">' in page
    )
    assert page.count('class="follow-up-done"') == 1  # followed; "cased" shows its case
    assert page.count('class="score-badge band-passive"') == 2


def test_search_by_customer_name_or_email(admin_client_a, surveys):
    by_name = admin_client_a.get(f"{SURVEYS}?q=colere", **EN)
    email = surveys["happy"].customer.email
    by_email = admin_client_a.get(f"{SURVEYS}?q={email}", **EN)

    assert listed(by_name) == [surveys["angry"]]
    assert listed(by_email) == [surveys["happy"]]


def test_the_list_queries_do_not_grow_with_its_length(
    admin_client_a, org_a, coffee, django_assert_max_num_queries
):
    scheduled(org_a)
    answered_surveys(
        org_a,
        [3, 9],
        answered_at=WEDNESDAY - timedelta(days=14),
        comments=["Bad", ""],
        items=[(coffee, 1)],
    )
    admin_client_a.get(SURVEYS)  # warm the session and content types

    with django_assert_max_num_queries(12) as few:
        admin_client_a.get(SURVEYS)
    answered_surveys(
        org_a,
        [0, 5, 6, 7, 8, 9, 10, 10, 4, 2],
        answered_at=WEDNESDAY,
        comments=["Meh", "", "", "", "", "", "", "", "Late", ""],
        items=[(coffee, 1)],
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_a.get(SURVEYS)

    assert response.context["cl"].result_count == 13
    assert response.content.decode().count('class="follow-up-todo"') == 3


def test_the_list_links_to_the_report(admin_client_a, surveys):
    response = admin_client_a.get(SURVEYS, **EN)

    assert f'<a href="{REPORT}" class="satisfaction-report-link">' in response.content.decode()


def test_nobody_adds_or_edits_a_survey_by_hand(admin_client_a, surveys):
    survey = surveys["angry"]

    assert admin_client_a.get(f"{SURVEYS}add/").status_code == 403
    page = admin_client_a.get(survey_url(survey), **EN)
    assert page.status_code == 200
    assert 'name="comment"' not in page.content.decode()
    admin_client_a.post(survey_url(survey), {"comment": "Fine", "score": "10"})
    assert state(survey)["comment"] == "Stale beans"


# --- The buttons -------------------------------------------------------------------------------


def test_an_answered_survey_offers_a_case_and_follow_up_a_scheduled_one_cancel(
    admin_client_a, org_a
):
    waiting = scheduled(org_a)
    (answer,) = answered_surveys(org_a, [3], answered_at=WEDNESDAY, comments=["Stale"])

    assert transitions_offered(admin_client_a.get(survey_url(answer))) == [
        "mark_followed_up",
        "open_case",
    ]
    assert transitions_offered(admin_client_a.get(survey_url(waiting))) == ["cancel"]


def test_open_a_case_from_a_detractors_answer_end_to_end(admin_client_a, staff_user_a, org_a):
    (survey,) = answered_surveys(org_a, [2], answered_at=WEDNESDAY, comments=["Stale beans"])
    assert survey.needs_follow_up

    form = admin_client_a.get(transition_url(survey, "open_case"), **EN)
    response = admin_client_a.post(transition_url(survey, "open_case"), follow=True, **EN)

    assert form.status_code == 200
    case = ReturnRequest.objects.get(shipment=survey.shipment)
    assert response.redirect_chain[-1][0] == f"/admin/returns/returnrequest/{case.pk}/change/"
    assert messages_of(response) == [
        f"Case {case.pk} is open about this box; the survey counts as followed up."
    ]
    survey.refresh_from_db()
    assert survey.return_request == case
    assert survey.followed_up_by == staff_user_a
    assert not survey.needs_follow_up
    assert "Stale beans" in case.description
    # The survey's page now links to the case and offers nothing more.
    page = admin_client_a.get(survey_url(survey), **EN)
    assert transitions_offered(page) == []
    assert f'href="/admin/returns/returnrequest/{case.pk}/change/"' in page.content.decode()
    listed_again = admin_client_a.get(f"{SURVEYS}?follow_up=todo", **EN)
    assert listed(listed_again) == []


def test_a_refused_case_is_an_error_message_and_changes_nothing(
    admin_client_a, staff_user_a, org_a
):
    billing_settings(org_a, gateway="test")
    (survey,) = answered_surveys(org_a, [2], answered_at=WEDNESDAY, comments=["Broken"])
    returns.return_open(
        organization=org_a,
        shipment=survey.shipment,
        reason="damaged",
        actor=Actor.for_user(staff_user_a),
    )
    before = state(survey)

    response = admin_client_a.post(transition_url(survey, "open_case"), follow=True, **EN)

    assert response.redirect_chain[-1][0] == survey_url(survey)
    (message,) = response.context["messages"]
    assert message.level_tag == "error"
    assert state(survey) == before
    assert ReturnRequest.objects.filter(shipment=survey.shipment).count() == 1


def test_mark_followed_up(admin_client_a, staff_user_a, org_a):
    (survey,) = answered_surveys(org_a, [5], answered_at=WEDNESDAY, comments=["Too bitter"])

    response = admin_client_a.post(transition_url(survey, "mark_followed_up"), follow=True, **EN)

    assert response.redirect_chain[-1][0] == survey_url(survey)
    assert messages_of(response) == [f"Survey {survey.pk} is marked followed up."]
    survey.refresh_from_db()
    assert (survey.followed_up_by, survey.needs_follow_up) == (staff_user_a, False)
    assert transitions_offered(response) == ["open_case"]
    assert "Claire Petit" in response.content.decode()


def test_cancel_a_scheduled_survey_with_a_reason(admin_client_a, org_a):
    survey = scheduled(org_a)

    response = admin_client_a.post(
        transition_url(survey, "cancel"), {"reason": "She called us"}, follow=True, **EN
    )

    assert messages_of(response) == [f"Survey {survey.pk} is canceled: it will not be sent."]
    survey.refresh_from_db()
    assert (survey.status, survey.cancel_reason, survey.canceled_note) == (
        S.CANCELED,
        "by_hand",
        "She called us",
    )
    assert transitions_offered(response) == []


def test_an_action_not_possible_now_says_so_and_changes_nothing(admin_client_a, org_a):
    (survey,) = answered_surveys(org_a, [9], answered_at=WEDNESDAY)
    before = state(survey)

    form = admin_client_a.get(transition_url(survey, "cancel"), follow=True, **EN)
    posted = admin_client_a.post(
        transition_url(survey, "cancel"), {"reason": "x"}, follow=True, **EN
    )

    assert form.redirect_chain[-1][0] == survey_url(survey)
    assert messages_of(form) == ["“Cancel” is not possible now: the survey is answered."]
    (message,) = posted.context["messages"]
    assert message.level_tag == "error"
    assert state(survey) == before


def test_a_viewer_sees_no_button_and_may_not_act(admin_client_for, org_a):
    viewer = member(org_a, Role.VIEWER)
    admin_client_a = admin_client_for(viewer)
    (survey,) = answered_surveys(org_a, [1], answered_at=WEDNESDAY, comments=["Awful"])
    before = state(survey)

    page = admin_client_a.get(survey_url(survey))
    form = admin_client_a.get(transition_url(survey, "open_case"))
    posted = admin_client_a.post(transition_url(survey, "mark_followed_up"))
    listing = admin_client_a.get(SURVEYS)
    action = admin_client_a.post(
        SURVEYS, {"action": "mark_followed_up", ACTION_CHECKBOX_NAME: [survey.pk]}
    )

    assert page.status_code == 200
    assert transitions_offered(page) == []
    assert (form.status_code, posted.status_code) == (403, 403)
    assert 'value="mark_followed_up"' not in listing.content.decode()
    assert action.status_code in (200, 302, 403)
    assert state(survey) == before
    assert ReturnRequest.objects.count() == 0


def test_the_list_action_marks_the_selected_answers_followed_up(
    admin_client_a, staff_user_a, org_a
):
    waiting = scheduled(org_a)
    first, second = answered_surveys(org_a, [3, 9], answered_at=WEDNESDAY, comments=["Bad", "Good"])

    response = admin_client_a.post(
        SURVEYS,
        {"action": "mark_followed_up", ACTION_CHECKBOX_NAME: [first.pk, second.pk, waiting.pk]},
        follow=True,
        **EN,
    )

    texts = messages_of(response)
    assert "2 surveys marked followed up." in texts
    assert f"Survey {waiting.pk}: Only an answered survey can be followed up." in texts
    for survey in (first, second):
        survey.refresh_from_db()
        assert survey.followed_up_by == staff_user_a
    waiting.refresh_from_db()
    assert (waiting.status, waiting.followed_up_at) == (S.SCHEDULED, None)


def test_the_customers_link_is_shown_only_while_the_survey_is_open(admin_client_a, org_a):
    waiting = scheduled(org_a)
    (closed,) = answered_surveys(org_a, [8], answered_at=WEDNESDAY - timedelta(days=30))
    (answer,) = answered_surveys(org_a, [8], answered_at=WEDNESDAY)

    open_page = admin_client_a.get(survey_url(answer), **EN).content.decode()
    closed_page = admin_client_a.get(survey_url(closed), **EN).content.decode()
    waiting_page = admin_client_a.get(survey_url(waiting), **EN).content.decode()

    assert f"http://testserver.example/s/{answer.token}/" in open_page
    assert 'class="survey-public-link"' in open_page
    assert closed.token not in closed_page
    assert 'class="survey-public-link"' not in closed_page
    assert waiting.token not in waiting_page


# --- Across organizations -------------------------------------------------------------------


def test_another_organizations_staff_cannot_see_or_touch_its_surveys(
    admin_client_for, staff_user_b, org_a, org_b
):
    client_b = admin_client_for(staff_user_b)
    (theirs,) = answered_surveys(org_a, [2], answered_at=WEDNESDAY, comments=["Bad"])
    (ours,) = answered_surveys(org_b, [9], answered_at=WEDNESDAY)
    before = state(theirs)

    listing = client_b.get(SURVEYS)
    page = client_b.get(survey_url(theirs))
    form = client_b.get(transition_url(theirs, "open_case"))
    posted = client_b.post(transition_url(theirs, "mark_followed_up"))
    action = client_b.post(
        SURVEYS,
        {"action": "mark_followed_up", ACTION_CHECKBOX_NAME: [theirs.pk]},
        follow=True,
        **EN,
    )
    searched = client_b.get(f"{SURVEYS}?q={theirs.customer.email}")

    assert listed(listing) == [ours]
    assert (page.status_code, form.status_code, posted.status_code) == (404, 404, 404)
    assert any("Items must be selected" in text for text in messages_of(action))
    assert listed(searched) == []
    assert state(theirs) == before
    assert ReturnRequest.objects.count() == 0


# --- Settings --------------------------------------------------------------------------------


def settings_data(**changes):
    data = {
        "enabled": "on",
        "delay_days": "3",
        "cooling_days": "30",
        "expiry_days": "14",
        "from_email": "",
        "question_en": "",
        "question_fr": "",
        "email_subject_en": "",
        "email_subject_fr": "",
        "email_body_en": "",
        "email_body_fr": "",
    }
    data.update(changes)
    return data


def test_an_organization_finds_its_settings_on_its_first_visit(admin_client_a, org_a, org_b):
    assert not SatisfactionConfig.objects.exists()

    response = admin_client_a.get(SETTINGS, **EN)

    config = SatisfactionConfig.objects.get()
    assert config.organization == org_a
    assert not config.enabled  # off until an administrator turns it on
    assert listed(response) == [config]


def test_the_texts_are_grouped_by_language_with_their_placeholders(admin_client_for, org_a):
    admin_user = member(org_a, Role.ADMIN)
    config = services.satisfaction_config_ensure(organization=org_a)

    page = admin_client_for(admin_user).get(f"{SETTINGS}{config.pk}/change/", **EN)

    text = page.content.decode()
    assert "Texts in English" in text
    assert "Texts in French" in text
    assert text.count("{first_name} (the customer's first name)") == 2
    assert "A blank text uses the default wording" in text
    # The default question is shown where the organization's own would go.
    assert "How likely are you to recommend Purea Café to a friend or colleague?" in text


def test_administrators_change_the_settings(admin_client_for, org_a):
    admin_user = member(org_a, Role.ADMIN)
    config = services.satisfaction_config_ensure(organization=org_a)
    body = "Bonjour {first_name}, votre avis sur {organization} : {link}"

    response = admin_client_for(admin_user).post(
        f"{SETTINGS}{config.pk}/change/",
        settings_data(delay_days="5", email_body_fr=body, question_fr="Alors, {first_name} ?"),
    )

    assert response.status_code == 302
    config.refresh_from_db()
    assert (config.enabled, config.delay_days, config.email_body_fr) == (True, 5, body)


@pytest.mark.parametrize(
    ("field", "text", "error"),
    [
        ("question_fr", "Bonjour {prenom} !", "Unknown placeholder {prenom}."),
        ("email_subject_en", "Hi {name}", "Unknown placeholder {name}."),
        ("email_body_en", "Hello {first_name}, tell us!", "The text must hold {link}"),
    ],
)
def test_the_settings_form_refuses_a_text_the_model_refuses(
    admin_client_for, org_a, field, text, error
):
    admin_user = member(org_a, Role.ADMIN)
    config = services.satisfaction_config_ensure(organization=org_a)

    response = admin_client_for(admin_user).post(
        f"{SETTINGS}{config.pk}/change/", settings_data(**{field: text}), **EN
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert error in " ".join(errors[field])
    config.refresh_from_db()
    assert (config.enabled, getattr(config, field)) == (False, "")


def test_staff_and_viewers_only_read_the_settings(admin_client_for, org_a, staff_user_a):
    config = services.satisfaction_config_ensure(organization=org_a)
    viewer = member(org_a, Role.VIEWER)

    for user in (staff_user_a, viewer):
        admin_client_a = admin_client_for(user)
        page = admin_client_a.get(f"{SETTINGS}{config.pk}/change/")
        posted = admin_client_a.post(f"{SETTINGS}{config.pk}/change/", settings_data())
        assert page.status_code == 200
        assert 'name="delay_days"' not in page.content.decode()
        assert posted.status_code == 403
    config.refresh_from_db()
    assert not config.enabled


def test_another_organizations_staff_cannot_see_its_settings(admin_client_for, org_a, org_b):
    theirs = services.satisfaction_config_ensure(organization=org_a)
    admin_b = member(org_b, Role.ADMIN)
    client_b = admin_client_for(admin_b)

    listing = client_b.get(SETTINGS)
    page = client_b.get(f"{SETTINGS}{theirs.pk}/change/")
    posted = client_b.post(f"{SETTINGS}{theirs.pk}/change/", settings_data())

    assert [config.organization for config in listed(listing)] == [org_b]
    assert (page.status_code, posted.status_code) == (404, 404)
    theirs.refresh_from_db()
    assert not theirs.enabled


# --- A subscription's page --------------------------------------------------------------------


def test_a_subscriptions_page_lists_its_surveys(admin_client_a, org_a):
    (survey,) = answered_surveys(org_a, [3], answered_at=WEDNESDAY, comments=["Stale"])

    page = admin_client_a.get(
        f"/admin/subscriptions/subscription/{survey.subscription_id}/change/", **EN
    )

    text = page.content.decode()
    assert f'<a href="{survey_url(survey)}" class="satisfaction-survey">' in text
    assert 'class="score-badge band-detractor"' in text
    assert "To follow up" in text


# --- The report --------------------------------------------------------------------------------


def test_the_report_shows_the_hand_computed_nps_of_a_set_of_answers(
    admin_client_a, org_a, org_b, coffee, mug
):
    coffee_schema(org_a)
    surveys = answered_surveys(
        org_a,
        [10, 9, 9, 8, 6, 3],
        answered_at=WEDNESDAY,
        comments=["", "", "", "", "", "Stale beans"],
        items=[(coffee, 1)],
    )
    BatchLine.objects.filter(shipment=surveys[5].shipment).update(preferences={"roast": "dark"})
    BatchLine.objects.filter(shipment=surveys[0].shipment).update(preferences={"roast": "light"})
    answered_surveys(org_b, [0, 0, 0], answered_at=WEDNESDAY)  # never counted for A

    response = admin_client_a.get(REPORT, **EN)

    assert response.status_code == 200
    context = response.context
    # 3 promoters, 1 passive, 2 detractors: (3 - 2) / 6 = 16.67; margin 71.8 points.
    assert context["headline"] == "NPS 17 ± 72, 6 answers"
    assert "NPS 17 ± 72, 6 answers" in response.content.decode()
    assert context["response_rate"] == ("100% answered: 6 of the 6 surveys sent in the period.")
    assert [(row["band"], row["count"], row["percent"]) for row in context["bands"]] == [
        ("promoter", "3", "50%"),
        ("passive", "1", "17%"),
        ("detractor", "2", "33%"),
    ]
    bars = svg_of(context["distribution_chart"]).findall(f".//{SVG}rect")
    assert [int(bar.get("data-score")) for bar in bars] == list(range(11))
    height = {int(bar.get("data-score")): float(bar.get("height")) for bar in bars}
    assert height[9] > height[10] == height[8] == height[6] == height[3] > 0
    assert {height[score] for score in (0, 1, 2, 4, 5, 7)} == {0}
    week = svg_of(context["week_chart"])
    (point,) = week.findall(f".//{SVG}circle")
    assert point.find(f"{SVG}title").text == "Week of Nov. 9, 2026: NPS 17, 6 answers"
    assert len(week.findall(f".//{SVG}g[@class='axis x-axis']/{SVG}text")) == 12
    assert [(row["label"], row["answers"], row["score"]) for row in context["products"]] == [
        ("Coffee beans", "6", "17")
    ]
    roasts = [row for row in context["preferences"] if row["group"] == "Roast"]
    assert [(row["label"], row["answers"], row["score"]) for row in roasts] == [
        ("Light", "1", "100"),
        ("Dark", "1", "-100"),
    ]
    (follow_up,) = context["follow_ups"]
    assert follow_up["url"] == survey_url(surveys[5])
    assert follow_up["comment"] == "Stale beans"


def test_the_report_period_is_chosen_in_weeks_ending_today(admin_client_a, org_a):
    answered_surveys(org_a, [0], answered_at=WEDNESDAY - timedelta(weeks=6))
    answered_surveys(org_a, [9], answered_at=WEDNESDAY)

    default = admin_client_a.get(REPORT, **EN)
    four = admin_client_a.get(f"{REPORT}?weeks=4", **EN)
    odd = admin_client_a.get(f"{REPORT}?weeks=13", **EN)

    assert default.context["weeks"] == 12
    assert default.context["headline"] == "NPS 0, 2 answers: too few for a margin of error"
    assert four.context["headline"] == "NPS 100, 1 answer: too few for a margin of error"
    assert four.context["period"] == "From Monday Oct. 19, 2026 to today, Nov. 12, 2026."
    week = svg_of(four.context["week_chart"])
    assert len(week.findall(f".//{SVG}g[@class='axis x-axis']/{SVG}text")) == 4
    assert odd.context["weeks"] == 12


def test_a_report_without_answers_says_so(admin_client_a, org_a):
    response = admin_client_a.get(REPORT, **EN)

    context = response.context
    assert context["headline"] == "No answers"
    assert context["response_rate"] == "No survey was sent in this period."
    for chart in ("week_chart", "distribution_chart"):
        empty = svg_of(context[chart]).find(f".//{SVG}text[@class='chart-empty']")
        assert empty.text == "No answers"


def test_a_staff_member_of_several_organizations_picks_one_never_mixed(
    admin_client_for, org_a, org_b
):
    both = member(org_a, Role.VIEWER)
    MembershipFactory(user=both, organization=org_b, role=Role.STAFF)
    answered_surveys(org_a, [10, 10], answered_at=WEDNESDAY)
    answered_surveys(org_b, [0], answered_at=WEDNESDAY)
    admin_client_a = admin_client_for(both)

    default = admin_client_a.get(REPORT, **EN)
    chosen = admin_client_a.get(f"{REPORT}?organization={org_a.pk}", **EN)

    # By name: "Other Tea Co" before "Purea Café".
    assert default.context["organizations"] == [org_b, org_a]
    assert default.context["organization"] == org_b
    assert default.context["headline"] == "NPS -100, 1 answer: too few for a margin of error"
    assert chosen.context["organization"] == org_a
    assert chosen.context["headline"] == "NPS 100, 2 answers: too few for a margin of error"
    assert '<select name="organization"' in chosen.content.decode()
    # Its links to the list keep to the organization shown.
    follow_ups = admin_client_a.get(chosen.context["follow_ups_url"])
    assert follow_ups.status_code == 200
    assert f"organization__id__exact={org_a.pk}" in chosen.context["follow_ups_url"]


def test_another_organizations_staff_cannot_see_its_report(
    admin_client_for, staff_user_b, org_a, org_b
):
    answered_surveys(org_a, [10, 10], answered_at=WEDNESDAY)
    client_b = admin_client_for(staff_user_b)

    own = client_b.get(REPORT, **EN)
    forged = client_b.get(f"{REPORT}?organization={org_a.pk}", **EN)
    outsider = admin_client_for(UserFactory()).get(REPORT)

    assert own.context["organizations"] == [org_b]
    assert own.context["headline"] == "No answers"
    assert '<select name="organization"' not in own.content.decode()
    assert "Purea" not in own.content.decode()
    assert forged.status_code == 404
    assert outsider.status_code == 403


def test_a_viewer_reaches_the_report(admin_client_for, org_a):
    viewer = member(org_a, Role.VIEWER)
    answered_surveys(org_a, [9], answered_at=WEDNESDAY)

    response = admin_client_for(viewer).get(REPORT, **EN)

    assert response.status_code == 200
    assert response.context["headline"] == "NPS 100, 1 answer: too few for a margin of error"


def test_the_report_queries_do_not_grow_with_the_answers(
    admin_client_a, org_a, coffee, mug, django_assert_max_num_queries
):
    coffee_schema(org_a)
    answered_surveys(
        org_a,
        [3, 5, 9],
        answered_at=WEDNESDAY - timedelta(weeks=6),
        comments=["Bad", "Worse", ""],
        items=[(coffee, 1)],
    )
    admin_client_a.get(REPORT)

    with django_assert_max_num_queries(20) as few:
        admin_client_a.get(REPORT)
    for weeks_ago in (4, 2, 0):
        answered_surveys(
            org_a,
            [0, 4, 6, 7, 8, 10],
            answered_at=WEDNESDAY - timedelta(weeks=weeks_ago),
            comments=["A", "B", "C", "", "", ""],
            items=[(coffee, 1), (mug, 1)],
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_a.get(REPORT)

    assert response.context["nps"].answers == 21
    assert len(response.context["follow_ups"]) == 10
    assert "The 10 latest of 11 comments to follow up." in response.content.decode()


def test_numbers_follow_the_active_language():
    with translation.override("fr"):
        assert number(1234) == "1\u202f234" or number(1234) == "1\xa0234"
        assert nps_headline(Nps(1, 0, 3)).startswith("NPS -50, 4 ")
        assert nps_headline(Nps(2, 0, 6)).startswith("NPS -50 ± ")
    with translation.override("en"):
        assert number(1234) == "1,234"
        assert nps_headline(Nps(0, 0, 0)) == "No answers"
