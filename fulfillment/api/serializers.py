"""Explicit input and output serializers of the fulfillment API.

Output serializers render rows (or plain values the view prepares); the
views call services with the validated input. A few choice sets are plain
strings with their values in the help text, so that the schema keeps one
name per choice set (`available_actions` is already the subscriptions' enum).
"""

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api import limits
from fulfillment import parcels
from fulfillment.models import Batch, BatchLine, Shipment, line_code
from fulfillment.selectors import line_count_name
from preferences.api.serializers import PreferenceRowSerializer
from preferences.selectors import preference_rows
from subscriptions.api.serializers import SubscriptionCustomerSerializer
from subscriptions.models import Charge

# FSM transition -> the API action (last URL segment) that performs it.
BATCH_ACTIONS = {"lock": "lock", "dispatch": "dispatch", "complete": "complete", "cancel": "cancel"}
SHIPMENT_ACTIONS = {
    "ship": "ship",
    "deliver": "deliver",
    "mark_returned": "return",
    "mark_lost": "lose",
}


def _actions_field(actions: dict[str, str]) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(),
        help_text=format_lazy(
            _("The actions its status allows now, each the last segment of its URL: {actions}."),
            actions=", ".join(actions.values()),
        ),
    )


def _available(row, actions: dict[str, str]) -> list[str]:
    allowed = {t.name for t in row.get_available_status_transitions()}
    return [action for transition, action in actions.items() if transition in allowed]


# --- Totals: the preview and the production plan ----------------------------------------


class PlanRowSerializer(serializers.Serializer):
    product = serializers.IntegerField(source="product_id", help_text=_("The product's id."))
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    kilograms = serializers.DecimalField(
        max_digits=14,
        decimal_places=3,
        allow_null=True,
        help_text=_(
            "Quantity times the net weight (the variant's, else the product's); null when "
            "there is none."
        ),
    )


class PlanVariantSerializer(PlanRowSerializer):
    variant = serializers.IntegerField(source="variant_id", help_text=_("The variant's id."))


class PlanProductSerializer(PlanRowSerializer):
    variants = PlanVariantSerializer(
        many=True,
        help_text=_(
            "The product's total per variant, with the variant's SKU and name (empty for a "
            "simple product)."
        ),
    )


class PlanPreferenceSerializer(PlanRowSerializer):
    field = serializers.CharField(help_text=_("The preference's key."))
    field_label = serializers.CharField(help_text=_("In the request's language (Accept-Language)."))
    value = serializers.JSONField(allow_null=True, help_text=_("null: no value given."))
    value_display = serializers.CharField(help_text=_("The value as a person reads it."))


class ProductionPlanSerializer(serializers.Serializer):
    batch = serializers.IntegerField(help_text=_("The batch's id."))
    live = serializers.BooleanField(
        help_text=_(
            "True while the batch is open: the totals are what locking it now would freeze. "
            "Otherwise they are those of its lines (excluded and rolled ones left out)."
        )
    )
    as_of = serializers.DateTimeField(help_text=_("The instant the boxes' content is read at."))
    boxes = serializers.IntegerField()
    products = PlanProductSerializer(many=True, help_text=_("The total of each product."))
    by_preference = PlanPreferenceSerializer(
        many=True,
        help_text=_(
            "The total of each product per value of each one-choice and yes/no preference "
            "(for a roaster: kilograms of each coffee per grind)."
        ),
    )


class BatchPreviewSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        help_text=_("Now, or the cut-off once it has passed (the lock task has not run yet).")
    )
    boxes = serializers.IntegerField(
        help_text=_(
            "The boxes locking the batch now would freeze: the lines already in it and the "
            "cycles that start before now."
        )
    )
    paid = serializers.IntegerField(help_text=_("Boxes whose cycle is paid."))
    awaiting_payment = serializers.IntegerField(help_text=_("Boxes not paid yet."))
    moved_if_locked_now = serializers.IntegerField(
        help_text=_(
            "Boxes due before the scheduled cut-off whose cycle starts after now: locking the "
            "batch now would move them to the next batch (0 once the cut-off has passed)."
        )
    )
    products = PlanProductSerializer(many=True, help_text=_("The quantity of each product."))


# --- Batches -----------------------------------------------------------------------------


class LineCountsSerializer(serializers.Serializer):
    """The number of lines of a batch in each status (read from the annotated row)."""

    awaiting_payment = serializers.IntegerField(source=line_count_name("awaiting_payment"))
    ready = serializers.IntegerField(source=line_count_name("ready"))
    prepared = serializers.IntegerField(source=line_count_name("prepared"))
    shipped = serializers.IntegerField(source=line_count_name("shipped"))
    excluded = serializers.IntegerField(source=line_count_name("excluded"))
    rolled = serializers.IntegerField(source=line_count_name("rolled"))


