"""A labelled box's tracking on its shipment: copied at dispatch, shown by the API.

Fulfillment reads the parcels through its port (fulfillment.parcels), installed by carriers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carriers import services
from carriers.models import Parcel
from core.actors import Actor
from fulfillment import services as fulfillment_services
from fulfillment.models import BatchLine, Shipment
from tests.carriers.conftest import prepared_boxes
from tests.factories import ChargeFactory

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test")


def paid(lines) -> None:
    for line in lines:
        charge = ChargeFactory(subscription=line.subscription, cycle=line.cycle, status="paid")
        BatchLine.objects.filter(pk=line.pk).update(charge=charge)


def test_dispatch_copies_the_parcels_carrier_and_tracking_onto_the_shipments(
    org_a, account_a, sendcloud
):
    batch, lines = prepared_boxes(org_a, 3)
    sendcloud.refuse[lines[2].address["postcode"]] = "House number is missing."
    services.labels_create(batch=batch)
    paid(lines)

    fulfillment_services.batch_dispatch(batch=batch, actor=SYSTEM, carrier="La Poste")

    labelled = Parcel.objects.get(line=lines[0])
    shipment = Shipment.objects.get(line=lines[0])
    assert shipment.carrier == "Colissimo"  # the platform's carrier, not the default
    assert shipment.tracking_number == labelled.tracking_number
    assert shipment.tracking_url == labelled.tracking_url
    assert shipment.tracking_url.startswith("https://tracking.")
    # The refused box ships with the carrier staff chose, and no tracking yet.
    refused = Shipment.objects.get(line=lines[2])
    assert (refused.carrier, refused.tracking_number, refused.tracking_url) == ("La Poste", "", "")


def test_dispatch_reads_the_parcels_in_a_fixed_number_of_queries(org_a, account_a, sendcloud):
    def dispatch_queries(count: int, day: int) -> int:
        batch, lines = prepared_boxes(
            org_a, count, cutoff=datetime(2026, 12, day, 11, 0, tzinfo=UTC)
        )
        services.labels_create(batch=batch)
        paid(lines)
        with CaptureQueriesContext(connection) as queries:
            fulfillment_services.batch_dispatch(batch=batch, actor=SYSTEM)
        assert Shipment.objects.filter(batch=batch).exclude(tracking_number="").count() == count
        return len(queries.captured_queries)

    dispatch_queries(1, 2)  # the first dispatch also writes the organization's settings
    assert dispatch_queries(2, 16) == dispatch_queries(12, 30)


def test_shipping_a_shipment_without_tracking_takes_its_parcels(org_a, account_a, sendcloud):
    batch, lines = prepared_boxes(org_a, 1)
    paid(lines)
    fulfillment_services.batch_dispatch(batch=batch, actor=SYSTEM, carrier="La Poste")
    shipment = Shipment.objects.get(line=lines[0])
    assert shipment.tracking_number == ""
    # Labelled after the dispatch (the parcel row as a labels run leaves it).
    Parcel.objects.create(
        organization=org_a,
        batch=batch,
        line=lines[0],
        account=account_a,
        reference=lines[0].code,
        state=Parcel.State.LABELLED,
        carrier="Colissimo",
        tracking_number="3SYZXG1",
        tracking_url="https://tracking.example/3SYZXG1",
    )

    fulfillment_services.shipment_transition(shipment=shipment, action="ship", actor=SYSTEM)

    shipment.refresh_from_db()
    assert (shipment.carrier, shipment.tracking_number, shipment.tracking_url) == (
        "Colissimo",
        "3SYZXG1",
        "https://tracking.example/3SYZXG1",
    )


def test_a_new_tracking_number_drops_the_old_numbers_link(org_a, account_a, sendcloud):
    batch, lines = prepared_boxes(org_a, 1)
    services.labels_create(batch=batch)
    paid(lines)
    fulfillment_services.batch_dispatch(batch=batch, actor=SYSTEM)
    shipment = Shipment.objects.get(line=lines[0])

    fulfillment_services.shipment_update(shipment=shipment, actor=SYSTEM, tracking_number="NEW1")

    shipment.refresh_from_db()
    assert (shipment.tracking_number, shipment.tracking_url) == ("NEW1", "")


def test_the_api_shows_each_shipments_tracking_and_parcel_status(
    org_a, account_a, sendcloud, api_client_for
):
    batch, lines = prepared_boxes(org_a, 2)
    services.labels_create(batch=batch)
    at = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    Parcel.objects.filter(line=lines[0]).update(
        carrier_status="IN_TRANSIT", carrier_status_message="En route", carrier_status_at=at
    )
    paid(lines)
    fulfillment_services.batch_dispatch(batch=batch, actor=SYSTEM)
    Parcel.objects.filter(line=lines[1]).delete()  # as if labelled by hand
    client = api_client_for(org_a)
    shipment = Shipment.objects.get(line=lines[0])
    parcel = Parcel.objects.get(line=lines[0])

    one = client.get(f"/api/v1/shipments/{shipment.pk}/").json()
    listed = client.get("/api/v1/shipments/").json()["results"]

    assert one["carrier"] == "Colissimo"
    assert one["tracking_number"] == parcel.tracking_number
    assert one["tracking_url"] == parcel.tracking_url
    assert one["parcel"] == {
        "state": "labelled",
        "carrier": "Colissimo",
        "tracking_number": parcel.tracking_number,
        "tracking_url": parcel.tracking_url,
        "carrier_status": "IN_TRANSIT",
        "carrier_status_message": "En route",
        "carrier_status_at": "2026-12-03T09:30:00Z",
    }
    by_line = {row["line"]: row for row in listed}
    assert by_line[lines[0].pk]["parcel"] == one["parcel"]
    assert by_line[lines[1].pk]["parcel"] is None


def test_the_shipments_list_reads_the_parcels_in_one_query(
    org_a, account_a, sendcloud, api_client_for
):
    client = api_client_for(org_a)

    def list_queries(count: int, day: int) -> int:
        batch, lines = prepared_boxes(
            org_a, count, cutoff=datetime(2026, 12, day, 11, 0, tzinfo=UTC)
        )
        services.labels_create(batch=batch)
        paid(lines)
        fulfillment_services.batch_dispatch(batch=batch, actor=SYSTEM)
        with CaptureQueriesContext(connection) as queries:
            rows = client.get("/api/v1/shipments/", {"batch": batch.pk}).json()["results"]
        assert len(rows) == count
        assert all(row["parcel"]["state"] == "labelled" for row in rows)
        return len(queries.captured_queries)

    list_queries(1, 2)  # the first dispatch also writes the organization's settings
    assert list_queries(2, 16) == list_queries(8, 30)


def test_the_shipment_and_customer_pages_link_to_the_carriers_tracking(
    org_a, account_a, sendcloud, admin_client_for
):
    from django.urls import reverse

    from crm.models import Membership
    from tests.factories import member

    batch, lines = prepared_boxes(org_a, 1)
    services.labels_create(batch=batch)
    paid(lines)
    fulfillment_services.batch_dispatch(batch=batch, actor=SYSTEM)
    shipment = Shipment.objects.get(line=lines[0])
    client = admin_client_for(member(org_a, Membership.Role.VIEWER))
    link = f'href="{shipment.tracking_url}"'

    page = client.get(reverse("admin:fulfillment_shipment_change", args=[shipment.pk]))
    story = client.get(reverse("admin:customer_story", args=[shipment.customer_id]))

    assert link in page.content.decode()
    assert link in story.content.decode()
    assert f">{shipment.tracking_number}</a>" in story.content.decode()
