"""`load_demo`'s after-sales part: a case at every step and one overdue, in the admin, once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from crm.models import Organization
from fulfillment.models import BatchLine, Shipment
from returns.models import ReturnConfig, ReturnNote, ReturnRequest
from returns.selectors import cases_overdue
from satisfaction.models import SatisfactionSurvey
from subscriptions.models import SubscriptionEvent
from tests.helpers import load_demo

pytestmark = pytest.mark.django_db

S = ReturnRequest.Status


def _snapshot():
    return (
        sorted(ReturnRequest.objects.values_list("pk", "status", "resolution", "assignee_id")),
        ReturnNote.objects.count(),
        sorted(BatchLine.objects.values_list("pk", "kind", "status")),
        sorted(Shipment.objects.values_list("pk", "status")),
        SubscriptionEvent.objects.count(),
        sorted(ReturnConfig.objects.values_list("organization_id", "default_assignee_id")),
    )


def test_load_demo_opens_a_case_at_every_step_and_one_overdue_and_runs_twice():
    output = load_demo()
    now = timezone.now()
    purea = Organization.objects.get(slug="purea-cafe")
    marie = get_user_model().objects.get(username="marie")
    cases = ReturnRequest.objects.filter(organization=purea).select_related("shipment")

    assert purea.return_config.default_assignee == marie
    # The returns demo's seven, and one opened from a detractor's survey (satisfaction.demo).
    assert sorted(cases.values_list("status", flat=True)) == sorted(
        [
            S.REQUESTED,
            S.REQUESTED,
            S.APPROVED,
            S.RECEIVED,
            S.RESOLVED,
            S.RESOLVED,
            S.REJECTED,
            S.RESOLVED,
        ]
    )
    assert "Demo after-sales cases: 7 for Purea Café, 1 overdue." in output
    from_surveys = SatisfactionSurvey.objects.values("return_request")
    assert cases.filter(pk__in=from_surveys).count() == 1
    for case in cases.exclude(pk__in=from_surveys):
        assert case.assignee == marie
        assert case.shipment.delivered_at < case.opened_at
        assert case.window_override == ""  # each asked within the return window
        opened = case.notes.order_by("id").first()
        assert (opened.kind, opened.actor_user) == ("opened", marie)
        assert case.description

    # The requested one is due in two days; one asked five days ago is overdue.
    waiting = cases.get(status=S.REQUESTED, due_at__gt=now)
    assert timedelta(days=2) - timedelta(minutes=5) < waiting.due_at - now <= timedelta(days=2)
    (overdue,) = cases_overdue(organization=purea, now=now)
    assert (overdue.status, overdue.due_at < now) == (S.REQUESTED, True)

    # Resolved by replacement: a replacement line of the open batch, for the same subscriber.
    replaced = cases.get(resolution=ReturnRequest.Resolution.REPLACEMENT)
    line = replaced.replacement_line
    assert (line.kind, line.status, line.batch.status) == ("replacement", "ready", "open")
    assert (line.batch.organization, line.subscription_id) == (purea, replaced.subscription_id)
    assert [item["quantity"] for item in line.items] == [1]

    # Resolved by credit: 5.00 carried to the subscription's next charge.
    credited = cases.get(resolution=ReturnRequest.Resolution.CREDIT)
    assert (credited.status, credited.amount) == (S.RESOLVED, Decimal("5.00"))
    grant = credited.subscription.events.get(kind=SubscriptionEvent.Kind.CREDIT_GRANTED)
    assert grant.data["amount"] == "5.00"

    # Rejected, with the reason the customer is told.
    rejected = cases.get(status=S.REJECTED)
    assert rejected.notes.get(kind="status", to_status=S.REJECTED).text
    assert rejected.closed_at is not None

    # The tea house has its settings and reasons, and no boxes to ask about.
    tea = Organization.objects.get(slug="maison-du-the")
    assert ReturnConfig.objects.filter(organization=tea).exists()
    assert not ReturnRequest.objects.filter(organization=tea).exists()

    before = _snapshot()
    second = load_demo()

    assert _snapshot() == before
    assert "Demo after-sales cases" not in second


def test_every_demo_case_is_found_by_its_status_in_the_admin(client):
    load_demo()
    purea = Organization.objects.get(slug="purea-cafe")
    client.force_login(get_user_model().objects.get(username="marie"))
    url = reverse("admin:returns_returnrequest_changelist")
    cases = dict(ReturnRequest.objects.filter(organization=purea).values_list("pk", "status"))

    for status in (S.REQUESTED, S.APPROVED, S.RECEIVED, S.RESOLVED, S.REJECTED):
        response = client.get(url, {"status__exact": status})

        assert response.status_code == 200
        page = response.content.decode()
        shown = {
            pk for pk in cases if reverse("admin:returns_returnrequest_change", args=[pk]) in page
        }
        assert shown == {pk for pk, case_status in cases.items() if case_status == status}
