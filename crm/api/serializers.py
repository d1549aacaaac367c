"""Explicit input and output serializers; the views call services with the input."""

from django_countries.serializer_fields import CountryField
from rest_framework import serializers

from crm.models import Address, Customer, Product


class AddressSerializer(serializers.ModelSerializer):
    country = CountryField()

    class Meta:
        model = Address
        fields = [
            "id",
            "kind",
            "name",
            "company",
            "line1",
            "line2",
            "postcode",
            "city",
            "country",
            "phone",
        ]
        read_only_fields = ["id"]


class CustomerOutputSerializer(serializers.ModelSerializer):
    addresses = AddressSerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "language",
            "addresses",
            "created_at",
            "updated_at",
        ]


class CustomerInputSerializer(serializers.ModelSerializer):
    addresses = AddressSerializer(many=True, required=False)

    class Meta:
        model = Customer
        fields = ["email", "first_name", "last_name", "phone", "language", "addresses"]
        # Uniqueness per organization is checked by the service, which knows
        # the organization; the model's constraint has no field validator here.
        validators = []


class ProductOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "description",
            "unit_price",
            "active",
            "created_at",
            "updated_at",
        ]


class ProductInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["sku", "name", "description", "unit_price", "active"]
        validators = []


class ErrorSerializer(serializers.Serializer):
    """The one error shape: field errors, when any, are under `extra.fields`."""

    message = serializers.CharField()
    extra = serializers.DictField()
