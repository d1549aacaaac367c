"""A replacement box in the packing room: its pick-list row says so, the API names its kind."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from fulfillment import services as fulfillment
from returns import services
from tests.factories import MembershipFactory, UserFactory, billing_settings, delivered_boxes

pytestmark = pytest.mark.django_db


@pytest.fixture
def replacement(org_a):
    billing_settings(org_a, gateway="test")
    shipment = delivered_boxes(org_a, delivered_at=timezone.now() - timedelta(days=2))[0]
    actor = Actor.system("after-sales")
    case = services.return_open(
        organization=org_a, shipment=shipment, reason="damaged", actor=actor
    )
    services.return_approve(case=case, actor=actor)
    services.return_resolve(case=case, actor=actor, resolution="replacement")
    case.refresh_from_db()
    return case.replacement_line


def _pick_list_statuses(client, batch) -> list[str]:
    url = reverse("fulfillment:batch-export", args=[batch.pk, "pick-list.csv"])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    return [row for row in text.splitlines()[1:] if row]


def test_the_pick_list_marks_a_replacement_while_open_and_once_locked(
    org_a, replacement, admin_client_for
):
    user = UserFactory()
    MembershipFactory(user=user, organization=org_a, role="staff")
    client = admin_client_for(user)
    batch = replacement.batch

    open_rows = _pick_list_statuses(client, batch)
    assert [row for row in open_rows if "Replacement" in row] != []

    fulfillment.batch_lock(batch=batch, actor=Actor.system("beat"))
    locked_rows = _pick_list_statuses(client, batch)
    assert len([row for row in locked_rows if "Ready · Replacement" in row]) == 1


def test_the_api_names_a_lines_kind(org_a, replacement, api_client_for):
    client = api_client_for(org_a)
    response = client.get(f"/api/v1/batch-lines/{replacement.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["kind"], body["cycle"], body["charge"], body["status"]) == (
        "replacement",
        None,
        None,
        "ready",
    )
