"""Apply one WooCommerce payload to the CRM: one module per resource.

Every module has `upsert(store, payload, event)` and `delete(store, woo_id)`,
both run inside the caller's transaction and return an `Outcome`. They raise
`PayloadError` for a payload that can never be applied (the delivery is marked
failed); database errors propagate so the task retries. Customers, orders and
subscriptions also have `upsert_page(store, items, event)`: what a page of them holds
that the CRM has never seen is applied in bulk (`apply_page`: the reconciliation's first
import, and a message of several webhook deliveries, woocommerce/processing.py).
"""

from __future__ import annotations

from typing import Any

from woocommerce import payloads
from woocommerce.handlers import customer, order, product, subscription
from woocommerce.handlers.base import Outcome, PageAbandoned
from woocommerce.models import WooCommerceStore
from woocommerce.payloads import PayloadError

__all__ = ["HANDLERS", "Outcome", "PageAbandoned", "apply", "apply_page", "pages"]

HANDLERS = {
    "customer": customer,
    "product": product,
    "order": order,
    "subscription": subscription,
}


def apply(store: WooCommerceStore, resource: str, event: str, payload: Any) -> Outcome:
    """Apply `payload` (parsed JSON) about `resource` to the CRM of `store`'s organization.

    - `{"id": N}` is what `*.deleted` sends: the row is marked deleted upstream;
      with any other event the entity is re-fetched from the shop instead.
    - A REST error body in place of the resource (`{"code", "message"}`) is
      ignored with its message; the next reconciliation brings the truth.
    """
    module = HANDLERS.get(resource)
    if module is None:
        return Outcome.ignored("no_handler", resource=resource)
    error = payloads.rest_error(payload)
    if error:
        return Outcome.ignored("rest_error", resource=resource, error=error)
    woo_id = payloads.resource_id(payload)
    if payloads.is_deleted_body(payload):
        if event == "deleted":
            return module.delete(store, woo_id)
        from woocommerce.services import refetch_schedule

        refetch_schedule(store=store, resource=resource, woo_id=woo_id)
        return Outcome.ignored("refetch_scheduled", woo_id=woo_id)
    return module.upsert(store, payload, event)


def pages(resource: str) -> bool:
    """Whether `resource` has a handler that applies a page in bulk (`apply_page`)."""
    return hasattr(HANDLERS.get(resource), "upsert_page")


def apply_page(
    store: WooCommerceStore, resource: str, event: str, items: list[Any]
) -> list[Outcome | PayloadError | None]:
    """Apply in bulk what `apply` would apply to these payloads about `resource`, inside the
    caller's transaction; for each its outcome, the `PayloadError` that refuses it, or None:
    left to `apply`, one by one, after the page (whatever the bulk path does not take: an
    entity the CRM already has, a second payload of one entity, a deleted body...).

    Raises `base.PageAbandoned` (or a database error) when the page must be rolled back and
    every item applied one by one instead.
    """
    module = HANDLERS.get(resource)
    if not items or not hasattr(module, "upsert_page"):
        return [None] * len(items)
    return module.upsert_page(store, items, event)
