"""The carriers API's input and output shapes."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers

from carriers.models import Parcel


class ParcelSerializer(serializers.ModelSerializer):
    line_code = serializers.CharField(source="code", read_only=True)
    shipment = serializers.SerializerMethodField()
    # Empty until labelled: not "uri" strings in the schema.
    tracking_url = serializers.CharField(read_only=True)
    label_url = serializers.CharField(read_only=True)

    class Meta:
        model = Parcel
        fields = [
            "id",
            "batch",
            "line",
            "line_code",
            "shipment",
            "state",
            "refusal",
            "weight_grams",
            "shipping_method",
            "carrier",
            "tracking_number",
            "tracking_url",
            "label_url",
            "platform_parcel_id",
            "carrier_status",
            "carrier_status_message",
            "carrier_status_at",
            "labelled_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_shipment(self, parcel: Parcel) -> int | None:
        try:
            return parcel.line.shipment.pk
        except ObjectDoesNotExist:  # labelled before the dispatch
            return None


class LabelsStartedSerializer(serializers.Serializer):
    operation = serializers.IntegerField(help_text="The id of the labels run (an operation).")
    status = serializers.CharField()


class LabelsPdfQuerySerializer(serializers.Serializer):
    lines = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=1000,
        help_text="Ids of the batch's lines (boxes) to print; all its outgoing boxes if absent.",
    )
