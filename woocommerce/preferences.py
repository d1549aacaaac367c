"""A WooCommerce subscription's preference values, written as the subscription's preferences.

A shop maps its meta keys and product attributes to the organization's
preference fields (`WooPreferenceMapping`). From each subscription payload the
sync reads the subscription's `meta_data` and every line item's `meta_data`. A
mapping's key matches an entry whose

- `key` is exactly the mapping's key (meta keys are case-sensitive);
- on a line item, `key` is the same attribute with or without the `pa_` prefix
  (`pa_grind`, a global attribute, and `grind`, a product's own attribute, are
  one key), or `display_key` (the name the shop shows, e.g. "Mouture") equals
  the mapping's key ignoring case.

The shop's text becomes the field's type (`preferences.validation.coerce_text`:
a choice matches its value or its label, including the entry's
`display_value`; yes/no and 1/0 for booleans). A multi-choice takes the union of
every matching entry (comma-separated and one per line item alike); any other
field must get one value: several different ones are a problem. Empty values
are not sent values.

Precedence: a value is written only when it differs from the one the shop sent
last time (`SubscriptionPreference.shop_values`; a multi-choice compared as a
set, since the shop lists the same choices in any order), so a change staff made here
is not undone by the next unrelated webhook, while a new choice made in the
shop is applied. A value the schema refuses is skipped (the other values are
still written) and reported, for the delivery's note; it is not remembered as
sent, so every later delivery reports it again until the shop or the schema is
fixed. Ended subscriptions are left alone.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import JSONObject
from django.utils.html import strip_tags

from core.errors import ApplicationError
from preferences import validation
from preferences.models import SubscriptionPreference
from preferences.selectors import preference_schema, preferences_current
from preferences.services import ENDED, preferences_update
from subscriptions.models import Subscription
from woocommerce import reasons
from woocommerce.handlers import base
from woocommerce.models import WooCommerceStore, WooPreferenceMapping

SOURCE = "woocommerce"
ATTRIBUTE_PREFIX = "pa_"


# --- Reading the payload (no database) --------------------------------------------


def meta_entries(payload: dict[str, Any]) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every meta entry of the subscription and of its line items, with "is on a line item"."""
    for entry in _entries(payload.get("meta_data")):
        yield entry, False
    lines = payload.get("line_items")
    for line in lines if isinstance(lines, list) else []:
        if isinstance(line, dict):
            for entry in _entries(line.get("meta_data")):
                yield entry, True


def _entries(meta: Any) -> Iterator[dict[str, Any]]:
    for entry in meta if isinstance(meta, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            yield entry


def _attribute(key: str) -> str:
    return key.removeprefix(ATTRIBUTE_PREFIX)


def matches(woo_key: str, entry: dict[str, Any], *, line_item: bool) -> bool:
    """Whether the meta entry carries the value of the mapping's key (see the module)."""
    key = entry["key"]
    if key == woo_key:
        return True
    if not line_item:
        return False
    if _attribute(key) and _attribute(key) == _attribute(woo_key):
        return True
    display_key = entry.get("display_key")
    return isinstance(display_key, str) and display_key.strip().casefold() == woo_key.casefold()


def _is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str | list | dict) and not raw)


def _label(entry: dict[str, Any]) -> list[str]:
    # `display_value` is the text the shop shows, sometimes as HTML ("<p>Espresso</p>").
    shown = entry.get("display_value")
    if not isinstance(shown, str):
        return []
    text = html.unescape(strip_tags(shown)).strip()
    return [text] if text else []


def collect(
    mappings: Iterable[tuple[str, str]], payload: dict[str, Any]
) -> dict[str, list[tuple[Any, list[str]]]]:
    """{preference key: [(value, labels), ...]} for the (woo key, preference key) mappings."""
    found: dict[str, list[tuple[Any, list[str]]]] = {}
    entries = list(meta_entries(payload))
    for woo_key, field_key in mappings:
        for entry, line_item in entries:
            raw = entry.get("value")
            if isinstance(raw, str):
                raw = raw.strip()
            if _is_empty(raw) or not matches(woo_key, entry, line_item=line_item):
                continue
            found.setdefault(field_key, []).append((raw, _label(entry)))
    return found


def _coerce(spec: validation.FieldSpec, raw: Any, labels: list[str]) -> Any:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and spec.type != "integer":
        raw = str(raw)
    if spec.type == validation.MULTI_CHOICE:
        items = raw if isinstance(raw, list) else [raw]
        values: list[Any] = []
        for item in items:
            coerced = validation.coerce_text(spec, item)
            values.extend(coerced if isinstance(coerced, list) else [coerced])
        valid = set(spec.choice_values(active_only=False))
        if labels and not set(values) <= valid:  # the slug is unknown: try what the shop shows
            shown = validation.coerce_text(spec, labels[0])
            if isinstance(shown, list) and set(shown) <= valid:
                return shown
        return values
    return validation.coerce_text(spec, raw, labels=labels)


