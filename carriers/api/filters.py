"""Query parameters of the parcels list; applied by `carriers.selectors.parcel_list`."""

import django_filters
from django.utils.translation import gettext_lazy as _

from carriers.models import Parcel
from crm.api.filters import IdFilter


class ParcelFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=Parcel.State.choices, label=_("Label state (repeat the parameter for several)")
    )
    batch = IdFilter(field_name="batch", label=_("Batch id"))
    line = IdFilter(field_name="line", label=_("Line id"))

    class Meta:
        model = Parcel
        fields = []
