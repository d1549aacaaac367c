"""The opt-out link of a survey e-mail: a page to confirm, and mail clients' one-click POST."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from satisfaction import services
from satisfaction.models import SatisfactionSurvey, SurveyOptOut
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    answered_surveys,
    delivered_boxes,
    satisfaction_on,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(org_a):
    (answered,) = answered_surveys(org_a, [8], answered_at=timezone.now() - timedelta(days=1))
    return answered


def test_opening_the_link_asks_before_doing_anything(survey):
    response = Client().get(f"/s/{survey.token}/stop/")

    assert response.status_code == 200
    # In the customer's language (French by default).
    assert "Ne plus m\u2019envoyer de questionnaires" in response.content.decode()
    assert not SurveyOptOut.objects.exists()


def test_a_one_click_post_without_a_cookie_opts_out(survey):
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/s/{survey.token}/stop/", data={"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert "Vous ne recevrez plus de questionnaires" in response.content.decode()
    assert SurveyOptOut.objects.get().customer_id == survey.customer_id


def test_an_unknown_link_opts_nobody_out(survey):
    response = Client().post("/s/not-a-token/stop/")
    assert response.status_code == 404
    assert not SurveyOptOut.objects.exists()


def test_a_scheduled_surveys_token_is_not_a_key(org_a, survey):
    SatisfactionSurvey.objects.filter(pk=survey.pk).update(status="scheduled")
    assert Client().post(f"/s/{survey.token}/stop/").status_code == 404
    assert not SurveyOptOut.objects.exists()


# --- Staff, when a customer asks on the phone ------------------------------------------------

ADD_URL = "/admin/satisfaction/surveyoptout/add/"


def test_staff_add_an_opt_out_and_the_pending_survey_is_canceled(
    org_a, staff_user_a, admin_client_for
):
    satisfaction_on(org_a)
    (shipment,) = delivered_boxes(org_a, delivered_at=timezone.now() - timedelta(days=4))
    services.surveys_schedule_for(organization=org_a)
    pending = SatisfactionSurvey.objects.get(shipment=shipment)

    response = admin_client_for(staff_user_a).post(ADD_URL, {"customer": shipment.customer_id})

    assert response.status_code == 302
    opt_out = SurveyOptOut.objects.get()
    assert (opt_out.customer_id, opt_out.organization_id) == (shipment.customer_id, org_a.pk)
    pending.refresh_from_db()
    assert pending.status == SatisfactionSurvey.Status.CANCELED


def test_another_organizations_customer_cannot_be_opted_out(org_a, staff_user_b, admin_client_for):
    customer = CustomerFactory(organization=org_a)

    response = admin_client_for(staff_user_b).post(ADD_URL, {"customer": customer.pk})

    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["customer"]
    assert not SurveyOptOut.objects.exists()


def test_the_list_shows_only_the_organizations_opt_outs(
    org_a, org_b, staff_user_b, admin_client_for, survey
):
    services.survey_opt_out(token=survey.token)
    response = admin_client_for(staff_user_b).get("/admin/satisfaction/surveyoptout/")
    assert response.status_code == 200
    assert survey.customer.email not in response.content.decode()


def test_an_administrator_deletes_an_opt_out_to_resume_surveys(
    org_a, staff_user_a, admin_client_for, survey
):
    opt_out = services.survey_opt_out(token=survey.token)
    url = f"/admin/satisfaction/surveyoptout/{opt_out.pk}/delete/"
    administrator = MembershipFactory(organization=org_a, role="admin").user

    assert admin_client_for(staff_user_a).post(url, {"post": "yes"}).status_code == 403
    assert admin_client_for(administrator).post(url, {"post": "yes"}).status_code == 302
    assert not SurveyOptOut.objects.exists()


def test_opting_a_customer_back_in_removes_only_their_opt_out(org_a, survey):
    opt_out = services.survey_opt_out(token=survey.token)
    other = services.customer_opt_out(customer=CustomerFactory(organization=org_a))

    removed = services.customers_opt_in(opt_outs=[opt_out])

    assert removed == 1
    assert list(SurveyOptOut.objects.all()) == [other]
