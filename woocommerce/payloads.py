"""What WooCommerce sends, read without Django: signatures, dates, statuses, meta.

Pure functions, tested against the verbatim samples in
tests/woocommerce/fixtures/. The quirks they absorb are listed in
docs/woocommerce.md: `billing_interval` is a string, empty dates are `""`,
`*_gmt` dates carry no offset, meta values can be strings, lists or objects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from woocommerce import reasons

PING = re.compile(rb"^webhook_id=(\d+)$")


class PayloadError(ValueError):
    """A payload that cannot be applied as it is (permanent: retrying will not help).

    Raised with a reason code and its parameters (`woocommerce.reasons`): its text is the
    English sentence, `reason` what the delivery records to show in the reader's language.
    """

    def __init__(self, code: str, **params: Any) -> None:
        self.reason = reasons.reason(code, **params)
        super().__init__(reasons.english(self.reason))


# --- Signatures --------------------------------------------------------------


def signature(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(body, secret)), as WooCommerce computes it.

    WooCommerce HTML-entity-decodes the secret before signing (`wp_specialchars_decode`),
    so `a&amp;b` signs as `a&b`.
    """
    key = html.unescape(secret).encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def signature_matches(body: bytes, header: str, secrets: list[str]) -> bool:
    """True when `header` is the signature of the raw `body` under one of `secrets`."""
    if not header:
        return False
    supplied = header.strip().encode()
    # Compare every secret, in constant time each, so timing tells nothing.
    results = [hmac.compare_digest(signature(body, s).encode(), supplied) for s in secrets]
    return any(results)


def ping_webhook_id(body: bytes) -> int | None:
    """The webhook id of a ping (`webhook_id=N`, form-encoded, unsigned), else None."""
    match = PING.match(body.strip())
    return int(match.group(1)) if match else None


# --- Values --------------------------------------------------------------------


