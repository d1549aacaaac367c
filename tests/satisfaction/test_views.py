"""The public survey page: what the customer sees, what an answer does, and what is refused.

Texts are compared in the page's language (`said`), so the tests hold once the
French translation exists.
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from core.actors import Actor
from satisfaction import services
from satisfaction.models import SatisfactionSurvey
from tests.factories import CustomerFactory, delivered_boxes, satisfaction_on

pytestmark = pytest.mark.django_db

S = SatisfactionSurvey.Status
CHECKED = re.compile(r'<input type="radio" name="score" id="score-(\d+)" value="\d+" checked>')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def survey_for(organization, *, language="fr", send=True, **customer_fields):
    """A survey of a box delivered four days ago (real time), e-mailed now unless not `send`."""
    now = timezone.now()
    satisfaction_on(organization, delay_days=3, expiry_days=14)
    customer = CustomerFactory(organization=organization, language=language, **customer_fields)
    (shipment,) = delivered_boxes(
        organization, delivered_at=now - timedelta(days=4), customer=customer
    )
    services.surveys_schedule_for(organization=organization, now=now)
    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    if send:
        services.survey_send(survey_id=survey.pk, now=now)
        survey.refresh_from_db()
    return survey


@pytest.fixture
def survey(org_a):
    return survey_for(
        org_a,
        first_name="Camille",
        last_name="Vandermeersch",
        email="camille.vdm@example.fr",
    )


def page_url(survey, **query):
    url = reverse("satisfaction:survey", args=[survey.token])
    return url + (f"?score={query['score']}" if "score" in query else "")


def html(response) -> str:
    return response.content.decode()


def said(response, message: str, **values) -> bool:
    """Whether the page shows `message` (a msgid) as translated into the page's language."""
    with translation.override(response["Content-Language"]):
        text = gettext(message) % values if values else gettext(message)
    return escape(text) in html(response)


def checked(response) -> list[int]:
    return [int(score) for score in CHECKED.findall(html(response))]


def unchanged(survey) -> tuple:
    return SatisfactionSurvey.objects.values_list(
        "status", "score", "comment", "answered_at", "answer_changed_at", "updated_at"
    ).get(pk=survey.pk)


# --- The page ---------------------------------------------------------------------------


def test_the_page_greets_the_customer_by_first_name_and_shows_nothing_else_about_them(
    client, survey
):
    response = client.get(page_url(survey))

    assert response.status_code == 200
    page = html(response)
    assert "Purea Café" in page
    assert "Camille" in page
    customer = survey.customer
    address = customer.addresses.get()
    for private in (
        customer.last_name,
        customer.email,
        address.line1,
        address.postcode,
        address.name,
    ):
        assert private not in page, private
    assert said(response, "Send my answer")


def test_the_page_speaks_the_customers_language_whatever_the_browser_says(client, org_a, survey):
    english = survey_for(org_a, language="en", first_name="Olivia")

    french_page = client.get(page_url(survey), HTTP_ACCEPT_LANGUAGE="en")
    english_page = client.get(page_url(english), HTTP_ACCEPT_LANGUAGE="fr")

    assert '<html lang="fr">' in html(french_page)
    assert french_page["Content-Language"] == "fr"
    assert '<html lang="en">' in html(english_page)
    assert english_page["Content-Language"] == "en"
    for response, each in ((french_page, survey), (english_page, english)):
        with translation.override(each.language):
            question = services.survey_question(each)
        assert escape(question) in html(response)
        assert "Purea Café" in question


def test_a_score_from_the_email_is_preselected_and_nothing_is_written(client, survey):
    before = unchanged(survey)

    response = client.get(page_url(survey, score=7))

    assert response.status_code == 200
    assert checked(response) == [7]
    assert unchanged(survey) == before
    assert (before[0], before[1]) == (S.SENT, None)


@pytest.mark.parametrize("score", ["11", "-1", "abc", ""])
def test_a_score_link_out_of_range_preselects_nothing(client, survey, score):
    response = client.get(page_url(survey) + f"?score={score}")

    assert response.status_code == 200
    assert checked(response) == []


def test_the_page_is_neither_indexed_nor_cached_nor_leaks_its_link(client, survey):
    for url in (page_url(survey), reverse("satisfaction:survey", args=["no-such-token"])):
        response = client.get(url)

        assert response["X-Robots-Tag"] == "noindex, nofollow"
        # The link (its token) is never sent to another site.
        assert response["Referrer-Policy"] in ("no-referrer", "same-origin")
        assert "no-store" in response["Cache-Control"]
        assert '<meta name="robots" content="noindex, nofollow">' in html(response)


# --- Answering --------------------------------------------------------------------------


def test_an_answer_is_saved_and_the_customer_thanked_by_first_name(client, survey):
    response = client.post(page_url(survey), {"score": "9", "comment": "  Très bon café !  "})

    thanks = reverse("satisfaction:thanks", args=[survey.token])
    assert response.status_code == 302
    assert response["Location"] == thanks
    survey.refresh_from_db()
    assert (survey.status, survey.score, survey.comment) == (S.ANSWERED, 9, "Très bon café !")
    assert survey.answered_at is not None
    assert survey.answer_changed_at is None

    page = client.get(thanks)
    assert page.status_code == 200
    assert page["Content-Language"] == "fr"
    assert said(page, "Thank you, %(first_name)s!", first_name="Camille")
    assert "Vandermeersch" not in html(page)


