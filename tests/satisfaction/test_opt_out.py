"""The opt-out link of a survey e-mail: a page to confirm, and mail clients' one-click POST."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from satisfaction.models import SatisfactionSurvey, SurveyOptOut
from tests.factories import answered_surveys

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(org_a):
    (answered,) = answered_surveys(org_a, [8], answered_at=timezone.now() - timedelta(days=1))
    return answered


def test_opening_the_link_asks_before_doing_anything(survey):
    response = Client().get(f"/s/{survey.token}/stop/")

    assert response.status_code == 200
    assert b"Send me no more surveys" in response.content
    assert not SurveyOptOut.objects.exists()


def test_a_one_click_post_without_a_cookie_opts_out(survey):
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/s/{survey.token}/stop/", data={"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert b"You will receive no more surveys" in response.content
    assert SurveyOptOut.objects.get().customer_id == survey.customer_id


def test_an_unknown_link_opts_nobody_out(survey):
    response = Client().post("/s/not-a-token/stop/")
    assert response.status_code == 404
    assert not SurveyOptOut.objects.exists()


def test_a_scheduled_surveys_token_is_not_a_key(org_a, survey):
    SatisfactionSurvey.objects.filter(pk=survey.pk).update(status="scheduled")
    assert Client().post(f"/s/{survey.token}/stop/").status_code == 404
    assert not SurveyOptOut.objects.exists()
