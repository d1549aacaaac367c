"""Query parameters of the subscription list; applied by `subscriptions.selectors`."""

import django_filters
from django.utils.translation import gettext_lazy as _

from crm.api.filters import IdFilter, IsoDateTimeFilter
from subscriptions.models import Subscription


class SubscriptionFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Subscription.Status.choices,
        label=_("Status (repeat the parameter for several)"),
    )
    customer = IdFilter(field_name="customer", label=_("Customer id"))
    source = django_filters.ChoiceFilter(choices=Subscription.Source.choices, label=_("Source"))
    next_charge_after = IsoDateTimeFilter(
        field_name="next_charge_at", lookup_expr="gte", label=_("Next charge at or after")
    )
    next_charge_before = IsoDateTimeFilter(
        field_name="next_charge_at", lookup_expr="lt", label=_("Next charge before")
    )
    q = django_filters.CharFilter(method="search", label=_("Search the customer's e-mail"))

    class Meta:
        model = Subscription
        fields = []

    def search(self, queryset, name, value):
        return queryset.filter(customer__email__icontains=value)
