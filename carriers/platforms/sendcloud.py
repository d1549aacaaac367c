"""Sendcloud, through its Shipments API v3 (the version new integrations must use).

Read from Sendcloud's published OpenAPI file for v3 shipments
(https://sendcloud.dev/.openapi/v3/shipments/openapi.yaml):

- `POST /shipments/announce` creates and announces one shipment synchronously
  and answers 201 with `data`: the shipment (`id`, `carrier`, `errors`) and its
  `parcels` (`id`, `status.code`/`status.message`, `tracking_number`,
  `tracking_url`, `documents[]` with the label's `link`). An announcement the
  carrier refused is still a 201, with `errors` and the parcel's status
  `ANNOUNCEMENT_FAILED`; invalid input is a 400 with JSON:API `errors`
  (`detail`, `source.pointer`, `code`).
- `external_reference_id` "must be unique across shipments of the user. Using
  the same reference more than once will result in a 409 HTTP status code and
  the associated object being returned": our retry key.
- `GET /shipments?external_reference_id=...` finds a shipment by it.
- HTTP Basic authentication with the integration's public and secret keys.

And from its v3 parcel tracking documentation
(https://sendcloud.dev/docs/parcel-tracking/retrieve-tracking-info):
`GET /parcels/tracking/{tracking_number}` answers 200 with a parcel tracking
object: `parent_status` (the carrier's status standardized by Sendcloud),
`updated_at`, and `events` in chronological order. The periodic pull reads
`parent_status` and the time of the last event (else `updated_at`).

And from its v3 parcel documents OpenAPI
(https://sendcloud.dev/.openapi/v3/parcel-documents/openapi.yaml):
`GET /parcels/{id}/documents/label` answers 200 with the document in the format
the `Accept` header asks (`application/pdf`), at `paper_size` (A4, A5, A6) and
`dpi` (72 for a PDF); 404 when the parcel has no such document. The label link
in a shipment's answer names this same address: it is rebuilt from the parcel's
id here, never followed.

Every call goes to `settings.SENDCLOUD_API_URL` (HTTPS; one host, never a
URL from a response), follows no redirect and has a connect and read timeout.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from carriers.platforms.base import (
    Credentials,
    LabelMissing,
    ParcelCreated,
    ParcelRefused,
    ParcelRequest,
    ParcelStatus,
    PlatformUnavailable,
)

logger = logging.getLogger(__name__)

ISO_3166_2 = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")
FAILED_STATUSES = {"ANNOUNCEMENT_FAILED", "CANCELLED", "CANCELLATION_REQUESTED"}


def api_url() -> str:
    url = settings.SENDCLOUD_API_URL.rstrip("/")
    if urlsplit(url).scheme != "https":
        raise ImproperlyConfigured("SENDCLOUD_API_URL must be an https:// address.")
    return url


def to_address(address: dict[str, str], email: str = "") -> dict[str, str]:
    """A batch line's frozen address as Sendcloud's `address` object (empty values left out)."""
    fields = {
        "name": address.get("name", ""),
        "company_name": address.get("company", ""),
        "address_line_1": address.get("line1", ""),
        "address_line_2": address.get("line2", ""),
        "postal_code": address.get("postcode", ""),
        "city": address.get("city", ""),
        "country_code": address.get("country", ""),
        "phone_number": address.get("phone", ""),
        "email": email,
    }
    state = address.get("state", "").strip().upper()
    if ISO_3166_2.fullmatch(state):  # "US-NY"; a free-text region is not sent as a code
        fields["state_province_code"] = state
    return {key: value for key, value in fields.items() if value}


def kilograms(grams: int) -> str:
    return str((Decimal(grams) / 1000).quantize(Decimal("0.001")))


def errors_text(errors: Any) -> str:
    """JSON:API errors as one line for staff: "to_address/name: This field is required."."""
    parts = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        detail = str(error.get("detail") or error.get("title") or error.get("code") or "")
        pointer = (error.get("source") or {}).get("pointer") if error.get("source") else ""
        pointer = str(pointer or "").strip("/")
        parts.append(f"{pointer}: {detail}" if pointer and detail else detail or pointer)
    return " ".join(part for part in parts if part)


def https_only(url: Any) -> str:
    """A link from the platform kept only when it is an https:// address (staff click it)."""
    url = str(url or "")
    return url if urlsplit(url).scheme == "https" else ""


def parcel_from_shipment(shipment: dict) -> ParcelCreated | None:
    """The labelled parcel of a shipment object; None when it has none that is labelled."""
    parcels = shipment.get("parcels") or []
    if not parcels or not isinstance(parcels[0], dict):
        return None
    parcel = parcels[0]
    status = parcel.get("status") or {}
    if status.get("code") in FAILED_STATUSES or not parcel.get("id"):
        return None
    label = next(
        (
            document.get("link", "")
            for document in parcel.get("documents") or []
            if (document.get("document_type") or document.get("type")) == "label"
        ),
        "",
    )
    carrier = shipment.get("carrier") or {}
    return ParcelCreated(
        parcel_id=str(parcel["id"]),
        shipment_id=str(shipment.get("id") or ""),
        tracking_number=parcel.get("tracking_number") or "",
        tracking_url=https_only(parcel.get("tracking_url")),
        label_url=https_only(label),
        carrier_code=carrier.get("code") or "",
        carrier_name=carrier.get("name") or "",
        status_code=status.get("code") or "",
        status_message=status.get("message") or "",
        raw=parcel,
    )


