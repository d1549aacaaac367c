"""Payment gateways: one small interface between renewals and whoever takes the money.

A gateway receives a `Charge` (with its subscription and customer loaded) and
answers paid, failed or pending. It must be idempotent on the charge's id: a
renewal that crashed after the gateway answered asks again with the same
charge, and a real provider is given `charge.pk` as its idempotency key.
Adding a provider means one class here and one choice in `BillingSettings`;
the lifecycle does not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ChargeResult:
    status: str  # "paid", "failed" or "pending" (Charge.Status values)
    reference: str = ""
    failure_reason: str = ""


class PaymentGateway(Protocol):
    name: str

    def charge(self, charge) -> ChargeResult: ...


class ManualGateway:
    """Nothing is charged automatically: the charge waits until staff mark it paid or failed."""

    name = "manual"

    def charge(self, charge) -> ChargeResult:
        return ChargeResult("pending")


class TestGateway:
    """Deterministic outcomes chosen by the customer's e-mail address, for demos and tests.

    - an address containing `+decline` (e.g. `ana+decline@example.com`) is always declined;
    - `+decline-N` (e.g. `+decline-2`) is declined on the first N attempts, then paid;
    - `+pending` leaves the charge pending;
    - any other address is paid.
    """

    name = "test"
    __test__ = False  # not a pytest test class
    _DECLINE = re.compile(r"\+decline(?:-(\d+))?@")

    def charge(self, charge) -> ChargeResult:
        email = charge.subscription.customer.email.lower()
        attempt = charge.attempts + 1
        reference = f"test_{charge.pk}_{attempt}"
        if "+pending@" in email:
            return ChargeResult("pending", reference=reference)
        declined = self._DECLINE.search(email)
        if declined and (declined.group(1) is None or attempt <= int(declined.group(1))):
            return ChargeResult("failed", reference=reference, failure_reason="card_declined")
        return ChargeResult("paid", reference=reference)


GATEWAYS: dict[str, PaymentGateway] = {
    gateway.name: gateway for gateway in (ManualGateway(), TestGateway())
}


def get_gateway(name: str) -> PaymentGateway:
    try:
        return GATEWAYS[name]
    except KeyError:
        raise ValueError(f"unknown payment gateway {name!r}") from None
