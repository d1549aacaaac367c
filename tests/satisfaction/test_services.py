"""Surveys from delivery to answer: the delay, the cooling period, the rules that hold one back,
the e-mail, answering (and answering again), expiry, and following a detractor up."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import override_settings

from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from fulfillment import services as fulfillment
from returns import services as returns
from returns.models import ReturnRequest
from satisfaction import services, tasks
from satisfaction.models import CancelReason, SatisfactionConfig, SatisfactionSurvey
from subscriptions.models import Subscription
from tests.factories import (
    CustomerFactory,
    answered_surveys,
    delivered_boxes,
    satisfaction_on,
)

pytestmark = pytest.mark.django_db

S = SatisfactionSurvey.Status
PARIS = ZoneInfo("Europe/Paris")
DELIVERED = datetime(2026, 11, 2, 11, 0, tzinfo=PARIS)
LINK = re.compile(r"http://testserver\.example/s/([\w-]+)/")


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "http://testserver.example"


def run_beat(at):
    """What beat does at `at`: schedule, send, expire (the tasks, in this process)."""
    with time_machine.travel(at, tick=False):
        tasks.schedule_surveys()
        tasks.send_surveys()
        tasks.expire_surveys()


def surveys_of(customer):
    return list(SatisfactionSurvey.objects.filter(customer=customer).order_by("send_at"))


def sent_survey(org, *, delivered_at=DELIVERED, **config):
    satisfaction_on(org, **config)
    (shipment,) = delivered_boxes(org, delivered_at=delivered_at)
    run_beat(delivered_at + timedelta(days=3, minutes=1))
    return SatisfactionSurvey.objects.get(shipment=shipment)


# --- Acceptance: the delay, the cooling period, expiry -------------------------------


def test_a_delivery_gets_exactly_one_survey_once_the_delay_passed(org_a):
    satisfaction_on(org_a, delay_days=3)
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)

    run_beat(DELIVERED + timedelta(days=3) - timedelta(minutes=1))
    assert surveys_of(shipment.customer) == []
    assert mail.outbox == []

    run_beat(DELIVERED + timedelta(days=3, minutes=1))
    run_beat(DELIVERED + timedelta(days=3, minutes=20))
    run_beat(DELIVERED + timedelta(days=4))

    (survey,) = surveys_of(shipment.customer)
    assert survey.status == S.SENT
    assert survey.send_at == DELIVERED + timedelta(days=3)
    assert survey.sent_at == DELIVERED + timedelta(days=3, minutes=1)
    assert len(mail.outbox) == 1
    (message,) = mail.outbox
    assert message.to == [shipment.customer.email]
    assert set(LINK.findall(message.body)) == {survey.token}


def test_a_second_delivery_inside_the_cooling_period_gets_no_survey(org_a):
    satisfaction_on(org_a, delay_days=3, cooling_days=30)
    (first,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    run_beat(DELIVERED + timedelta(days=3, minutes=1))
    second_delivery = DELIVERED + timedelta(days=14)
    delivered_boxes(org_a, delivered_at=second_delivery, customer=first.customer)

    run_beat(second_delivery + timedelta(days=3, minutes=1))
    run_beat(second_delivery + timedelta(days=6))

    assert [survey.shipment_id for survey in surveys_of(first.customer)] == [first.pk]
    assert len(mail.outbox) == 1


def test_after_the_cooling_period_the_next_delivery_is_surveyed_again(org_a):
    satisfaction_on(org_a, delay_days=3, cooling_days=30)
    (first,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    run_beat(DELIVERED + timedelta(days=3, minutes=1))
    later = DELIVERED + timedelta(days=31)
    (second,) = delivered_boxes(org_a, delivered_at=later, customer=first.customer)

    run_beat(later + timedelta(days=3, minutes=1))

    assert [survey.shipment_id for survey in surveys_of(first.customer)] == [first.pk, second.pk]


def test_an_expired_survey_refuses_answers_and_keeps_nothing(org_a):
    survey = sent_survey(org_a, expiry_days=14)
    closes = survey.sent_at + timedelta(days=14)

    run_beat(closes + timedelta(minutes=1))
    survey.refresh_from_db()
    assert survey.status == S.EXPIRED

    with pytest.raises(services.SurveyClosed):
        services.survey_answer(token=survey.token, score=9, now=closes + timedelta(minutes=2))
    survey.refresh_from_db()
    assert (survey.status, survey.score, survey.answered_at) == (S.EXPIRED, None, None)


def test_an_answer_after_the_deadline_is_refused_even_before_beat_expires_it(org_a):
    survey = sent_survey(org_a, expiry_days=14)
    closes = survey.sent_at + timedelta(days=14)

    with pytest.raises(services.SurveyClosed):
        services.survey_answer(token=survey.token, score=3, now=closes)
    survey.refresh_from_db()
    assert (survey.status, survey.score) == (S.SENT, None)


# --- What holds a survey back -----------------------------------------------------------


def test_nothing_is_scheduled_while_surveys_are_off(org_a):
    delivered_boxes(org_a, delivered_at=DELIVERED)
    run_beat(DELIVERED + timedelta(days=4))
    assert not SatisfactionSurvey.objects.exists()
    assert mail.outbox == []


def test_deliveries_older_than_a_week_past_their_delay_are_never_surveyed(org_a):
    (old,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    satisfaction_on(org_a, delay_days=3)  # turned on long after
    run_beat(DELIVERED + timedelta(days=3 + 8))
    assert not SatisfactionSurvey.objects.filter(shipment=old).exists()


def test_a_canceled_subscription_gets_no_survey(org_a):
    satisfaction_on(org_a)
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    Subscription.objects.filter(pk=shipment.line.subscription_id).update(
        status=Subscription.Status.CANCELED
    )
    run_beat(DELIVERED + timedelta(days=4))
    assert surveys_of(shipment.customer) == []


def test_no_survey_while_the_customer_has_an_open_case_nor_about_a_returned_box(
    org_a, staff_user_a
):
    satisfaction_on(org_a)
    first, second = delivered_boxes(org_a, delivered_at=DELIVERED, count=2)
    case = returns.return_open(
        organization=org_a,
        shipment=first,
        reason="damaged",
        actor=Actor.for_user(staff_user_a),
        now=DELIVERED + timedelta(days=1),
    )

    run_beat(DELIVERED + timedelta(days=4))
    assert surveys_of(first.customer) == []
    assert len(surveys_of(second.customer)) == 1

    returns.return_cancel(case=case, actor=Actor.for_user(staff_user_a))
    run_beat(DELIVERED + timedelta(days=5))
    assert surveys_of(first.customer) == []  # that box had a case: it is never surveyed


def test_a_case_opened_between_scheduling_and_sending_cancels_the_survey(org_a, staff_user_a):
    satisfaction_on(org_a)
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    at = DELIVERED + timedelta(days=3, minutes=1)
    services.surveys_schedule_for(organization=org_a, now=at)
    returns.return_open(
        organization=org_a,
        shipment=shipment,
        reason="damaged",
        actor=Actor.for_user(staff_user_a),
        now=at,
    )

    assert services.surveys_send_due(now=at) == 0

    (survey,) = surveys_of(shipment.customer)
    assert survey.status == S.CANCELED
    assert survey.cancel_reason == CancelReason.AFTER_SALES
    assert mail.outbox == []


def test_two_deliveries_of_one_customer_due_in_the_same_run_give_one_survey(org_a):
    satisfaction_on(org_a, cooling_days=30)
    first, second = delivered_boxes(org_a, delivered_at=DELIVERED, count=2)
    # The second box is a second subscription of the same customer.
    Subscription.objects.filter(pk=second.line.subscription_id).update(customer=first.customer)
    type(second.line).objects.filter(pk=second.line_id).update(customer=first.customer)
    type(second).objects.filter(pk=second.pk).update(customer=first.customer)

    run_beat(DELIVERED + timedelta(days=4))

    assert len(surveys_of(first.customer)) == 1


def test_scheduling_twice_at_once_makes_one_survey_per_shipment(org_a):
    satisfaction_on(org_a)
    shipments = delivered_boxes(org_a, delivered_at=DELIVERED, count=3)
    at = DELIVERED + timedelta(days=4)
    assert services.surveys_schedule_for(organization=org_a, now=at) == 3
    assert services.surveys_schedule_for(organization=org_a, now=at) == 0
    assert SatisfactionSurvey.objects.filter(shipment__in=shipments).count() == 3


# --- The e-mail ---------------------------------------------------------------------------


def test_the_email_speaks_the_customers_language_with_a_link_per_score(org_a):
    satisfaction_on(org_a)
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    shipment.customer.language = "fr"
    shipment.customer.first_name = "Léa"
    shipment.customer.save()
    run_beat(DELIVERED + timedelta(days=4))

    (message,) = mail.outbox
    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    assert survey.language == "fr"
    assert message.subject == "Comment s\u2019est passée votre box Purea Café ?"
    assert message.body.startswith("Bonjour Léa,")
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    for score in range(11):
        assert f"/s/{survey.token}/?score={score}" in html
    assert "Purea Café" in html


def test_the_organizations_own_texts_and_sender_are_used(org_a):
    satisfaction_on(
        org_a,
        from_email="bonjour@purea.example",
        email_subject_en="{first_name}, a word about your coffee?",
        email_body_en="Hi {first_name}!\n\nTell {organization}: {link}",
    )
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    customer = shipment.customer
    customer.language, customer.first_name = "en", ""
    customer.save()
    run_beat(DELIVERED + timedelta(days=4))

    (message,) = mail.outbox
    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    assert message.from_email == "bonjour@purea.example"
    assert message.subject == ", a word about your coffee?"
    assert message.body.startswith(
        f"Hi!\n\nTell Purea Café: http://testserver.example/s/{survey.token}/\n"
    )


def test_texts_with_unknown_placeholders_or_no_link_are_refused(org_a):
    config = satisfaction_on(org_a)
    config.email_body_fr = "Bonjour {prenom}"
    with pytest.raises(ValidationError) as error:
        config.full_clean()
    messages = error.value.message_dict["email_body_fr"]
    assert any("{prenom}" in message for message in messages)
    assert any("{link}" in message for message in messages)


@override_settings(EMAIL_BACKEND="tests.satisfaction.failing_mail.Backend")
def test_a_failing_mail_server_leaves_the_survey_scheduled_then_gives_up(org_a):
    satisfaction_on(org_a)
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    at = DELIVERED + timedelta(days=3, minutes=1)
    services.surveys_schedule_for(organization=org_a, now=at)

    assert services.surveys_send_due(now=at) == 0
    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    assert (survey.status, survey.send_attempts) == (S.SCHEDULED, 1)
    assert "refused" in survey.last_error

    for minutes in range(2, 6):
        services.surveys_send_due(now=at + timedelta(minutes=minutes))
    survey.refresh_from_db()
    assert (survey.status, survey.send_attempts) == (S.CANCELED, 5)
    assert survey.cancel_reason == CancelReason.EMAIL_FAILED


def test_turning_surveys_off_cancels_the_scheduled_ones(org_a):
    config = satisfaction_on(org_a)
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    at = DELIVERED + timedelta(days=4)
    services.surveys_schedule_for(organization=org_a, now=at)
    config.enabled = False
    config.save()

    services.surveys_send_due(now=at)

    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    assert (survey.status, survey.cancel_reason) == (S.CANCELED, CancelReason.TURNED_OFF)
    assert mail.outbox == []


# --- Answering -------------------------------------------------------------------------------


def test_answering_again_changes_the_answer_until_expiry(org_a):
    survey = sent_survey(org_a)
    first = survey.sent_at + timedelta(hours=2)
    services.survey_answer(token=survey.token, score=4, comment="Too bitter", now=first)
    services.survey_answer(
        token=survey.token,
        score=8,
        comment="  Better after a second try  ",
        now=first + timedelta(days=1),
    )

    survey.refresh_from_db()
    assert (survey.status, survey.score, survey.comment) == (
        S.ANSWERED,
        8,
        "Better after a second try",
    )
    assert survey.answered_at == first
    assert survey.answer_changed_at == first + timedelta(days=1)


@pytest.mark.parametrize("score", [-1, 11, 7.5, "", "ten", None, True])
def test_a_score_outside_0_to_10_is_refused_and_changes_nothing(org_a, score):
    survey = sent_survey(org_a)
    with pytest.raises(ApplicationError) as error:
        services.survey_answer(token=survey.token, score=score, now=survey.sent_at)
    assert "score" in error.value.extra["fields"]
    survey.refresh_from_db()
    assert (survey.status, survey.score) == (S.SENT, None)


def test_a_comment_too_long_is_refused(org_a):
    survey = sent_survey(org_a)
    with pytest.raises(ApplicationError) as error:
        services.survey_answer(token=survey.token, score=5, comment="x" * 2001, now=survey.sent_at)
    assert "comment" in error.value.extra["fields"]
    survey.refresh_from_db()
    assert survey.score is None


@pytest.mark.parametrize("token", ["", "nope", "x" * 65, None])
def test_an_unknown_token_is_not_found(org_a, token):
    sent_survey(org_a)
    with pytest.raises(services.SurveyNotFound):
        services.survey_answer(token=token, score=9)


def test_a_scheduled_survey_cannot_be_answered_before_it_is_sent(org_a):
    satisfaction_on(org_a)
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    services.surveys_schedule_for(organization=org_a, now=DELIVERED + timedelta(days=4))
    survey = SatisfactionSurvey.objects.get(shipment=shipment)
    with pytest.raises(services.SurveyNotFound):
        services.survey_answer(token=survey.token, score=9)


def test_tokens_are_long_random_and_distinct(org_a):
    satisfaction_on(org_a)
    delivered_boxes(org_a, delivered_at=DELIVERED, count=5)
    services.surveys_schedule_for(organization=org_a, now=DELIVERED + timedelta(days=4))
    tokens = list(SatisfactionSurvey.objects.values_list("token", flat=True))
    assert len(set(tokens)) == 5
    assert all(len(token) >= 43 and re.fullmatch(r"[\w-]+", token) for token in tokens)


# --- Staff: cancel, follow up, open a case --------------------------------------------------


def test_staff_cancel_a_scheduled_survey_but_not_a_sent_one(org_a, staff_user_a):
    satisfaction_on(org_a)
    first, second = delivered_boxes(org_a, delivered_at=DELIVERED, count=2)
    services.surveys_schedule_for(organization=org_a, now=DELIVERED + timedelta(days=4))
    scheduled = SatisfactionSurvey.objects.get(shipment=first)
    services.survey_cancel(
        survey=scheduled, actor=Actor.for_user(staff_user_a), reason="VIP, asked not to"
    )
    scheduled.refresh_from_db()
    assert (scheduled.status, scheduled.cancel_reason, scheduled.canceled_note) == (
        S.CANCELED,
        CancelReason.BY_HAND,
        "VIP, asked not to",
    )

    sent = SatisfactionSurvey.objects.get(shipment=second)
    services.survey_send(survey_id=sent.pk, now=DELIVERED + timedelta(days=4))
    with pytest.raises(ConflictError):
        services.survey_cancel(survey=sent, actor=Actor.for_user(staff_user_a))
    sent.refresh_from_db()
    assert sent.status == S.SENT


def test_a_detractor_comment_opens_an_after_sales_case_in_one_call(org_a, staff_user_a):
    answered_at = DELIVERED + timedelta(days=5)
    (survey,) = answered_surveys(org_a, [2], comments=["The bag was torn"], answered_at=answered_at)
    assert survey.needs_follow_up

    opened_at = DELIVERED + timedelta(days=16)  # the 14-day return window closed
    assert services.survey_may_open_case(survey)
    case = services.survey_open_case(
        survey=survey, actor=Actor.for_user(staff_user_a), now=opened_at
    )

    survey.refresh_from_db()
    assert survey.return_request == case
    assert survey.followed_up_by == staff_user_a
    assert not survey.needs_follow_up
    assert case.status == ReturnRequest.Status.REQUESTED
    assert case.shipment_id == survey.shipment_id
    assert case.reason.code == "other"
    assert "2/10" in case.description
    assert "The bag was torn" in case.description
    assert str(survey.pk) in case.window_override

    assert not services.survey_may_open_case(survey)
    with pytest.raises(ConflictError):
        services.survey_open_case(survey=survey, actor=Actor.for_user(staff_user_a))
    assert ReturnRequest.objects.filter(shipment=survey.shipment).count() == 1


def test_a_survey_not_answered_cannot_be_followed_up(org_a, staff_user_a):
    survey = sent_survey(org_a)
    assert not services.survey_may_open_case(survey)
    assert not services.survey_may_mark_followed_up(survey)
    with pytest.raises(ConflictError):
        services.survey_open_case(survey=survey, actor=Actor.for_user(staff_user_a))
    with pytest.raises(ConflictError):
        services.survey_mark_followed_up(survey=survey, actor=Actor.for_user(staff_user_a))
    assert not ReturnRequest.objects.exists()


def test_marking_followed_up_clears_the_flag_once(org_a, staff_user_a):
    (survey,) = answered_surveys(
        org_a, [0], comments=["Never arrived"], answered_at=DELIVERED + timedelta(days=6)
    )
    at = DELIVERED + timedelta(days=7)
    assert services.survey_may_mark_followed_up(survey)
    services.survey_mark_followed_up(survey=survey, actor=Actor.for_user(staff_user_a), now=at)
    services.survey_mark_followed_up(
        survey=survey, actor=Actor.system(), now=at + timedelta(days=1)
    )
    survey.refresh_from_db()
    assert (survey.followed_up_at, survey.followed_up_by) == (at, staff_user_a)
    assert not survey.needs_follow_up
    assert not services.survey_may_mark_followed_up(survey)


def test_settings_are_created_once_for_the_organizations_without_them(org_a, org_b):
    services.satisfaction_config_ensure(organization=org_a)

    services.satisfaction_configs_ensure(organization_ids=[org_a.pk, org_b.pk])
    services.satisfaction_configs_ensure(organization_ids=[org_a.pk, org_b.pk])

    assert SatisfactionConfig.objects.filter(organization__in=[org_a, org_b]).count() == 2


def test_a_passive_or_silent_detractor_needs_no_follow_up(org_a):
    passive, silent, vocal = answered_surveys(
        org_a, [7, 3, 6], comments=["meh", "", "cold"], answered_at=DELIVERED + timedelta(days=6)
    )
    assert [passive.needs_follow_up, silent.needs_follow_up, vocal.needs_follow_up] == [
        False,
        False,
        True,
    ]


def test_a_customer_of_another_organization_has_no_say(org_a, org_b):
    """Scheduling one organization never touches another's deliveries."""
    satisfaction_on(org_a)
    (other,) = delivered_boxes(org_b, delivered_at=DELIVERED)
    CustomerFactory(organization=org_a)
    run_beat(DELIVERED + timedelta(days=4))
    assert not SatisfactionSurvey.objects.filter(shipment=other).exists()