def test_answering_again_changes_the_answer_and_keeps_the_first_answers_time(client, survey):
    client.post(page_url(survey), {"score": "9", "comment": "Parfait"})
    survey.refresh_from_db()
    first_answered_at = survey.answered_at

    again = client.get(page_url(survey))
    assert checked(again) == [9]  # the page shows the answer given
    assert "Parfait" in html(again)
    assert said(again, "You already answered; you may change your answer.")

    response = client.post(page_url(survey), {"score": "4", "comment": "Finalement trop amer"})

    assert response.status_code == 302
    survey.refresh_from_db()
    assert (survey.status, survey.score, survey.comment) == (
        S.ANSWERED,
        4,
        "Finalement trop amer",
    )
    assert survey.answered_at == first_answered_at
    assert survey.answer_changed_at > first_answered_at


@pytest.mark.parametrize(
    "data",
    [{"comment": "Pas de note"}, {"score": "11"}, {"score": "abc"}, {"score": "-1"}],
    ids=["no-score", "eleven", "letters", "negative"],
)
def test_an_answer_without_a_valid_score_is_refused_with_the_reason(client, survey, data):
    before = unchanged(survey)

    response = client.post(page_url(survey), data)

    assert response.status_code == 400
    assert said(response, "Pick a score from 0 to 10.") or said(
        response,
        "Select a valid choice. %(value)s is not one of the available choices.",
        value=data.get("score"),
    )
    assert unchanged(survey) == before


def test_an_answer_without_a_score_says_to_pick_one(client, survey):
    response = client.post(page_url(survey), {"comment": "Pas de note"})

    assert response.status_code == 400
    assert said(response, "Pick a score from 0 to 10.")
    assert "Pas de note" in html(response)  # what was typed is kept


def test_a_comment_over_2000_characters_is_refused(client, survey):
    before = unchanged(survey)

    response = client.post(page_url(survey), {"score": "8", "comment": "x" * 2001})

    assert response.status_code == 400
    assert '<ul class="errors">' in html(response)
    assert unchanged(survey) == before

    accepted = client.post(page_url(survey), {"score": "8", "comment": "x" * 2000})
    assert accepted.status_code == 302


def test_the_form_works_with_csrf_checks_when_its_token_is_posted(survey):
    client = Client(enforce_csrf_checks=True)
    before = unchanged(survey)

    refused = client.post(page_url(survey), {"score": "6"})
    assert refused.status_code == 403
    assert unchanged(survey) == before

    form = client.get(page_url(survey))
    (token,) = CSRF_INPUT.findall(html(form))
    response = client.post(page_url(survey), {"score": "6", "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    survey.refresh_from_db()
    assert (survey.status, survey.score) == (S.ANSWERED, 6)


def _origin_a_browser_sends(referrer_policy: str, origin: str) -> str:
    """The `Origin` header of a same-origin form POST (Fetch spec, "serialize a request origin")."""
    return "null" if referrer_policy == "no-referrer" else origin


def test_the_answer_a_browser_posts_passes_the_csrf_origin_check(survey):
    client = Client(enforce_csrf_checks=True)
    form = client.get(page_url(survey))
    (token,) = CSRF_INPUT.findall(html(form))
    origin = _origin_a_browser_sends(form["Referrer-Policy"], "http://testserver")

    response = client.post(
        page_url(survey), {"score": "6", "csrfmiddlewaretoken": token}, HTTP_ORIGIN=origin
    )

    assert response.status_code == 302
    survey.refresh_from_db()
    assert survey.score == 6


# --- Links that do not work (any more) ---------------------------------------------------


def test_an_unknown_link_is_a_polite_404(client, survey):
    for token in ("no-such-token", survey.token[:-1], "x" * 65):
        response = client.get(reverse("satisfaction:survey", args=[token]))

        assert response.status_code == 404
        assert said(response, "This link does not work")
        assert "Purea Café" not in html(response)
    assert client.post(reverse("satisfaction:survey", args=["nope"]), {"score": 9}).status_code == (
        404
    )


def test_a_survey_not_sent_yet_is_unknown_to_its_link(client, org_a):
    scheduled = survey_for(org_a, send=False)
    assert scheduled.status == S.SCHEDULED

    for response in (
        client.get(page_url(scheduled)),
        client.post(page_url(scheduled), {"score": "9"}),
        client.get(reverse("satisfaction:thanks", args=[scheduled.token])),
    ):
        assert response.status_code == 404
        assert said(response, "This link does not work")
    scheduled.refresh_from_db()
    assert (scheduled.status, scheduled.score) == (S.SCHEDULED, None)


def test_an_expired_survey_is_a_polite_410_and_an_answer_to_it_changes_nothing(client, survey):
    services.surveys_expire(now=survey.expires_at)
    before = unchanged(survey)
    assert before[0] == S.EXPIRED

    shown = client.get(page_url(survey))
    posted = client.post(page_url(survey), {"score": "10", "comment": "Trop tard ?"})

    for response in (shown, posted):
        assert response.status_code == 410
        assert said(response, "This survey is closed")
        assert "Purea Café" in html(response)
        assert response["Content-Language"] == "fr"
    assert unchanged(survey) == before


def test_a_canceled_survey_is_a_polite_410(client, org_a, staff_user_a):
    scheduled = survey_for(org_a, send=False)
    services.survey_cancel(survey=scheduled, actor=Actor.for_user(staff_user_a), reason="Doublon")
    before = unchanged(scheduled)

    shown = client.get(page_url(scheduled))
    posted = client.post(page_url(scheduled), {"score": "2"})

    assert (shown.status_code, posted.status_code) == (410, 410)
    assert said(posted, "This survey is closed")
    assert unchanged(scheduled) == before


def test_a_survey_past_its_deadline_is_closed_even_before_beat_expires_it(client, survey):
    SatisfactionSurvey.objects.filter(pk=survey.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    before = unchanged(survey)

    response = client.post(page_url(survey), {"score": "5"})

    assert response.status_code == 410
    assert unchanged(survey) == before
    assert before[0] == S.SENT