def shop_value(
    spec: validation.FieldSpec, found: list[tuple[Any, list[str]]]
) -> tuple[Any, reasons.Reason | None]:
    """The one value the shop sends for `spec`, or the problem (several different values)."""
    values = [_coerce(spec, raw, labels) for raw, labels in found]
    if spec.type == validation.MULTI_CHOICE:
        union: list[Any] = []
        for item in (item for value in values for item in value):
            if item not in union:
                union.append(item)
        return union, None
    distinct: list[Any] = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
    if len(distinct) > 1:
        shown = ", ".join(repr(value) for value in distinct)
        return None, reasons.reason("preference_several_values", key=spec.key, values=shown)
    return distinct[0], None


def same_value(spec: validation.FieldSpec, before: Any, after: Any) -> bool:
    """Whether the shop sent the same value again: a multi-choice is a set, so the same
    choices in another order ("brazil, peru" after "peru, brazil") are no change."""
    if (
        spec.type == validation.MULTI_CHOICE
        and isinstance(before, list)
        and isinstance(after, list)
    ):
        try:
            return set(before) == set(after)
        except TypeError:  # an unhashable item in a value stored long ago: compare as lists
            return before == after
    return before == after


# --- Writing ----------------------------------------------------------------------------


def preference_mappings(store: WooCommerceStore) -> QuerySet:
    """The store's (woo key, preference key) pairs, as JSON objects, one query (an
    `ArraySubquery` of it joins the subscription's mapping lock)."""
    return (
        WooPreferenceMapping.objects.filter(
            store=store,
            organization_id=store.organization_id,
            field__organization_id=store.organization_id,
        )
        .order_by("pk")
        .values(json=JSONObject(woo_key="woo_key", key="field__key"))
    )


def preferences_sync(
    *,
    store: WooCommerceStore,
    subscription: Subscription,
    payload: dict[str, Any],
    mappings: list[dict[str, str]] | None = None,
) -> list[reasons.Reason]:
    """Write the preference values the shop changed; the problems, one reason each.

    Runs inside the subscription's sync (under its mapping lock); never raises
    for a value the schema refuses. `mappings`: `preference_mappings`' rows, when
    already read.
    """
    if subscription.status in ENDED:
        return []
    if mappings is None:
        mappings = [row["json"] for row in preference_mappings(store)]
    mappings = [(row["woo_key"], row["key"]) for row in mappings]
    if not mappings:
        return []
    found = collect(mappings, payload)
    if not found:
        return []
    schema = preference_schema(organization=subscription.organization)
    specs = {spec.key: spec for spec in schema}
    problems: list[reasons.Reason] = []
    sent: dict[str, Any] = {}
    for key, texts in found.items():
        value, problem = shop_value(specs[key], texts)
        if problem:
            problems.append(problem)
        else:
            sent[key] = value
    previous = (
        SubscriptionPreference.objects.filter(subscription=subscription)
        .values_list("shop_values", flat=True)
        .first()
    ) or {}
    changed = {
        key: value
        for key, value in sent.items()
        if key not in previous or not same_value(specs[key], previous[key], value)
    }
    if not changed:
        return problems
    current = preferences_current(subscription=subscription, schema=schema)
    valid: dict[str, Any] = {}
    for key, value in changed.items():
        refused = _refusals(schema, current, key, value)
        if refused:
            problems.extend(
                reasons.reason("preference_refused", message=str(error.message))
                for error in refused
            )
        else:
            valid[key] = value
    if not valid:
        return problems
    try:
        preferences_update(
            subscription=subscription,
            values=valid,
            actor=base.actor(store),
            source=SOURCE,
            partial=True,
            shop_values={**previous, **valid},
        )
    except ApplicationError as error:  # e.g. another field is required and has no value
        fields = error.extra.get("fields", {})
        details = "; ".join(
            f"{key}: {' '.join(str(m) for m in messages)}" for key, messages in fields.items()
        )
        problems.append(
            reasons.reason("preferences_not_written", details=str(details or error.message))
        )
    return problems


def _refusals(
    schema: list[validation.FieldSpec], current: dict[str, Any], key: str, value: Any
) -> list[validation.PreferenceError]:
    """What the schema says against writing `value` to `key` alone (other fields aside)."""
    try:
        validation.validate(schema, current, {key: value}, partial=True)
    except validation.PreferenceErrors as errors:
        return errors.by_key().get(key, [])
    return []
