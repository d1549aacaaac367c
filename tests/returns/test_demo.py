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


@pytest.fixture
def demo(demo_once):
    """The demo, loaded once for this module: what it printed."""
    return demo_once


@pytest.fixture
def purea_cases(demo):
    purea = Organization.objects.get(slug="purea-cafe")
    return ReturnRequest.objects.filter(organization=purea).select_related("shipment")


def test_the_demo_opens_a_case_at_every_step_for_marie(demo, purea_cases):
    purea = Organization.objects.get(slug="purea-cafe")
    marie = get_user_model().objects.get(username="marie")
    cases = purea_cases

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
    assert "Demo after-sales cases: 7 for Purea Café, 1 overdue." in demo
    from_surveys = SatisfactionSurvey.objects.values("return_request")
    assert cases.filter(pk__in=from_surveys).count() == 1
    for case in cases.exclude(pk__in=from_surveys):
        assert case.assignee == marie
        assert case.shipment.delivered_at < case.opened_at
        assert case.window_override == ""  # each asked within the return window
        opened = case.notes.order_by("id").first()
        assert (opened.kind, opened.actor_user) == ("opened", marie)
        assert case.description


def test_the_demos_requested_case_is_due_in_two_days_and_an_older_one_is_overdue(purea_cases):
    now = timezone.now()
    purea = Organization.objects.get(slug="purea-cafe")

    waiting = purea_cases.get(status=S.REQUESTED, due_at__gt=now)
    assert timedelta(days=2) - timedelta(minutes=5) < waiting.due_at - now <= timedelta(days=2)
    (overdue,) = cases_overdue(organization=purea, now=now)
    assert (overdue.status, overdue.due_at < now) == (S.REQUESTED, True)


def test_the_demos_replacement_is_a_ready_line_of_the_open_batch_for_the_subscriber(
    purea_cases,
):
    purea = Organization.objects.get(slug="purea-cafe")

    replaced = purea_cases.get(resolution=ReturnRequest.Resolution.REPLACEMENT)
    line = replaced.replacement_line
    assert (line.kind, line.status, line.batch.status) == ("replacement", "ready", "open")
    assert (line.batch.organization, line.subscription_id) == (purea, replaced.subscription_id)
    assert [item["quantity"] for item in line.items] == [1]


def test_the_demos_credit_carries_5_to_the_subscriptions_next_charge(purea_cases):
    credited = purea_cases.get(resolution=ReturnRequest.Resolution.CREDIT)

    assert (credited.status, credited.amount) == (S.RESOLVED, Decimal("5.00"))
    grant = credited.subscription.events.get(kind=SubscriptionEvent.Kind.CREDIT_GRANTED)
    assert grant.data["amount"] == "5.00"


def test_the_demos_rejected_case_says_why_and_is_closed(purea_cases):
    rejected = purea_cases.get(status=S.REJECTED)

    assert rejected.notes.get(kind="status", to_status=S.REJECTED).text
    assert rejected.closed_at is not None


def test_the_tea_house_has_its_return_settings_and_no_case(demo):
    tea = Organization.objects.get(slug="maison-du-the")

    assert ReturnConfig.objects.filter(organization=tea).exists()
    assert not ReturnRequest.objects.filter(organization=tea).exists()


def test_loading_the_demo_again_changes_no_case(demo):
    before = _snapshot()

    second = load_demo()

    assert _snapshot() == before
    assert "Demo after-sales cases" not in second


def test_every_demo_case_is_found_by_its_status_in_the_admin(client, demo):
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
