"""A box's shipping weight (pure: no Django import): its items, then the packaging."""

from __future__ import annotations

from collections.abc import Iterable


def box_weight_grams(
    items: Iterable[dict], *, packaging_grams: int, unit_weights: dict | None = None
) -> tuple[int, list[str]]:
    """(grams, items without a weight): the sum of each item's unit weight times its
    quantity, plus the packaging.

    An item frozen with its unit weight (`weight_grams`) uses it; an older one is
    looked up in `unit_weights` by (product, variant).
    """
    total = packaging_grams
    missing = []
    for item in items:
        if "weight_grams" in item:
            unit = item["weight_grams"]
        else:
            unit = (unit_weights or {}).get((item.get("product"), item.get("variant")))
        if unit is None:
            missing.append(str(item.get("sku") or item.get("name") or item.get("product")))
            continue
        total += int(unit) * int(item.get("quantity") or 0)
    return total, missing