def gmt(value: Any) -> datetime | None:
    """A naive `*_gmt` date as an aware UTC datetime; `""` and None are no date."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError("date_not_string", value=repr(value))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PayloadError("not_a_date", value=repr(value)) from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    """An amount sent as a string ("21.99") or a number; `""`/None give `default`."""
    if value in (None, ""):
        return default
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise PayloadError("not_an_amount", value=repr(value)) from exc
    if not result.is_finite():
        raise PayloadError("not_an_amount", value=repr(value))
    return result


def integer(value: Any, field: str, *, minimum: int | None = None) -> int:
    """An integer sent as a number or a string (`billing_interval` is `"1"`)."""
    if isinstance(value, bool):
        raise PayloadError("not_whole_number", field=field, value=repr(value))
    try:
        result = int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise PayloadError("not_whole_number", field=field, value=repr(value)) from exc
    if minimum is not None and result < minimum:
        raise PayloadError("below_minimum", field=field, minimum=minimum, value=result)
    return result


def meta(payload: dict[str, Any], key: str) -> Any:
    """The value of `meta_data` entry `key` (the last one wins), or None."""
    found = None
    for entry in payload.get("meta_data") or []:
        if isinstance(entry, dict) and entry.get("key") == key:
            found = entry.get("value")
    return found


def resource_id(payload: Any) -> int:
    if not isinstance(payload, dict):
        raise PayloadError("body_not_object")
    value = payload.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PayloadError("invalid_id", value=repr(value))
    return value


def is_deleted_body(payload: dict[str, Any]) -> bool:
    """`{"id": N}`: what a `*.deleted` webhook sends (the resource is trashed)."""
    return set(payload) == {"id"}


def rest_error(payload: Any) -> str | None:
    """The message of a REST error body sent in place of the resource, if it is one."""
    if (
        isinstance(payload, dict)
        and "code" in payload
        and "message" in payload
        and "id" not in payload
    ):
        return f"{payload.get('code')}: {payload.get('message')}"
    return None


# --- Statuses ----------------------------------------------------------------

PAID_ORDER_STATUSES = frozenset({"processing", "completed"})
UNPAID_ORDER_STATUSES = frozenset({"pending", "on-hold", "failed"})


def charge_status(order_status: str) -> str:
    """The CRM charge status of an order status."""
    return {
        "processing": "paid",
        "completed": "paid",
        "failed": "failed",
        "pending": "pending",
        "on-hold": "pending",
        "checkout-draft": "pending",
        "cancelled": "voided",
        "trash": "voided",
        "refunded": "refunded",
    }.get(order_status, "pending")


@dataclass(frozen=True)
class MirroredStatus:
    status: str
    cancel_at_period_end: bool = False
    reason: str = ""


SUBSCRIPTION_STATUSES = frozenset(
    {"pending", "active", "on-hold", "pending-cancel", "cancelled", "expired", "switched", "trash"}
)


def subscription_status(woo_status: str, *, latest_renewal_status: str | None) -> MirroredStatus:
    """The CRM status of a WooCommerce subscription status (table in docs/woocommerce.md).

    `on-hold` is past due when the latest renewal order is unpaid (pending or
    failed), else paused (suspended by staff or the customer).
    """
    status = woo_status.removeprefix("wc-")
    if status == "pending":
        return MirroredStatus("pending")
    if status == "active":
        return MirroredStatus("active")
    if status == "on-hold":
        if latest_renewal_status in ("pending", "failed"):
            return MirroredStatus("past_due")
        return MirroredStatus("paused")
    if status == "pending-cancel":
        return MirroredStatus("active", cancel_at_period_end=True)
    if status == "cancelled":
        return MirroredStatus("canceled")
    if status == "expired":
        return MirroredStatus("expired")
    if status == "switched":
        return MirroredStatus("canceled", reason="switched")
    if status == "trash":
        return MirroredStatus("canceled", reason="deleted in the shop")
    raise PayloadError("unknown_subscription_status", status=repr(woo_status))


ORDER_LINK_META = (
    ("_subscription_renewal", "renewal"),
    ("_subscription_switch", "switch"),
    ("_subscription_resubscribe", "resubscribe"),
)


def order_link(payload: dict[str, Any]) -> tuple[str, int] | None:
    """(kind, subscription id) of a renewal, switch or resubscribe order, else None."""
    for key, kind in ORDER_LINK_META:
        value = meta(payload, key)
        if isinstance(value, list):  # meta values can be lists
            value = value[0] if value else None
        if value in (None, "", 0, "0"):
            continue
        try:
            return kind, int(str(value))
        except ValueError:
            continue
    return None


# --- One initial order, several subscriptions ----------------------------------


def line_amounts(payload: dict[str, Any]) -> list[list[Any]]:
    """Each line item as `[product id, variation id, what it cost tax included]`.

    The amount is a string (exact in JSON); a simple product's variation id is 0.
    """
    lines = payload.get("line_items") or []
    if not isinstance(lines, list):
        raise PayloadError("line_items_not_list")
    result = []
    for line in lines:
        if not isinstance(line, dict):
            raise PayloadError("line_item_not_object")
        product = integer(line.get("product_id") or 0, "product_id", minimum=0)
        variation = integer(line.get("variation_id") or 0, "variation_id", minimum=0)
        amount = decimal(line.get("total"), Decimal(0)) + decimal(line.get("total_tax"), Decimal(0))
        result.append([product, variation, str(amount)])
    return result


def initial_shares(
    order_lines: list[list[Any]], subscriptions: dict[int, list[list[Any]]]
) -> dict[int, Decimal]:
    """What an initial order paid for each subscription it started: its own lines.

    `order_lines` and each subscription's lines are `line_amounts`. A line of the
    order is a subscription's when the subscription has a line of the same product
    and variation (WooCommerce Subscriptions makes one subscription per schedule, so
    a line belongs to one); were it in two, the lower subscription id takes it. A
    subscription none of whose lines is in the order (its items changed since) is
    counted at its own lines' amount. The order's shipping and fees are nobody's line.
    """
    shares = {woo_id: Decimal(0) for woo_id in subscriptions}
    owner: dict[tuple[int, int], int] = {}
    for woo_id in sorted(subscriptions, reverse=True):  # the lowest id written last wins
        for product, variation, _amount in subscriptions[woo_id]:
            owner[(product, variation)] = woo_id
    matched: set[int] = set()
    for product, variation, amount in order_lines:
        woo_id = owner.get((product, variation))
        if woo_id is not None:
            shares[woo_id] += Decimal(amount)
            matched.add(woo_id)
    for woo_id, lines in subscriptions.items():
        if woo_id not in matched:
            shares[woo_id] = sum((Decimal(amount) for *_key, amount in lines), Decimal(0))
    return shares
