"""The portal's isolation sweep: every route, with another customer's ids (same
organization) and another organization's ids, answers 404 to GET and POST and writes
nothing. A route with a kind of id the sweep does not know fails here until it is taught."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.urls import get_resolver

from tests.factories import (
    ReturnRequestFactory,
    SatisfactionSurveyFactory,
    ShipmentFactory,
)
from tests.portal.conftest import portal_url

pytestmark = pytest.mark.django_db

#: Routes with no object of a customer in their address, and why they need no sweep here.
NO_OBJECT = {
    "theme": "the organization's colours, public",
    "sign-in": "public",
    "sign-in-code": "public; tests/portal/test_sign_in.py",
    "sign-in-link": "a token, not an id; tests/portal/test_sign_in.py",
    "sign-out": "the caller's own session",
    "sign-out-everywhere": "the caller's own sessions",
    "home": "lists the caller's own rows only",
    "boxes": "lists the caller's own rows only",
    "charges": "lists the caller's own rows only",
    "cases": "lists the caller's own rows only",
    "surveys-stop": "the caller's own opt-out",
}

#: The apps whose rows a portal request may write.
WRITTEN = ("crm", "subscriptions", "preferences", "fulfillment", "returns", "satisfaction")


def portal_routes() -> list[tuple[str, list[str]]]:
    resolver = get_resolver()
    namespace = resolver.namespace_dict["portal"][1]
    routes = []
    for name, entries in namespace.reverse_dict.lists():
        if not isinstance(name, str):
            continue
        params = sorted(set(entries[0][0][0][1]) - {"organization"})
        routes.append((name, params))
    return sorted(routes)


def others_ids(customer) -> dict[str, object]:
    """Ids of the given customer's rows, one of each kind a portal route names."""
    subscription = customer.subscriptions.get()
    shipment = ShipmentFactory(
        organization=customer.organization,
        line__organization=customer.organization,
        line__customer=customer,
        line__subscription=subscription,
        line__batch__organization=customer.organization,
        status="delivered",
    )
    case = ReturnRequestFactory(shipment=shipment)
    survey = SatisfactionSurveyFactory(shipment=shipment)
    return {
        "subscription_id": subscription.pk,
        "shipment_id": shipment.pk,
        "case_id": case.pk,
        "survey_id": survey.pk,
        "on": subscription.next_charge_at.date().isoformat(),
    }


def counts() -> dict[str, int]:
    rows = {}
    for label in WRITTEN:
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = model.objects.count()
    return rows


def test_every_route_is_swept_or_says_why_not():
    known = {"subscription_id", "shipment_id", "case_id", "survey_id", "on"}
    for name, params in portal_routes():
        if name in NO_OBJECT:
            continue
        assert params, f"portal:{name} has no id: add it to NO_OBJECT with the reason"
        assert set(params) <= known, f"portal:{name} names {params}: teach the sweep"


@pytest.mark.parametrize("whose", ["same_organization", "other_organization"])
def test_another_customers_ids_are_not_found_and_nothing_is_written(
    whose, org_a, portal_client_a, other_customer_a, customer_b
):
    other = other_customer_a if whose == "same_organization" else customer_b
    ids = others_ids(other)
    before = counts()
    swept = 0
    for name, params in portal_routes():
        if name in NO_OBJECT:
            continue
        url = portal_url(org_a, name, **{param: ids[param] for param in params})
        get = portal_client_a.get(url)
        post = portal_client_a.post(url, {"confirm": "1", "reason": "x", "note": "x"})
        assert get.status_code == 404, f"GET portal:{name} with {whose}'s ids: {get.status_code}"
        assert post.status_code in (404, 405), (
            f"POST portal:{name} with {whose}'s ids: {post.status_code}"
        )
        swept += 1
    assert swept >= 10
    assert counts() == before
