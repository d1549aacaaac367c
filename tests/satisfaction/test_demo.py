"""`load_demo`'s surveys: weeks of answers at Purea Café in every status, an NPS around +30,
one comment to follow up and one followed up with a case, built once."""

from datetime import timedelta
from itertools import pairwise

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import Organization
from fulfillment.models import Batch, Shipment
from returns.models import ReturnRequest
from satisfaction import selectors
from satisfaction.models import SatisfactionConfig, SatisfactionSurvey
from tests.helpers import load_demo

pytestmark = pytest.mark.django_db

S = SatisfactionSurvey.Status


def _snapshot():
    return (
        sorted(
            SatisfactionSurvey.objects.values_list(
                "pk", "status", "score", "comment", "followed_up_at", "return_request_id"
            )
        ),
        sorted(SatisfactionConfig.objects.values_list("organization_id", "enabled")),
        Batch.objects.count(),
        Shipment.objects.count(),
        ReturnRequest.objects.count(),
    )


@pytest.fixture
def demo(demo_once):
    """The demo, loaded once for this module: what it printed."""
    return demo_once


@pytest.fixture
def purea_surveys(demo):
    purea = Organization.objects.get(slug="purea-cafe")
    return SatisfactionSurvey.objects.filter(organization=purea).select_related("shipment")


def last_twelve_weeks():
    now = timezone.now()
    purea = Organization.objects.get(slug="purea-cafe")
    return {"organization": purea, "start": now - timedelta(weeks=12), "end": now}


def test_the_demo_turns_surveys_on_and_has_them_in_every_status(purea_surveys):
    now = timezone.now()
    surveys = purea_surveys

    assert Organization.objects.get(slug="purea-cafe").satisfaction_config.enabled
    statuses = set(surveys.values_list("status", flat=True))
    # Scheduled surveys are sent at beat's next pass: none is left waiting for it.
    assert statuses == {S.SENT, S.ANSWERED, S.EXPIRED, S.CANCELED}
    assert surveys.filter(status=S.EXPIRED).count() == 1
    assert surveys.get(status=S.CANCELED).canceled_reason
    waiting = surveys.filter(status=S.SENT)
    assert 1 <= waiting.count() <= 3
    assert all(survey.is_open(now) for survey in waiting)


def test_the_demo_has_an_nps_around_30_answered_week_after_week(demo):
    period = last_twelve_weeks()

    summary = selectors.nps_summary(**period)
    assert summary.nps.answers >= 12
    assert 10 <= summary.nps.score <= 50
    assert summary.nps.promoters > summary.nps.detractors >= 2
    weeks = selectors.nps_by_week(**period)
    assert sum(1 for _monday, nps in weeks if nps.answers) >= 5
    assert sum(selectors.score_distribution(**period)) == summary.nps.answers
    # Which roast did the detractors get? The boxes carry their subscribers' preferences.
    roasts = [row for row in selectors.nps_by_preference(**period) if row.group == "roast"]
    assert len(roasts) >= 2
    assert sum(row.nps.answers for row in roasts) >= summary.nps.answers // 2


def test_the_demo_surveys_are_sent_and_answered_as_the_services_would(purea_surveys):
    now = timezone.now()
    surveys = purea_surveys

    # Three days after delivery, answered while open.
    for survey in surveys.exclude(status=S.CANCELED):
        assert survey.shipment.status == Shipment.Status.DELIVERED
        assert survey.sent_at - survey.delivered_at >= timedelta(days=3)
        assert survey.expires_at == survey.sent_at + timedelta(days=14)
        if survey.answered_at:
            assert survey.sent_at < survey.answered_at < min(survey.expires_at, now)
    comments = [c for c in surveys.values_list("comment", flat=True) if c]
    assert len(comments) >= 8
    assert any("déchiré" in comment or "amère" in comment for comment in comments)


def test_the_latest_detractor_comment_waits_and_an_earlier_one_became_a_settled_case(
    purea_surveys,
):
    surveys = purea_surveys
    purea = Organization.objects.get(slug="purea-cafe")
    marie = get_user_model().objects.get(username="marie")

    (waiting_comment,) = selectors.surveys_to_follow_up(organization=purea)
    assert waiting_comment.score <= 6
    assert waiting_comment.comment
    followed = surveys.exclude(return_request=None)
    (with_case,) = followed
    assert (with_case.followed_up_by, with_case.score <= 6) == (marie, True)
    case = with_case.return_request
    assert (case.shipment_id, case.status) == (with_case.shipment_id, ReturnRequest.Status.RESOLVED)
    assert with_case.comment in case.description
    assert timedelta(0) < case.opened_at - with_case.answered_at < timedelta(days=2)
    assert surveys.filter(followed_up_at__isnull=False, return_request=None).exists()


def test_the_weeks_before_the_demos_batches_are_completed_batches_of_delivered_boxes(demo):
    purea = Organization.objects.get(slug="purea-cafe")

    # One batch a week, back to back, completed, every paid box delivered.
    batches = list(Batch.objects.filter(organization=purea).order_by("cutoff_at"))
    earlier = batches[:-4]
    assert len(earlier) >= 8
    assert {batch.status for batch in earlier} == {Batch.Status.COMPLETED}
    for older, newer in pairwise(batches):
        assert older.cutoff_at == newer.starts_at
    shipped = Shipment.objects.filter(batch__in=earlier)
    assert shipped.count() >= 20
    assert not shipped.exclude(status=Shipment.Status.DELIVERED).exists()
    assert not shipped.exclude(line__charge__status="paid").exists()


def test_the_demo_sends_no_email_now_and_says_what_it_made(demo, purea_surveys):
    summary = selectors.nps_summary(**last_twelve_weeks())
    purea = Organization.objects.get(slug="purea-cafe")
    earlier = list(Batch.objects.filter(organization=purea).order_by("cutoff_at"))[:-4]

    # The e-mails left weeks ago: nothing was sent now.
    assert not [m for m in demo.sent if "/s/" in m.body]
    line = next(line for line in demo.splitlines() if line.startswith("Demo satisfaction"))
    assert f"{purea_surveys.count()} for Purea Café" in line
    assert f"{summary.nps.answers} answered, NPS {summary.nps.score:+.0f}" in line
    assert "1 to follow up;" in line
    assert f"{Shipment.objects.filter(batch__in=earlier).count()} boxes of the weeks before" in line


def test_the_tea_house_has_no_surveys_and_has_not_turned_them_on(demo):
    tea = Organization.objects.get(slug="maison-du-the")

    assert not SatisfactionSurvey.objects.filter(organization=tea).exists()
    assert not SatisfactionConfig.objects.filter(organization=tea, enabled=True).exists()


def test_loading_the_demo_again_changes_no_survey(demo):
    before = _snapshot()

    second = load_demo()

    assert _snapshot() == before
    assert "Demo satisfaction" not in second
