"""The Sendcloud client at the HTTP boundary: what it sends, how it reads each answer."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from carriers.platforms.base import Credentials, ParcelRefused, ParcelRequest, PlatformUnavailable
from carriers.platforms.sendcloud import SendcloudPlatform, errors_text, to_address
from carriers.weights import box_weight_grams

API = "https://panel.sendcloud.sc/api/v3"

REQUEST = ParcelRequest(
    reference="123",
    order_number="123",
    address={
        "name": "Ana",
        "company": "",
        "line1": "1 Main St",
        "line2": "",
        "postcode": "10036",
        "city": "New York",
        "state": "US-NY",
        "country": "US",
        "phone": "",
    },
    weight_grams=1320,
    shipping_method="ups:standard",
    sender_address_id=192,
)


def platform() -> SendcloudPlatform:
    return SendcloudPlatform(Credentials(public_key="pk", secret_key="sk"))


def shipment(status="READY_TO_SEND") -> dict:
    return {
        "id": "s-1",
        "carrier": {"code": "ups", "name": "UPS"},
        "errors": [],
        "parcels": [
            {
                "id": 383707309,
                "status": {"code": status, "message": "Ready to send"},
                "documents": [{"type": "label", "size": "a6", "link": f"{API}/parcels/1/label"}],
                "tracking_number": "1Z999",
                "tracking_url": "https://tracking.example/1Z999",
            }
        ],
    }


@responses.activate
def test_it_sends_the_documented_body_with_basic_auth_and_a_timeout():
    call = responses.post(f"{API}/shipments/announce", json={"data": shipment()}, status=201)

    created = platform().create_parcel(REQUEST)

    sent = json.loads(call.calls[0].request.body)
    assert sent["to_address"] == {
        "name": "Ana",
        "address_line_1": "1 Main St",
        "postal_code": "10036",
        "city": "New York",
        "country_code": "US",
        "state_province_code": "US-NY",
    }
    assert sent["parcels"] == [{"weight": {"value": "1.320", "unit": "kg"}}]
    assert sent["from_address"] == {"sender_address_id": 192}
    assert sent["external_reference_id"] == sent["order_number"] == "123"
    assert call.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert (created.parcel_id, created.tracking_number, created.carrier_name) == (
        "383707309",
        "1Z999",
        "UPS",
    )
    assert created.label_url == f"{API}/parcels/1/label"


def test_every_call_has_a_timeout(monkeypatch):
    seen = {}

    def fake_request(self, method, url, **kwargs):
        seen.update(kwargs, url=url)
        raise requests.ConnectTimeout("slow")

    monkeypatch.setattr(requests.Session, "request", fake_request)
    with pytest.raises(PlatformUnavailable, match="ConnectTimeout"):
        platform().find_parcel("123")
    assert seen["timeout"] == (5.0, 30.0)
    assert seen["allow_redirects"] is False
    assert seen["url"].startswith("https://panel.sendcloud.sc/")


@responses.activate
def test_a_reused_reference_without_a_body_is_looked_up():
    responses.post(f"{API}/shipments/announce", status=409, body="")
    responses.get(f"{API}/shipments", json={"data": [shipment()]})

    assert platform().create_parcel(REQUEST).parcel_id == "383707309"


@responses.activate
@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
def test_keys_refused_rate_limits_and_failures_are_the_platforms(status):
    responses.post(f"{API}/shipments/announce", status=status, json={"errors": []})
    with pytest.raises(PlatformUnavailable):
        platform().create_parcel(REQUEST)


@responses.activate
def test_a_validation_error_is_the_boxs_with_its_pointer():
    error = {"status": "400", "code": "required", "detail": "This field is required."}
    error["source"] = {"pointer": "/to_address/name"}
    responses.post(f"{API}/shipments/announce", status=400, json={"errors": [error]})
    with pytest.raises(ParcelRefused) as refused:
        platform().create_parcel(REQUEST)
    assert refused.value.message == "to_address/name: This field is required."


@responses.activate
def test_an_announcement_failed_is_refused_with_the_carriers_error():
    body = shipment("ANNOUNCEMENT_FAILED")
    body["errors"] = [{"status": "500", "code": "x", "detail": "Carrier down."}]
    responses.post(f"{API}/shipments/announce", status=201, json={"data": body})
    with pytest.raises(ParcelRefused, match=r"Carrier down\."):
        platform().create_parcel(REQUEST)


def test_an_http_base_url_is_refused(settings):
    settings.SENDCLOUD_API_URL = "http://panel.sendcloud.sc/api/v3"
    with pytest.raises(Exception, match="https"):
        platform()


@responses.activate
def test_links_other_than_https_are_dropped():
    body = shipment()
    body["parcels"][0]["tracking_url"] = "javascript:alert(1)"
    responses.post(f"{API}/shipments/announce", status=201, json={"data": body})
    created = platform().create_parcel(REQUEST)
    assert (created.tracking_url, created.label_url) == ("", f"{API}/parcels/1/label")


def test_pure_helpers():
    assert to_address({"state": "Île-de-France"}) == {}  # a free-text region is not a code
    assert errors_text([{"detail": "Bad."}, "junk"]) == "Bad."
    items = [{"weight_grams": 250, "quantity": 2}, {"product": 1, "variant": None, "quantity": 1}]
    assert box_weight_grams(items, packaging_grams=100, unit_weights={(1, None): 50}) == (650, [])
    assert box_weight_grams(items, packaging_grams=0) == (500, ["1"])


@responses.activate
def test_parcel_status_reads_the_tracking_objects_parent_status_and_last_event():
    responses.get(
        f"{API}/parcels/tracking/3SYZXG1",
        json={
            "parent_status": "DELIVERED",
            "updated_at": "2026-11-13T08:00:00Z",
            "events": [
                {"parent_status": "AT_SORTING_CENTRE", "timestamp": "2026-11-11T09:30:00Z"},
                {"parent_status": "DELIVERED", "timestamp": "2026-11-12T14:05:00+00:00"},
            ],
        },
    )
    responses.get(f"{API}/parcels/tracking/UNKNOWN", status=404, json={"errors": []})
    responses.get(f"{API}/parcels/tracking/DOWN", status=503, body="down")

    status = platform().parcel_status("3SYZXG1")

    assert (status.code, status.message) == ("DELIVERED", "DELIVERED")
    assert status.at.isoformat() == "2026-11-12T14:05:00+00:00"
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert platform().parcel_status("UNKNOWN") is None
    with pytest.raises(PlatformUnavailable):
        platform().parcel_status("DOWN")
