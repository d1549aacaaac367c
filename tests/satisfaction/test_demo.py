"""`load_demo`'s surveys: weeks of answers at Purea Café in every status, an NPS around +30,
one comment to follow up and one followed up with a case, built once."""

from datetime import timedelta
from itertools import pairwise

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
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


def test_the_demo_has_weeks_of_answers_in_every_status_and_loads_once():
    output = load_demo()
    now = timezone.now()
    purea = Organization.objects.get(slug="purea-cafe")
    marie = get_user_model().objects.get(username="marie")
    surveys = SatisfactionSurvey.objects.filter(organization=purea).select_related("shipment")

    assert purea.satisfaction_config.enabled
    statuses = set(surveys.values_list("status", flat=True))
    # Scheduled surveys are sent at beat's next pass: none is left waiting for it.
    assert statuses == {S.SENT, S.ANSWERED, S.EXPIRED, S.CANCELED}
    assert surveys.filter(status=S.EXPIRED).count() == 1
    assert surveys.get(status=S.CANCELED).canceled_reason
    waiting = surveys.filter(status=S.SENT)
    assert 1 <= waiting.count() <= 3
    assert all(survey.is_open(now) for survey in waiting)

    # An NPS around +30 over the last twelve weeks, answered week after week.
    period = {"organization": purea, "start": now - timedelta(weeks=12), "end": now}
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

    # As the services would have done it: three days after delivery, answered while open.
    for survey in surveys.exclude(status=S.CANCELED):
        assert survey.shipment.status == Shipment.Status.DELIVERED
        assert survey.sent_at - survey.delivered_at >= timedelta(days=3)
        assert survey.expires_at == survey.sent_at + timedelta(days=14)
        if survey.answered_at:
            assert survey.sent_at < survey.answered_at < min(survey.expires_at, now)
    comments = [c for c in surveys.values_list("comment", flat=True) if c]
    assert len(comments) >= 8
    assert any("déchiré" in comment or "amère" in comment for comment in comments)

    # The latest detractor's comment waits; an earlier one became a case, settled since.
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

    # The boxes of the weeks before the demo's four batches: one batch a week, back to back,
    # completed, every paid box delivered.
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

    # The e-mails left weeks ago: nothing was sent now.
    assert not [m for m in mail.outbox if "/s/" in m.body]
    line = next(line for line in output.splitlines() if line.startswith("Demo satisfaction"))
    assert f"{surveys.count()} for Purea Café" in line
    assert f"{summary.nps.answers} answered, NPS {summary.nps.score:+.0f}" in line
    assert "1 to follow up;" in line
    assert f"{shipped.count()} boxes of the weeks before" in line

    # The tea house has no surveys and has not turned them on.
    tea = Organization.objects.get(slug="maison-du-the")
    assert not SatisfactionSurvey.objects.filter(organization=tea).exists()
    assert not SatisfactionConfig.objects.filter(organization=tea, enabled=True).exists()

    before = _snapshot()
    second = load_demo()

    assert _snapshot() == before
    assert "Demo satisfaction" not in second
