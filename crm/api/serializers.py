"""Explicit input and output serializers; the views call services with the input."""

from django.utils.translation import gettext_lazy as _
from django_countries.serializer_fields import CountryField
from rest_framework import serializers

from crm import services
from crm.api import limits
from crm.api.filters import ID_MAX
from crm.models import (
    ATTRIBUTE_TEXT_MAX,
    ATTRIBUTES_MAX,
    Address,
    Customer,
    Product,
    Variant,
)


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


class VariantAttributeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=ATTRIBUTE_TEXT_MAX, help_text=_("e.g. Weight"))
    option = serializers.CharField(max_length=ATTRIBUTE_TEXT_MAX, help_text=_("e.g. 1 kg"))


class VariantOutputSerializer(serializers.ModelSerializer):
    attributes = VariantAttributeSerializer(many=True, read_only=True)
    label = serializers.CharField(
        read_only=True, help_text=_("The options as shoppers read them (“1 kg”).")
    )
    weight_grams = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text=_(
            "The variant's net weight, else the product's: what the production plan counts."
        ),
    )

    class Meta:
        model = Variant
        fields = [
            "id",
            "sku",
            "label",
            "attributes",
            "unit_price",
            "net_weight_grams",
            "weight_grams",
            "active",
            "position",
        ]
        read_only_fields = fields


class VariantInputSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        help_text=_("A variant of this product to update; leave out to create one."),
    )
    attributes = VariantAttributeSerializer(
        many=True, required=False, max_length=ATTRIBUTES_MAX, help_text=_("In the shop's order.")
    )
    position = serializers.IntegerField(
        min_value=0,
        max_value=32767,
        required=False,
        help_text=_("Defaults to the variant's place in the list."),
    )

    class Meta:
        model = Variant
        fields = ["id", "sku", "attributes", "unit_price", "net_weight_grams", "active", "position"]
        validators = []


class ProductOutputSerializer(serializers.ModelSerializer):
    variants = VariantOutputSerializer(
        many=True,
        read_only=True,
        help_text=_(
            "Empty for a simple product. A product with variants is sold through them only "
            "(retired ones have `active` false)."
        ),
    )

    class Meta:
        model = Product
        fields = [
            "id",
            *services.PRODUCT_FIELDS,
            "net_weight_grams",
            "variants",
            "created_at",
            "updated_at",
        ]


class ProductInputSerializer(serializers.ModelSerializer):
    variants = VariantInputSerializer(
        many=True,
        required=False,
        max_length=limits.VARIANTS_MAX,
        help_text=_(
            "When sent, the product's variants become these, in this order: an entry with an "
            "`id` updates that variant, one without creates a variant, and a variant left out "
            "is retired (`active` false; never deleted, boxes name it). A SKU is unique in the "
            "organization among products and variants (409)."
        ),
    )

    class Meta:
        model = Product
        fields = [*services.PRODUCT_FIELDS, "net_weight_grams", "variants"]
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
