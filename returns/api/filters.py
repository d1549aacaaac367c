"""Query parameters of the case list; applied by `returns.api.selectors`."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from returns.models import ReturnRequest


class StrictBooleanField(forms.Field):
    """true or false (1 or 0); anything else is an error, not "no filter"."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        word = str(value).strip().lower()
        if word in ("true", "1"):
            return True
        if word in ("false", "0"):
            return False
        raise forms.ValidationError(_("Expected true or false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class ReturnRequestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=ReturnRequest.Status.choices, label=_("Status (repeat the parameter for several)")
    )
    reason = django_filters.CharFilter(
        field_name="reason__code", label=_("Reason code, as `GET /return-reasons` lists them")
    )
    assignee = django_filters.NumberFilter(field_name="assignee", label=_("Assignee's user id"))
    # `overdue` is the selector's annotation: open and past its due date.
    overdue = StrictBooleanFilter(
        field_name="overdue", label=_("Open and past its due date (true), or not (false)")
    )
    customer = django_filters.NumberFilter(field_name="customer", label=_("Customer id"))
    shipment = django_filters.NumberFilter(field_name="shipment", label=_("Shipment id"))
    subscription = django_filters.NumberFilter(
        field_name="subscription", label=_("Subscription id")
    )

    class Meta:
        model = ReturnRequest
        fields = []
