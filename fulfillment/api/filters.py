"""Query parameters of the fulfillment lists; applied by `fulfillment.api.selectors`.

A line's preferences are filtered with `pref.<key>=<value>` parameters, whose
names depend on the organization's schema: `selectors.preference_filter`
reads them, not a FilterSet.
"""

import django_filters
from django.utils.translation import gettext_lazy as _

from crm.api.filters import IdFilter
from fulfillment.models import Batch, BatchLine, Shipment


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
