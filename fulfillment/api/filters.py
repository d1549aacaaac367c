"""Query parameters of the fulfillment lists; applied by `fulfillment.selectors`.

A line's preferences are filtered with `pref.<key>=<value>` parameters, whose
names depend on the organization's schema: `preference_filter` reads them, not a
FilterSet.
"""

from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from crm.api.filters import IdFilter
from fulfillment.models import Batch, BatchLine, Shipment
from preferences import validation


class BatchFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Batch.Status.choices, label=_("Status (repeat the parameter for several)")
    )
    cycle_date_after = django_filters.DateFilter(
        field_name="cycle_date", lookup_expr="gte", label=_("Cycle on or after this date")
    )
    cycle_date_before = django_filters.DateFilter(
        field_name="cycle_date", lookup_expr="lt", label=_("Cycle before this date")
    )

    class Meta:
        model = Batch
        fields = []


class BatchLineFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=BatchLine.Status.choices, label=_("Status (repeat the parameter for several)")
    )
    product = IdFilter(method="with_product", label=_("Product id: lines whose box holds it"))

    class Meta:
        model = BatchLine
        fields = []

    def with_product(self, queryset, name, value):
        # `items` is the snapshot [{"product": id, ...}]: JSON containment finds the id.
        return queryset.filter(items__contains=[{"product": int(value)}])


class ShipmentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Shipment.Status.choices, label=_("Status (repeat the parameter for several)")
    )
    batch = IdFilter(field_name="batch", label=_("Batch id"))
    tracking_number = django_filters.CharFilter(
        lookup_expr="iexact", label=_("Tracking number (exact, any case)")
    )

    class Meta:
        model = Shipment
        fields = []


# --- Preferences: `pref.<key>=<value>` ----------------------------------------------------

PREFERENCE_PARAMETER = "pref."


def _preference_value(spec: validation.FieldSpec, raw: str) -> Any:
    """The stored JSON a `pref.<key>=<raw>` parameter stands for; ValueError if none can."""
    if spec.type == validation.BOOLEAN:
        word = raw.strip().lower()
        if word in validation.TRUE_WORDS:
            return True
        if word in validation.FALSE_WORDS:
            return False
        raise ValueError(gettext("Expected true or false."))
    if spec.type == validation.INTEGER:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(gettext("Expected a whole number.")) from None
    if spec.type == validation.MULTI_CHOICE:
        return [raw]  # the line's list holds this choice (among others)
    return raw


def preference_filter(
    filters: Mapping[str, Any], schema: list[validation.FieldSpec] | None
) -> Q | None:
    """`pref.<key>=<value>` parameters as one condition on the lines' preference snapshots.

    Several keys must all match; a key repeated matches any of its values; a
    multi-choice matches lines whose list holds the value. A key the
    organization's schema does not know, or a value of the wrong type, is
    refused. `schema` may be None when there is no such parameter.
    """
    names = [name for name in filters if name.startswith(PREFERENCE_PARAMETER)]
    if not names:
        return None
    specs = {spec.key: spec for spec in schema or []}
    condition, errors = Q(), {}
    for name in names:
        key = name[len(PREFERENCE_PARAMETER) :]
        raws = filters.getlist(name) if hasattr(filters, "getlist") else [filters[name]]
        raws = [raw for raw in raws if raw != ""]
        if not raws:
            continue
        spec = specs.get(key)
        if spec is None:
            errors[name] = [gettext("There is no such preference.")]
            continue
        any_value = Q()
        for raw in raws:
            try:
                any_value |= Q(preferences__contains={key: _preference_value(spec, raw)})
            except ValueError as exc:
                errors.setdefault(name, []).append(str(exc))
        condition &= any_value
    if errors:
        raise ApplicationError(gettext("Invalid input."), {"fields": errors})
    return condition


def has_preference_filter(filters: Mapping[str, Any] | None) -> bool:
    return bool(filters) and any(name.startswith(PREFERENCE_PARAMETER) for name in filters)
