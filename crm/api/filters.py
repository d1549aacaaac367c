"""Query parameters of the customer and product lists, the filters every list shares, and
`filtered`: how every selector applies a list's query parameters (an invalid one is a 400)."""

from collections.abc import Mapping
from datetime import UTC
from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from core.errors import ApplicationError
from crm.models import Customer, Product, Variant


def filtered(
    filterset_class: type[django_filters.FilterSet],
    filters: Mapping[str, Any] | None,
    queryset: QuerySet,
) -> QuerySet:
    """`queryset` narrowed by a list's query parameters through `filterset_class`.

    An invalid parameter is refused (400, naming each field and its errors), never
    silently ignored. `filters` None: the queryset as it is.
    """
    if filters is None:
        return queryset
    filterset = filterset_class(filters, queryset=queryset)
    if not filterset.is_valid():
        raise ApplicationError(
            gettext("Invalid input."),
            {"fields": {name: list(errors) for name, errors in filterset.errors.items()}},
        )
    return filterset.qs


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


class IdField(forms.IntegerField):
    """Digits only: Django's IntegerField also reads "1.0" as 1."""

    def to_python(self, value):
        if value not in self.empty_values and not str(value).strip().isdecimal():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


#: Ids are PostgreSQL bigints from 1.
ID_MAX = 2**63 - 1


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": ID_MAX})
class IdFilter(django_filters.NumberFilter):
    """A row's id: a whole number from 1 (1.5 is refused, not rounded; 0 and -3 too)."""

    field_class = IdField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, compared in UTC.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: a query
    with `+22:00` was a 500. In UTC any offset is fine; a time too close to year 1
    or 9999 to convert is an input error.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search e-mail or name"))
    email = django_filters.CharFilter(lookup_expr="iexact")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Customer
        fields = ["language"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
        )


class ProductFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search", label=_("Search SKU (the product's or a variant's) or name")
    )
    active = StrictBooleanFilter()
    variant_sku = django_filters.CharFilter(
        method="with_variant_sku", label=_("The product having the variant of this SKU")
    )

    class Meta:
        model = Product
        fields = ["active", "sku"]

    def search(self, queryset, name, value):
        variants = Variant.objects.filter(product=OuterRef("pk"), sku__icontains=value)
        return queryset.filter(
            Q(sku__icontains=value) | Q(name__icontains=value) | Q(Exists(variants))
        )

    def with_variant_sku(self, queryset, name, value):
        return queryset.filter(Exists(Variant.objects.filter(product=OuterRef("pk"), sku=value)))
