"""Apply one WooCommerce payload to the CRM: one module per resource.

Every module has `upsert(store, payload, event)` and `delete(store, woo_id)`,
both run inside the caller's transaction and return an `Outcome`. They raise
`PayloadError` for a payload that can never be applied (the delivery is marked
failed); database errors propagate so the task retries. Customers, orders and
subscriptions also have `upsert_page(store, items, event)`: the reconciliation's first
import applies a page in bulk (`reconcile.apply_page`).
"""

from __future__ import annotations

from typing import Any

from woocommerce import payloads
from woocommerce.handlers import customer, order, product, subscription
from woocommerce.handlers.base import Outcome
from woocommerce.models import WooCommerceStore

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