class BatchSerializer(serializers.ModelSerializer):
    line_counts = LineCountsSerializer(source="*")
    available_actions = serializers.SerializerMethodField()
    preview = serializers.SerializerMethodField()

    class Meta:
        model = Batch
        fields = [
            "id",
            "cycle_date",
            "starts_at",
            "cutoff_at",
            "ships_on",
            "status",
            "locked_at",
            "dispatched_at",
            "completed_at",
            "line_counts",
            "available_actions",
            "preview",
        ]
        read_only_fields = fields

    @extend_schema_field(_actions_field(BATCH_ACTIONS))
    def get_available_actions(self, batch: Batch) -> list[str]:
        return _available(batch, BATCH_ACTIONS)

    @extend_schema_field(
        BatchPreviewSerializer(
            allow_null=True,
            help_text=_(
                "An open batch's live content, on `GET /batches/{id}` only; "
                "null in lists and once the batch is locked."
            ),
        )
    )
    def get_preview(self, batch: Batch):
        preview = self.context.get("previews", {}).get(batch.pk)
        return None if preview is None else BatchPreviewSerializer(preview).data


class DispatchReportSerializer(serializers.Serializer):
    shipped = serializers.IntegerField(help_text=_("Shipments created, one per prepared line."))
    rolled = serializers.IntegerField(help_text=_("Lines moved to the next batch."))
    excluded = serializers.IntegerField(help_text=_("Lines left out, with a reason."))
    next_batch = serializers.IntegerField(
        allow_null=True, help_text=_("The batch the rolled lines went to, if any.")
    )


class BatchDispatchSerializer(serializers.Serializer):
    batch = BatchSerializer()
    report = DispatchReportSerializer()


class DispatchInputSerializer(serializers.Serializer):
    carrier = serializers.CharField(
        max_length=100,
        allow_blank=True,
        default="",
        help_text=_("Of every shipment; defaults to the organization's default carrier."),
    )


# --- Lines -------------------------------------------------------------------------------


class AddressSnapshotSerializer(serializers.Serializer):
    # Read-only: a key missing from an old snapshot is left out, not an error.
    name = serializers.CharField(read_only=True)
    company = serializers.CharField(read_only=True)
    line1 = serializers.CharField(read_only=True)
    line2 = serializers.CharField(read_only=True)
    postcode = serializers.CharField(read_only=True)
    city = serializers.CharField(read_only=True)
    state = serializers.CharField(
        read_only=True, help_text=_("State or region, where the country has them.")
    )
    country = serializers.CharField(read_only=True, help_text=_("ISO 3166 code."))
    phone = serializers.CharField(read_only=True)


class LineItemSerializer(serializers.Serializer):
    # Boxes frozen before variants have no variant, product name or weight keys.
    product = serializers.IntegerField(read_only=True, help_text=_("The product's id."))
    variant = serializers.IntegerField(
        read_only=True, allow_null=True, help_text=_("The variant's id; null for a simple product.")
    )
    sku = serializers.CharField(
        read_only=True, help_text=_("The variant's SKU, else the product's.")
    )
    name = serializers.CharField(
        read_only=True, help_text=_("What goes in the box: “Espresso Blend - 1 kg”.")
    )
    product_sku = serializers.CharField(read_only=True)
    product_name = serializers.CharField(read_only=True)
    quantity = serializers.IntegerField(read_only=True)
    weight_grams = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text=_("Net weight of one unit at the cut-off (the variant's, else the product's)."),
    )

    def to_representation(self, instance):
        # A box frozen before variants: a simple product's, weight not kept.
        if isinstance(instance, dict) and "product_name" not in instance:
            instance = {
                "variant": None,
                "product_sku": instance.get("sku", ""),
                "product_name": instance.get("name", ""),
                "weight_grams": None,
                **instance,
            }
        return super().to_representation(instance)


class LineChargeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Charge
        fields = ["id", "status"]
        read_only_fields = fields


class BatchLineSerializer(serializers.ModelSerializer):
    code = serializers.CharField(
        help_text=_("The code printed on the packing slip: the id and a check digit.")
    )
    customer = SubscriptionCustomerSerializer()
    charge = LineChargeSerializer(
        allow_null=True, help_text=_("The cycle's charge; null while it has none yet.")
    )
    address = AddressSnapshotSerializer(
        allow_null=True, help_text=_("Where the box goes, as it stood at the cut-off.")
    )
    items = LineItemSerializer(many=True, help_text=_("What the box holds, at the cut-off."))
    preferences = serializers.DictField(
        child=serializers.JSONField(),
        help_text=_("Preference key to value, at the cut-off (defaults filled in)."),
    )
    preferences_display = serializers.SerializerMethodField()

    class Meta:
        model = BatchLine
        fields = [
            "id",
            "code",
            "batch",
            "subscription",
            "customer",
            "kind",
            "cycle",
            "status",
            "charge",
            "address",
            "items",
            "preferences",
            "preferences_display",
            "reason",
            "rolled_from",
            "prepared_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        PreferenceRowSerializer(
            many=True,
            help_text=_(
                "The values in the schema's order with their labels, in the request's "
                "language (Accept-Language)."
            ),
        )
    )
    def get_preferences_display(self, line: BatchLine):
        rows = preference_rows(self.context["schema"], line.preferences or {})
        return PreferenceRowSerializer(rows, many=True).data


class ExcludeInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text=_("Why the box is left out."))


class BulkPrepareInputSerializer(serializers.Serializer):
    lines = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        max_length=limits.BULK_IDS_MAX,
        required=False,
        help_text=_("Line ids."),
    )
    codes = serializers.ListField(
        child=serializers.CharField(max_length=20),
        allow_empty=False,
        max_length=limits.BULK_IDS_MAX,
        required=False,
        help_text=_("Codes as scanned from the packing slips."),
    )

    def validate(self, data):
        if ("lines" in data) == ("codes" in data):
            raise serializers.ValidationError(_("Give either `lines` or `codes`."))
        return data

    @staticmethod
    def openapi_request_constraints(*, partial: bool) -> dict:
        # Exactly one of the two (crm.api.schema.AutoSchema writes it into the schema).
        return {"oneOf": [{"required": ["lines"]}, {"required": ["codes"]}]}


class BulkLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()


class BulkRefusalSerializer(BulkLineSerializer):
    reason = serializers.CharField()


class BulkPrepareSerializer(serializers.Serializer):
    done = BulkLineSerializer(many=True, help_text=_("Lines now prepared."))
    refused = BulkRefusalSerializer(
        many=True, help_text=_("Lines left as they were, each with why.")
    )


# --- Shipments ---------------------------------------------------------------------------


class ShipmentParcelSerializer(serializers.Serializer):
    """The box's parcel on the carrier platform (`fulfillment.parcels.LineParcel`)."""

    state = serializers.CharField(
        help_text=_("The label's state: pending, labelled or refused (by the platform).")
    )
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    tracking_url = serializers.CharField(help_text=_("The carrier's tracking page; may be empty."))
    carrier_status = serializers.CharField(help_text=_("The platform's last status code."))
    carrier_status_message = serializers.CharField(help_text=_("The platform's last status."))
    carrier_status_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When the carrier reported the last status.")
    )


class ShipmentListSerializer(serializers.ListSerializer):
    """The shipments of a page, their parcels read in one query for all of them."""

    def to_representation(self, data):
        rows = list(data.all() if hasattr(data, "all") else data)
        self.child.line_parcels = parcels.parcels_of_lines(line_ids=[row.line_id for row in rows])
        return super().to_representation(rows)


class ShipmentSerializer(serializers.ModelSerializer):
    line_code = serializers.SerializerMethodField()
    customer = SubscriptionCustomerSerializer()
    address = AddressSnapshotSerializer(allow_null=True)
    # Empty unless a carrier platform labelled the box: not a "uri" string in the schema.
    tracking_url = serializers.CharField(read_only=True)
    parcel = serializers.SerializerMethodField(
        help_text=_(
            "The box's parcel on the carrier platform: label, tracking and the carrier's "
            "last status; null when the box was not labelled through a carrier account."
        )
    )
    available_actions = serializers.SerializerMethodField()

    #: By line id, when a list read them all at once (`ShipmentListSerializer`).
    line_parcels: dict[int, parcels.LineParcel] | None = None

    class Meta:
        model = Shipment
        list_serializer_class = ShipmentListSerializer
        fields = [
            "id",
            "batch",
            "line",
            "line_code",
            "customer",
            "carrier",
            "tracking_number",
            "tracking_url",
            "parcel",
            "status",
            "address",
            "shipped_at",
            "delivered_at",
            "closed_at",
            "available_actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_line_code(self, shipment: Shipment) -> str:
        return line_code(shipment.line_id)

    @extend_schema_field(ShipmentParcelSerializer(allow_null=True))
    def get_parcel(self, shipment: Shipment) -> dict | None:
        found = self.line_parcels
        if found is None:
            found = parcels.parcels_of_lines(line_ids=[shipment.line_id])
        parcel = found.get(shipment.line_id)
        return ShipmentParcelSerializer(parcel).data if parcel is not None else None

    @extend_schema_field(_actions_field(SHIPMENT_ACTIONS))
    def get_available_actions(self, shipment: Shipment) -> list[str]:
        return _available(shipment, SHIPMENT_ACTIONS)


class ShipmentUpdateInputSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=100, allow_blank=True, required=False)
    tracking_number = serializers.CharField(max_length=100, allow_blank=True, required=False)

    def validate(self, data):
        if not data:
            raise serializers.ValidationError(_("Give `carrier` or `tracking_number`."))
        return data

    @staticmethod
    def openapi_request_constraints(*, partial: bool) -> dict:
        # At least one of the two: an empty PATCH is refused.
        return {"anyOf": [{"required": ["carrier"]}, {"required": ["tracking_number"]}]}