class SendcloudPlatform:
    """The `CarrierPlatform` of a Sendcloud integration (its public and secret keys)."""

    remote = True  # labels fetched over HTTPS, a few at once

    def __init__(self, credentials: Credentials, *, session: requests.Session | None = None):
        self.base_url = api_url()
        self.session = session or requests.Session()
        self.session.auth = (credentials.public_key, credentials.secret_key)
        self.session.headers.update({"Accept": "application/json"})
        self.timeout = settings.CARRIER_HTTP_TIMEOUT

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            return self.session.request(
                method,
                f"{self.base_url}{path}",
                timeout=self.timeout,
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as exc:
            logger.warning("Sendcloud %s %s failed: %s", method, path, type(exc).__name__)
            raise PlatformUnavailable(
                _("Sendcloud could not be reached (%(error)s): try again later.")
                % {"error": type(exc).__name__}
            ) from exc

    @staticmethod
    def _json(response: requests.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _unavailable(self, response: requests.Response) -> PlatformUnavailable:
        if response.status_code in (401, 403):
            message = _("Sendcloud refused the account's keys (HTTP %(status)s): check them.")
        elif response.status_code == 429:
            message = _("Sendcloud asks to slow down (HTTP 429): try again in a few minutes.")
        else:
            message = _("Sendcloud answered HTTP %(status)s: try again later.")
        detail = errors_text(self._json(response).get("errors"))
        message = message % {"status": response.status_code}
        return PlatformUnavailable(f"{message} {detail}".strip())

    def create_parcel(self, request: ParcelRequest) -> ParcelCreated:
        from_address: dict[str, Any] = {}
        if request.sender_address_id:
            from_address["sender_address_id"] = request.sender_address_id
        body = {
            "from_address": from_address,
            "to_address": to_address(request.address, request.email),
            "ship_with": {
                "type": "shipping_option_code",
                "properties": {"shipping_option_code": request.shipping_method},
            },
            "order_number": request.order_number,
            "external_reference_id": request.reference,
            "label_details": {"mime_type": "application/pdf", "dpi": 72},
            "parcels": [{"weight": {"value": kilograms(request.weight_grams), "unit": "kg"}}],
        }
        response = self._send("POST", "/shipments/announce", json=body)
        status = response.status_code
        data = self._json(response)
        if status in (200, 201, 409):
            shipment = data.get("data") if isinstance(data.get("data"), dict) else None
            if shipment is None and status == 409:
                # The reference was used: the shipment it names is ours, created before.
                found = self.find_parcel(request.reference)
                if found is not None:
                    return found
            parcel = parcel_from_shipment(shipment or {})
            if parcel is not None:
                return parcel
            message = errors_text((shipment or {}).get("errors")) or errors_text(data.get("errors"))
            raise ParcelRefused(message or _("Sendcloud did not announce the parcel."))
        if 400 <= status < 500 and status not in (401, 403, 404, 408, 429):
            message = errors_text(data.get("errors"))
            raise ParcelRefused(
                message or _("Sendcloud refused the parcel (HTTP %(status)s).") % {"status": status}
            )
        raise self._unavailable(response)

    def find_parcel(self, reference: str) -> ParcelCreated | None:
        response = self._send("GET", "/shipments", params={"external_reference_id": reference})
        if response.status_code != 200:
            raise self._unavailable(response)
        for shipment in self._json(response).get("data") or []:
            if isinstance(shipment, dict):
                parcel = parcel_from_shipment(shipment)
                if parcel is not None:
                    return parcel
        return None

    def parcel_status(self, tracking_number: str) -> ParcelStatus | None:
        response = self._send("GET", f"/parcels/tracking/{quote(tracking_number, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._unavailable(response)
        body = self._json(response)
        tracking = body.get("data") if isinstance(body.get("data"), dict) else body
        status = tracking.get("parent_status")
        if isinstance(status, dict):
            code = str(status.get("code") or status.get("id") or "")
            message = str(status.get("message") or status.get("name") or code)
        else:
            code = message = str(status or "")
        if not code:
            return None
        events = [event for event in tracking.get("events") or [] if isinstance(event, dict)]
        last = events[-1] if events else {}
        at = _iso(last.get("timestamp") or last.get("created_at") or tracking.get("updated_at"))
        return ParcelStatus(code=code, message=message, at=at)

    def label_pdf(self, parcel_id: str, *, paper_size: str = "a6") -> bytes:
        path = f"/parcels/{quote(str(parcel_id), safe='')}/documents/label"
        response = self._send(
            "GET",
            path,
            params={"paper_size": paper_size.upper(), "dpi": 72},
            headers={"Accept": "application/pdf"},
        )
        if response.status_code == 404:
            raise LabelMissing(_("Sendcloud has no label for parcel %(id)s.") % {"id": parcel_id})
        if response.status_code != 200:
            raise self._unavailable(response)
        if not response.content.startswith(b"%PDF"):
            raise PlatformUnavailable(
                _("Sendcloud sent a label that is not a PDF document: try again later.")
            )
        return response.content


def _iso(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
