"""Acceptance, in a real browser: a customer answers a survey from its link, and the
organization's staff find the answer in the admin's list of surveys.

Headless Chromium (Debian's) on the live server; a screenshot per step in the
folder printed at the end of the run (see tests/browser.py).
"""

from datetime import timedelta

from django.utils import timezone

from satisfaction import services
from satisfaction.models import SatisfactionSurvey
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    UserFactory,
    answered_surveys,
    delivered_boxes,
    satisfaction_on,
)

#: One Chromium for this module's tests (tests/browser.py); each test has its own page.
BROWSER_SCOPE = "module"

COMMENT = "Mouture parfaite, merci !"
SURVEYS = "/admin/satisfaction/satisfactionsurvey/"


def sent_survey(organization) -> SatisfactionSurvey:
    """Camille's survey about the box delivered four days ago, e-mailed now."""
    now = timezone.now()
    satisfaction_on(organization, delay_days=3)
    customer = CustomerFactory(
        organization=organization, first_name="Camille", last_name="Martin", language="fr"
    )
    (shipment,) = delivered_boxes(
        organization, delivered_at=now - timedelta(days=4), customer=customer
    )
    services.surveys_schedule_for(organization=organization, now=now)
    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    services.survey_send(survey_id=survey.pk, now=now)
    survey.refresh_from_db()
    assert survey.status == SatisfactionSurvey.Status.SENT
    return survey


def test_a_customer_answers_and_the_staff_see_the_answer_in_the_admin(
    page, screenshots, org_a, org_b
):
    # Given Camille's survey, e-mailed, and Claire of the same roaster
    survey = sent_survey(org_a)
    staff_member(org_a, "claire")
    # ...and another roaster's answer Claire must not see
    elsewhere = other_roasters_answer(org_b)

    # When Camille opens the link from the e-mail
    page.goto(f"/s/{survey.token}/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Camille" in page.locator("h1").inner_text()
    scores = page.locator(".scores label")
    assert scores.count() == 11
    screenshots(page, "survey")

    # ...clicks 9, says why and sends
    page.click('label[for="score-9"]')
    assert page.is_checked("#score-9")
    assert page.locator("input[name=score]:checked").count() == 1
    _assert_in_one_row(scores)
    _assert_highlighted(page, "score-9", "score-8")
    page.fill("#id_comment", COMMENT)
    screenshots(page, "score-9-and-comment")
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.click("button[type=submit]")
    if posted.value.status != 302:
        screenshots(page, "refused")
    assert posted.value.status == 302, posted.value.status

    # Then she is thanked by her first name, and the answer is kept
    page.wait_for_url(f"**/s/{survey.token}/thanks/")
    assert "Camille" in page.locator("h1").inner_text()
    screenshots(page, "thanks")
    survey.refresh_from_db()
    assert (survey.status, survey.score, survey.comment) == ("answered", 9, COMMENT)

    # When Claire logs into the admin and opens the surveys, she finds the answer
    staff_find_the_answer(page, screenshots, "claire", survey, hidden=elsewhere)


def test_the_staff_see_an_answer_in_the_admins_list_of_surveys(page, screenshots, org_a, org_b):
    """The admin half of the acceptance test, on an answer given through the service."""
    survey = sent_survey(org_a)
    survey = services.survey_answer(token=survey.token, score=9, comment=COMMENT)
    staff_member(org_a, "claire")
    elsewhere = other_roasters_answer(org_b)

    staff_find_the_answer(page, screenshots, "claire", survey, hidden=elsewhere)


def staff_member(organization, username):
    user = UserFactory(username=username)  # password "password"
    MembershipFactory(user=user, organization=organization, role="staff")
    return user


def other_roasters_answer(organization) -> SatisfactionSurvey:
    (survey,) = answered_surveys(
        organization,
        [9],
        answered_at=timezone.now() - timedelta(days=1),
        comments=["Thé délicieux"],
    )
    return survey


def staff_find_the_answer(page, screenshots, username, survey, *, hidden) -> None:
    """Log in at /admin/login/, open the surveys: the answer's score and comment in one row."""
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(lambda url: "/admin/login/" not in url)
    screenshots(page, "admin-home")

    response = page.goto(SURVEYS)
    screenshots(page, "admin-surveys")

    assert response.status == 200, page.content()[:3000]
    row = page.locator("#result_list tbody tr", has_text=survey.comment)
    assert row.count() == 1, page.locator("#content").inner_text()[:2000]
    assert row.locator("td[class*=score]").inner_text().strip().startswith(str(survey.score))
    assert survey.customer.first_name in row.inner_text()
    # ...and nothing of another organization's
    assert hidden.comment not in page.locator("#content").inner_text()


def _assert_in_one_row(labels) -> None:
    """The eleven score buttons stand side by side on a wide screen."""
    boxes = [labels.nth(index).bounding_box() for index in range(labels.count())]
    tops = {round(box["y"]) for box in boxes}
    assert len(tops) == 1, tops
    lefts = [box["x"] for box in boxes]
    assert lefts == sorted(lefts)


def _assert_highlighted(page, selected: str, other: str) -> None:
    """The chosen score looks different from the others (filled with the accent colour)."""

    def background(score_id):
        return page.eval_on_selector(
            f'label[for="{score_id}"]', "label => getComputedStyle(label).backgroundColor"
        )

    assert background(selected) != background(other)


def test_on_a_phone_the_scores_fit_the_screen(page, screenshots, org_a):
    survey = sent_survey(org_a)
    width = 375
    page.set_viewport_size({"width": width, "height": 740})

    page.goto(f"/s/{survey.token}/")
    page.click('label[for="score-10"]')
    screenshots(page, "phone")

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.is_checked("#score-10")
    _assert_highlighted(page, "score-10", "score-9")