def test_a_returned_shipment_is_not_surveyed(org_a):
    satisfaction_on(org_a)
    (shipment,) = delivered_boxes(org_a, delivered_at=DELIVERED)
    fulfillment.shipment_transition(
        shipment=shipment, action="mark_returned", actor=Actor.system(), at=DELIVERED
    )
    run_beat(DELIVERED + timedelta(days=4))
    assert not SatisfactionSurvey.objects.exists()


# --- Opting out ------------------------------------------------------------------------------


def test_the_email_offers_one_click_opt_out(org_a):
    survey = sent_survey(org_a)
    (message,) = mail.outbox
    url = f"http://testserver.example/s/{survey.token}/stop/"
    assert message.extra_headers["List-Unsubscribe"] == f"<{url}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.body.endswith(url)


def test_a_customer_who_opted_out_gets_no_more_surveys(org_a):
    survey = sent_survey(org_a, cooling_days=0)
    customer = survey.customer
    services.survey_opt_out(token=survey.token)
    services.survey_opt_out(token=survey.token)  # twice: one opt-out
    # The survey already sent can still be answered.
    services.survey_answer(token=survey.token, score=8, now=survey.sent_at + timedelta(days=1))

    later = DELIVERED + timedelta(days=14)
    delivered_boxes(org_a, delivered_at=later, customer=customer)
    run_beat(later + timedelta(days=4))

    assert [s.pk for s in surveys_of(customer)] == [survey.pk]
    assert customer.survey_opt_out.organization_id == org_a.pk


