"""A fake Sendcloud at the HTTP boundary (the `responses` library), shaped from the v3
Shipments OpenAPI's documented examples: `POST /shipments/announce` answers 201 with the
shipment and its parcel (or 400 with JSON:API errors, or 201 with `ANNOUNCEMENT_FAILED`),
409 for a reused `external_reference_id`, and `GET /shipments?external_reference_id=`.

It keeps what it created, by reference, and every request it was sent.

Labels (v3 parcel documents OpenAPI): `GET /parcels/{id}/documents/label` answers 200
with a PDF (one A6 page reading "LABEL <order number>", so a test can read which label
is where), or 404 for a parcel it does not know or whose label was withdrawn
(`no_label`).
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import threading
from urllib.parse import parse_qs, urlsplit

import responses

API = "https://panel.sendcloud.sc/api/v3"
FAILED = "ANNOUNCEMENT_FAILED"
REFUSED_KEYS = {"status": "401", "code": "authentication_failed", "detail": "Invalid keys."}
CARRIER_ERROR = {
    "status": "500",
    "code": "parcel_announcement_error",
    "detail": "Service error: An error occurred while connecting to the carrier.",
}


class FakeSendcloud:
    def __init__(self, public_key="pk-test", secret_key="sk-test"):  # noqa: S107 (a fake)
        self.expected_auth = (
            "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        )
        self.shipments: dict[str, dict] = {}  # external_reference_id -> shipment
        self.announcements: list[dict] = []  # every POST body
        self.lookups: list[str] = []
        self.refuse: dict[str, str] = {}  # postcode -> 400 detail (missing house number...)
        self.failing_announcement: set[str] = set()  # postcodes announced but failed
        self.down = False
        self.lock = threading.Lock()
        self.ids = itertools.count(383707309)
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.mock.add_callback("POST", f"{API}/shipments/announce", callback=self._announce)
        self.mock.add_callback("GET", f"{API}/shipments", callback=self._list)
        # v3 parcel tracking: `GET /parcels/tracking/{tracking_number}` -> the parcel tracking
        # object (`parent_status`, `updated_at`, `events`), from `tracking` below.
        self.tracking: dict[str, dict] = {}  # tracking number -> its tracking object
        self.tracking_lookups: list[str] = []
        self.mock.add_callback(
            "GET", re.compile(re.escape(f"{API}/parcels/tracking/") + r"[^/?]+$"), self._track
        )
        self.label_fetches: list[str] = []  # parcel ids whose label was asked
        self.no_label: set[str] = set()  # parcel ids answered 404
        self.mock.add_callback(
            "GET",
            re.compile(re.escape(f"{API}/parcels/") + r"[^/]+/documents/label(\?.*)?$"),
            self._label,
        )

    def __enter__(self):
        self.mock.start()
        return self

    def __exit__(self, *exc):
        self.mock.stop()
        self.mock.reset()

    @property
    def created(self) -> list[dict]:
        return [
            s
            for s in self.shipments.values()
            if s["parcels"][0]["status"]["code"] != "ANNOUNCEMENT_FAILED"
        ]

    def _authorized(self, request) -> bool:
        return request.headers.get("Authorization") == self.expected_auth

    def _announce(self, request):
        if not self._authorized(request):
            return (
                401,
                {},
                json.dumps(
                    {
                        "errors": [
                            {
                                "status": "401",
                                "code": "authentication_failed",
                                "detail": "Invalid username/password.",
                            }
                        ]
                    }
                ),
            )
        if self.down:
            return 503, {}, "Service Unavailable"
        body = json.loads(request.body)
        with self.lock:
            self.announcements.append(body)
            reference = body.get("external_reference_id")
            if reference in self.shipments:
                return 409, {}, json.dumps({"data": self.shipments[reference]})
            to = body["to_address"]
            postcode = to.get("postal_code", "")
            if postcode in self.refuse:
                error = {
                    "status": "400",
                    "code": "invalid",
                    "detail": self.refuse[postcode],
                    "source": {"pointer": "/to_address/house_number"},
                }
                return 400, {}, json.dumps({"errors": [error]})
            parcel_id = next(self.ids)
            failed = postcode in self.failing_announcement
            tracking = f"3SYZXG{parcel_id}"
            label = f"{API}/parcels/{parcel_id}/documents/label"
            tracking_url = f"https://tracking.eu-central-1-0.sendcloud.sc/forward?code={tracking}"
            status = {"code": "READY_TO_SEND", "message": "Ready to send"}
            if failed:
                status = {"code": FAILED, "message": "Announcement Failed"}
            parcel = {
                "id": parcel_id,
                "status": status,
                "documents": [] if failed else [{"type": "label", "size": "a6", "link": label}],
                "weight": body["parcels"][0]["weight"],
                "tracking_url": "" if failed else tracking_url,
                "tracking_number": tracking,
                "created_at": "2026-12-07T08:11:14.616615Z",
            }
            shipment = {
                "id": f"shipment-{parcel_id}",
                "order_number": body.get("order_number"),
                "external_reference_id": reference,
                "parcels": [parcel],
                "to_address": to,
                "ship_with": body["ship_with"],
                "carrier": {"code": "colissimo", "name": "Colissimo"},
                "errors": [CARRIER_ERROR] if failed else [],
            }
            self.shipments[reference] = shipment
        return 201, {}, json.dumps({"data": shipment})

    def _list(self, request):
        if not self._authorized(request):
            return 401, {}, json.dumps({"errors": []})
        query = parse_qs(urlsplit(request.url).query)
        reference = query.get("external_reference_id", [""])[0]
        self.lookups.append(reference)
        found = [self.shipments[reference]] if reference in self.shipments else []
        return 200, {}, json.dumps({"data": found})

    def _track(self, request):
        if not self._authorized(request):
            return 401, {}, json.dumps({"errors": []})
        number = urlsplit(request.url).path.rsplit("/", 1)[1]
        self.tracking_lookups.append(number)
        if number not in self.tracking:
            return 404, {}, json.dumps({"errors": [{"status": "404", "code": "not_found"}]})
        return 200, {}, json.dumps(self.tracking[number])

    def _label(self, request):
        if not self._authorized(request):
            return 401, {}, json.dumps({"errors": []})
        parcel_id = urlsplit(request.url).path.split("/")[-3]
        with self.lock:
            self.label_fetches.append(parcel_id)
            shipment = next(
                (
                    s
                    for s in self.shipments.values()
                    if str(s["parcels"][0]["id"]) == parcel_id and s["parcels"][0]["documents"]
                ),
                None,
            )
        if shipment is None or parcel_id in self.no_label:
            error = {"status": "404", "code": "not_found", "detail": "No Parcel matches the query."}
            return 404, {}, json.dumps({"errors": [error]})
        return 200, {"Content-Type": "application/pdf"}, label_document(shipment["order_number"])


def label_document(order_number: str) -> bytes:
    """An A6 label as the platform would send it: a one-page PDF naming the order number."""
    from reportlab.lib.pagesizes import A6
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A6)
    page.drawString(20, 300, f"LABEL {order_number}")
    page.showPage()
    page.save()
    return buffer.getvalue()
