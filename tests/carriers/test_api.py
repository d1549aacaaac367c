"""The carriers API: create a batch's labels, read parcels and a shipment's parcel; another
organization's rows are 404s."""

from __future__ import annotations

import pytest

from carriers import services
from carriers.models import Parcel
from carriers.tasks import create_labels
from core.actors import Actor
from fulfillment.models import Batch, BatchLine, Shipment
from fulfillment.services import batch_dispatch
from operations.models import Operation
from tests.carriers.conftest import carrier_account, prepared_boxes
from tests.factories import ChargeFactory

pytestmark = pytest.mark.django_db


def test_labels_start_in_the_background_and_parcels_show_how_it_went(
    org_a, account_a, sendcloud, api_client_for, django_capture_on_commit_callbacks, monkeypatch
):
    batch, lines = prepared_boxes(org_a, 4)
    sendcloud.refuse[lines[1].address["postcode"]] = "House number is missing."
    client = api_client_for(org_a)
    sent = []
    monkeypatch.setattr(
        create_labels, "apply_async", lambda args, kwargs: sent.append((args, kwargs))
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/batches/{batch.pk}/labels/")

    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    [(args, kwargs)] = sent
    create_labels(*args, **kwargs)  # the worker's part
    operation = Operation.objects.get(pk=response.json()["operation"])
    assert (operation.kind, operation.status) == ("carrier_labels", "succeeded")
    assert "3 labelled" in operation.result_summary
    listed = client.get("/api/v1/parcels/", {"batch": batch.pk, "state": "refused"}).json()
    assert [row["line_code"] for row in listed["results"]] == [lines[1].code]
    assert listed["results"][0]["refusal"].endswith("House number is missing.")
    one = client.get(f"/api/v1/parcels/{Parcel.objects.filter(state='labelled').first().pk}/")
    assert one.status_code == 200
    assert one.json()["tracking_url"].startswith("https://tracking.")


def test_labels_of_an_open_batch_or_without_an_account_are_refused(
    org_a, org_b, api_client_for, sendcloud
):
    batch, _lines = prepared_boxes(org_a, 1)
    client = api_client_for(org_a)
    response = client.post(f"/api/v1/batches/{batch.pk}/labels")
    assert response.status_code == 409
    assert "carrier account" in response.json()["message"]
    carrier_account(org_a)
    Batch.objects.filter(pk=batch.pk).update(status="open")
    assert client.post(f"/api/v1/batches/{batch.pk}/labels").status_code == 409
    assert not Operation.objects.exists()


def test_another_organizations_batch_parcel_and_shipment_are_404(
    org_a, org_b, account_a, sendcloud, api_client_for
):
    batch, _lines = prepared_boxes(org_a, 1)
    services.labels_create(batch=batch)
    parcel = Parcel.objects.get()
    carrier_account(org_b)
    client_b = api_client_for(org_b)

    assert client_b.post(f"/api/v1/batches/{batch.pk}/labels/").status_code == 404
    assert client_b.get(f"/api/v1/parcels/{parcel.pk}/").status_code == 404
    assert client_b.get("/api/v1/parcels/", {"batch": batch.pk}).json()["results"] == []
    assert not Operation.objects.exists()


def _dispatched(organization) -> Shipment:
    """A labelled box, paid and dispatched: its shipment."""
    batch, lines = prepared_boxes(organization, 1)
    services.labels_create(batch=batch)
    charge = ChargeFactory(subscription=lines[0].subscription, cycle=1, status="paid")
    BatchLine.objects.filter(pk=lines[0].pk).update(charge=charge)
    batch_dispatch(batch=batch, actor=Actor.system("test"), carrier="Colissimo")
    return Shipment.objects.get(line=lines[0])


def test_a_shipments_parcel(org_a, account_a, sendcloud, api_client_for):
    shipment = _dispatched(org_a)
    client = api_client_for(org_a)

    response = client.get(f"/api/v1/shipments/{shipment.pk}/parcel")

    assert response.status_code == 200
    assert response.json()["shipment"] == shipment.pk
    assert response.json()["tracking_number"].startswith("3SYZXG")


def test_a_shipments_page_links_to_its_tracking(org_a, account_a, sendcloud, admin_client_for):
    from django.urls import reverse

    from crm.models import Membership
    from tests.factories import member

    shipment = _dispatched(org_a)
    client = admin_client_for(member(org_a, Membership.Role.VIEWER))
    page = client.get(
        reverse("admin:fulfillment_shipment_change", args=[shipment.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    assert 'data-tool="tracking"' in page
    assert "https://tracking.eu-central-1-0.sendcloud.sc/forward?code=3SYZXG" in page


def test_invalid_filters_are_400(org_a, api_client_for):
    client = api_client_for(org_a)
    assert client.get("/api/v1/parcels/", {"batch": "x"}).status_code == 400
    assert client.get("/api/v1/parcels/", {"state": "nope"}).status_code == 400
