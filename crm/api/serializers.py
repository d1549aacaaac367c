"""Explicit input and output serializers; the views call services with the input."""

from django.utils.translation import gettext_lazy as _
from django_countries.serializer_fields import CountryField
from rest_framework import serializers

from crm import services
from crm.api import limits
from crm.models import Address, Customer, Product


class AddressSerializer(serializers.ModelSerializer):
    country = CountryField()

    class Meta:
        model = Address
        fields = ["id", *services.ADDRESS_FIELDS]
        read_only_fields = ["id"]


class CustomerOutputSerializer(serializers.ModelSerializer):
    addresses = AddressSerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = ["id", *services.CUSTOMER_FIELDS, "addresses", "created_at", "updated_at"]


class CustomerInputSerializer(serializers.ModelSerializer):
    addresses = AddressSerializer(
        many=True,
        required=False,
        max_length=limits.ADDRESSES_MAX,
        help_text=_(
            "When sent, replaces the customer's addresses: each takes the place of a stored "
            "one of the same kind (edited in place), the rest are created, and the stored ones "
            "left over deleted; one a subscription ships to cannot be left out."
        ),
    )

    class Meta:
        model = Customer
        fields = [*services.CUSTOMER_FIELDS, "addresses"]
        # Uniqueness per organization is checked by the service, which knows
        # the organization; the model's constraint has no field validator here.
        validators = []


class ProductOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", *services.PRODUCT_FIELDS, "created_at", "updated_at"]


class ProductInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = list(services.PRODUCT_FIELDS)
        validators = []


class ErrorSerializer(serializers.Serializer):
    """The one error shape: field errors, when any, are under `extra.fields`."""

    message = serializers.CharField()
    extra = serializers.DictField()


#: The error answers of the schema, by status, for `extend_schema(responses=...)`.
UNAUTHORIZED = {401: ErrorSerializer}
INVALID = {400: ErrorSerializer}
NOT_FOUND = {404: ErrorSerializer}
CONFLICT = {409: ErrorSerializer}
