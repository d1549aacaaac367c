"""Query parameters of the case list; applied by `returns.selectors`."""

import django_filters
from django.utils.translation import gettext_lazy as _

from crm.api.filters import IdFilter, StrictBooleanFilter
from returns.models import ReturnRequest


class ReturnRequestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=ReturnRequest.Status.choices, label=_("Status (repeat the parameter for several)")
    )
    reason = django_filters.CharFilter(
        field_name="reason__code", label=_("Reason code, as `GET /return-reasons` lists them")
    )
    assignee = IdFilter(field_name="assignee", label=_("Assignee's user id"))
    # `overdue` is the selector's annotation: open and past its due date.
    overdue = StrictBooleanFilter(
        field_name="overdue", label=_("Open and past its due date (true), or not (false)")
    )
    customer = IdFilter(field_name="customer", label=_("Customer id"))
    shipment = IdFilter(field_name="shipment", label=_("Shipment id"))
    subscription = IdFilter(field_name="subscription", label=_("Subscription id"))

    class Meta:
        model = ReturnRequest
        fields = []
