"""Why a delivery was ignored or failed, or what note its processing left: a code and its
parameters, rendered in the reader's language (issue 25, item 5).

The handlers record `{"code": ..., "params": {...}}` (`WebhookDelivery.reason`); the admin
renders it with `render(reason, gettext)`, in the language of whoever reads it. The English
text (`english`) is still written to `WebhookDelivery.error` for logs, the reconciliation's
report and rows older than the codes. An unexpected exception has no code: its class and
message are technical and stay as they are.

No Django here: the messages are plain English msgids (their French is in the .po file),
and the caller passes its `gettext`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Reason = dict[str, Any]


def _(message: str) -> str:  # a marker: the msgid is translated when rendered
    return message


#: The message of each code; `%(name)s` are its parameters.
MESSAGES: dict[str, str] = {
    # Ignored
    "no_handler": _("no handler for the resource %(resource)r"),
    "rest_error": _("WooCommerce sent an error instead of the %(resource)s: %(error)s"),
    "refetch_scheduled": _("the body holds only the id %(woo_id)s; re-fetch scheduled"),
    "unchanged": _("unchanged since the version applied"),
    "stale": _("older than the version applied: modified %(modified)s, applied %(applied)s"),
    "deleted_upstream": _("deleted in the shop; a restore or reconciliation brings it back"),
    # Notes of a processed delivery
    "variations_retired": _("%(count)s variation(s) retired"),
    "deleted_in_shop": _("deleted in the shop"),
    "customer_deleted": _("deleted in the shop; the customer is kept here"),
    "product_deleted": _("deleted in the shop; the product is now inactive"),
    "variant_deleted": _("deleted in the shop; the variant is now retired"),
    "notes": "%(notes)s",  # several notes, each rendered, joined by "; "
    "preference_several_values": _(
        "preference %(key)s: the shop sent several values (%(values)s); none applied"
    ),
    "preference_refused": _("preference %(message)s"),
    "preferences_not_written": _("preferences not written: %(details)s"),
    # Failed
    "invalid_json": _("the body is not valid JSON: %(error)s"),
    "gave_up": _("gave up after %(attempts)s attempts; last error: %(error)s"),
    "will_retry": _("will retry: %(error)s"),
    "body_not_object": _("the body is not a JSON object"),
    "invalid_id": _("the body has no valid id: %(value)s"),
    "date_not_string": _("expected a date string, got %(value)s"),
    "not_a_date": _("not a date: %(value)s"),
    "not_an_amount": _("not an amount: %(value)s"),
    "not_whole_number": _("%(field)s: not a whole number: %(value)s"),
    "below_minimum": _("%(field)s: must be at least %(minimum)s, got %(value)s"),
    "unknown_subscription_status": _("unknown subscription status %(status)s"),
    "line_items_not_list": _("line_items is not a list"),
    "line_item_not_object": _("a line item is not an object"),
    "no_email": _("%(resource)s %(woo_id)s has no e-mail address"),
    "invalid_email": _("%(resource)s %(woo_id)s has an invalid e-mail address: %(email)s"),
    "email_taken": _(
        "%(resource)s %(woo_id)s: another customer of the organization has the e-mail %(email)s"
    ),
    "negative_weight": _("negative weight %(value)s"),
    "weight_out_of_range": _("weight out of range: %(value)s"),
    "attribute_not_object": _("an attribute is not an object"),
    "line_sku_taken": _("line %(line)s: a product already has the SKU %(sku)s"),
    "negative_line_total": _("line %(line)s: negative total %(total)s"),
    "negative_price": _("%(resource)s %(woo_id)s: negative price %(price)s"),
    "product_sku_taken": _("%(resource)s %(woo_id)s: another product already has the SKU %(sku)s"),
    "product_sku_taken_by_variant": _(
        "%(resource)s %(woo_id)s: a variant already has the SKU %(sku)s"
    ),
    "variant_sku_taken": _(
        "%(resource)s %(woo_id)s: another product or variant has the SKU %(sku)s"
    ),
    "no_parent": _("%(resource)s %(woo_id)s has no parent_id"),
    "unknown_billing_period": _("%(resource)s %(woo_id)s: unknown billing_period %(period)s"),
    "no_start_date": _("%(resource)s %(woo_id)s has no start date"),
    "no_status": _("%(resource)s %(woo_id)s has no status"),
}

#: The `resource` parameter's words, as a message names them (translated in the context
#: `RESOURCE_CONTEXT`: "order" is also a sort order).
RESOURCE_CONTEXT = "woocommerce resource"
RESOURCES: dict[str, str] = {
    "customer": _("customer"),
    "product": _("product"),
    "variation": _("variation"),
    "order": _("order"),
    "subscription": _("subscription"),
}


def reason(code: str, **params: Any) -> Reason:
    """A reason as stored: its code and its parameters (JSON values)."""
    if code not in MESSAGES:
        raise KeyError(f"unknown reason code {code!r}")
    return {"code": code, "params": params}


def render(
    value: Reason | None,
    gettext: Callable[[str], str] = _,
    pgettext: Callable[[str, str], str] | None = None,
) -> str:
    """The reason's sentence, translated by `gettext` and `pgettext` (English without
    them); "" for none.

    A code this version does not know (a newer worker's) is shown as the code itself.
    """
    if not value or not isinstance(value, dict) or "code" not in value:
        return ""
    code, params = value["code"], dict(value.get("params") or {})
    template = MESSAGES.get(code)
    if template is None:
        return str(code)
    if code == "notes":
        return "; ".join(render(note, gettext, pgettext) for note in params.get("notes", []))
    if code == "gave_up" and params.get("last"):  # the last error's own reason
        params["error"] = render(params["last"], gettext, pgettext)
    if code == "no_handler":  # the resource is the unknown one the shop named: as sent
        return gettext(template) % params
    if "resource" in params and params["resource"] in RESOURCES:
        word = RESOURCES[params["resource"]]
        params["resource"] = pgettext(RESOURCE_CONTEXT, word) if pgettext else word
    try:
        return gettext(template) % params
    except (KeyError, TypeError, ValueError):  # a translation naming another parameter
        return template % params


def english(value: Reason | None) -> str:
    """The reason's sentence in English (what `WebhookDelivery.error` keeps)."""
    return render(value)


def notes(values: list[Reason]) -> Reason | None:
    """One reason for several notes (None for none, the note itself for one)."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return reason("notes", notes=values)