def test_opting_out_cancels_the_surveys_not_sent_yet(org_a):
    first = sent_survey(org_a, cooling_days=0)
    later = DELIVERED + timedelta(days=14)
    (second_box,) = delivered_boxes(org_a, delivered_at=later, customer=first.customer)
    services.surveys_schedule_for(organization=org_a, now=later + timedelta(days=4))
    pending = SatisfactionSurvey.objects.get(shipment=second_box)

    services.survey_opt_out(token=first.token)

    pending.refresh_from_db()
    assert pending.status == S.CANCELED
    assert pending.cancel_reason == CancelReason.OPTED_OUT


def test_the_settings_are_set_by_their_service(org_a):
    services.satisfaction_config_ensure(organization=org_a)
    body = "Bonjour {first_name}, votre avis : {link}"

    config = services.satisfaction_config_update(
        organization=org_a, enabled=True, delay_days=5, email_body_fr=body
    )

    config.refresh_from_db()
    assert (config.enabled, config.delay_days, config.email_body_fr) == (True, 5, body)


def test_a_text_the_model_refuses_is_refused_on_its_field_and_changes_nothing(org_a):
    with pytest.raises(ApplicationError) as refused:
        services.satisfaction_config_update(
            organization=org_a, enabled=True, email_body_en="Hello {first_name}, tell us!"
        )

    assert list(refused.value.extra["fields"]) == ["email_body_en"]
    assert "The text must hold {link}" in " ".join(refused.value.extra["fields"]["email_body_en"])
    assert not SatisfactionConfig.objects.filter(organization=org_a, enabled=True).exists()
