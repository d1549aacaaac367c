"""Explicit input and output serializers; the views call services with the input.

Ids in the input are resolved only among the rows of the API key's
organization (the view passes it in the serializer's context): another
organization's id is answered exactly like an unknown one.
"""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api import limits
from crm.models import Address, Contract, Customer, Product, Variant
from subscriptions.models import BillingPeriod, Charge, Subscription, SubscriptionEvent

# FSM transition -> the API action (URL segment) that performs it. A cancellation
# at period end (`schedule_cancel`) is the `cancel` action with `at_period_end`.
API_ACTIONS = {
    "pause": "pause",
    "resume": "resume",
    "skip": "skip",
    "change_schedule": "change-schedule",
    "change_items": "change-items",
    "cancel": "cancel",
    "withdraw_cancellation": "withdraw-cancellation",
    "skip_cycle": "skip-cycle",
    "unskip_cycle": "unskip-cycle",
    "move_next_date": "move-next-date",
}


def available_actions(subscription: Subscription) -> list[str]:
    """The API actions its status allows now; none for a subscription the shop manages."""
    if not subscription.is_native:
        return []
    allowed = {t.name for t in subscription.get_available_status_transitions()}
    # The services' rules beyond the status (subscriptions.services).
    if subscription.cancel_at_period_end:
        allowed.discard("change_items")
    if subscription.status == Subscription.Status.PAUSED and subscription.resume_at is None:
        allowed.discard("skip")
        allowed.discard("skip_cycle")
    if subscription.cancel_at_period_end:  # no later cycle is charged: nothing to reschedule
        allowed -= {"skip_cycle", "unskip_cycle", "move_next_date"}
    if not subscription.skipped_cycles:
        allowed.discard("unskip_cycle")
    return [action for transition, action in API_ACTIONS.items() if transition in allowed]


class OrganizationPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """An id among the rows of `context["organization"]` only."""

    def get_queryset(self):
        return super().get_queryset().filter(organization=self.context["organization"])


# --- Output --------------------------------------------------------------------


class SubscriptionCustomerSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="full_name", read_only=True)

    class Meta:
        model = Customer
        fields = ["id", "email", "name"]
        read_only_fields = fields


class SubscriptionProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "sku", "name"]
        read_only_fields = fields


class SubscriptionVariantSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True, help_text=_("Its options (“1 kg”)."))

    class Meta:
        model = Variant
        fields = ["id", "sku", "label"]
        read_only_fields = fields


class SubscriptionItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    product = SubscriptionProductSerializer(read_only=True)
    variant = SubscriptionVariantSerializer(
        read_only=True, allow_null=True, help_text=_("Null for a simple product.")
    )
    name = serializers.CharField(
        read_only=True, help_text=_("What goes in the box: “Espresso Blend - 1 kg”.")
    )
    sku = serializers.CharField(
        read_only=True, help_text=_("The variant's SKU, else the product's.")
    )
    quantity = serializers.IntegerField(read_only=True)
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2, read_only=True)


class SubscriptionSerializer(serializers.ModelSerializer):
    customer = SubscriptionCustomerSerializer(read_only=True)
    items = SubscriptionItemSerializer(many=True, read_only=True)
    next_due_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=_(
            "When the next charge will be made: for a paused subscription, the first cycle "
            "after its resume date (null with no resume date: not known)."
        ),
    )
    available_actions = serializers.SerializerMethodField(
        help_text=_("The actions allowed now, each the last segment of its URL.")
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "customer",
            "contract",
            "source",
            "status",
            "billing_period",
            "billing_interval",
            "billing_anchor",
            "started_at",
            "trial_ends_at",
            "current_period_start",
            "current_period_end",
            "next_charge_at",
            "next_due_at",
            "paused_at",
            "resume_at",
            "cancel_at_period_end",
            "canceled_at",
            "ended_at",
            "ends_at",
            "cancel_reason",
            "shipping_address",
            "billing_address",
            "currency",
            "adjustment",
            "skipped_cycles",
            "items",
            "available_actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=list(API_ACTIONS.values())))
    )
    def get_available_actions(self, subscription: Subscription) -> list[str]:
        return available_actions(subscription)


class SubscriptionEventSerializer(serializers.ModelSerializer):
    # "" for the creation, which has no status before it.
    from_status = serializers.ChoiceField(
        choices=Subscription.Status.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = SubscriptionEvent
        fields = [
            "id",
            "kind",
            "from_status",
            "to_status",
            "actor_kind",
            "actor_label",
            "reason",
            "data",
            "created_at",
        ]
        read_only_fields = fields
        # "" for an event that changes no status (the schema's enum would forbid it).
        extra_kwargs = {"to_status": {"allow_blank": True}}


class ChargeSerializer(serializers.ModelSerializer):
    refunded_amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        read_only=True,
        help_text=_(
            "Refunds recorded against this charge, partial ones added up; when it equals "
            "`amount`, the status is `refunded`. A WooCommerce order is refunded in the shop: "
            "its charge reads 0 here."
        ),
    )

    class Meta:
        model = Charge
        fields = [
            "id",
            "cycle",
            "period_start",
            "period_end",
            "amount",
            "adjustment",
            "currency",
            "status",
            "attempts",
            "next_retry_at",
            "failure_reason",
            "external_reference",
            "paid_at",
            "refunded_amount",
        ]
        read_only_fields = fields


# --- Input ---------------------------------------------------------------------

#: Upper bounds, so that a huge number is a 400 rather than a database error: the
#: quantity column's range, and a schedule whose dates stay within the calendar
#: (365 years from now is still a date; 32,767 is not).
QUANTITY_MAX = 2_147_483_647
BILLING_INTERVAL_MAX = 365


class SubscriptionItemInputSerializer(serializers.Serializer):
    product = OrganizationPrimaryKeyField(
        queryset=Product.objects.all(),
        required=False,
        help_text=_("A simple product; implied by `variant` when that is sent."),
    )
    variant = OrganizationPrimaryKeyField(
        queryset=Variant.objects.select_related("product"),
        required=False,
        help_text=_(
            "Required for a product sold by variant (one with variants); an active variant, "
            "unless the subscription holds it already."
        ),
    )
    quantity = serializers.IntegerField(min_value=1, max_value=QUANTITY_MAX, default=1)
    unit_price = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        allow_null=True,
        help_text=_("Defaults to the variant's price, else the product's."),
    )

    def validate(self, attrs):
        if attrs.get("product") is None and attrs.get("variant") is None:
            raise serializers.ValidationError(
                {"product": [_("Send a product or a variant.")]}, code="required"
            )
        return attrs

    @staticmethod
    def openapi_request_constraints(*, partial: bool) -> dict:
        # A product, a variant, or both (crm.api.schema.AutoSchema writes it into the schema).
        return {"anyOf": [{"required": ["product"]}, {"required": ["variant"]}]}


class SubscriptionCreateInputSerializer(serializers.Serializer):
    customer = OrganizationPrimaryKeyField(queryset=Customer.objects.all())
    items = SubscriptionItemInputSerializer(
        many=True,
        allow_empty=False,
        max_length=limits.ITEMS_MAX,
        help_text=_(
            "What each box holds; their total per cycle (quantity times price) is under "
            "100,000,000, what a charge can hold."
        ),
    )
    billing_period = serializers.ChoiceField(
        choices=BillingPeriod.choices, default=BillingPeriod.MONTH
    )
    billing_interval = serializers.IntegerField(
        min_value=1, max_value=BILLING_INTERVAL_MAX, default=1
    )
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    trial_ends_at = serializers.DateTimeField(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    shipping_address = OrganizationPrimaryKeyField(
        queryset=Address.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Defaults to the customer's first shipping address."),
    )
    contract = OrganizationPrimaryKeyField(
        queryset=Contract.objects.all(), required=False, allow_null=True
    )


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, max_length=500, default="")


class PauseInputSerializer(ReasonInputSerializer):
    resume_at = serializers.DateTimeField(
        allow_null=True,
        default=None,
        help_text=_(
            "Resume automatically then (a time in the future); leave empty to resume by hand."
        ),
    )


class ChangeScheduleInputSerializer(ReasonInputSerializer):
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices)
    billing_interval = serializers.IntegerField(min_value=1, max_value=BILLING_INTERVAL_MAX)


class ChangeItemsInputSerializer(ReasonInputSerializer):
    items = SubscriptionItemInputSerializer(
        many=True,
        allow_empty=False,
        max_length=limits.ITEMS_MAX,
        help_text=_(
            "What each box holds; their total per cycle (quantity times price) is under "
            "100,000,000, what a charge can hold."
        ),
    )


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    at_period_end = serializers.BooleanField(
        default=False,
        help_text=_("Cancel at the end of the paid period instead of now."),
    )


# --- The delivery schedule ---------------------------------------------------------------


class ScheduleBatchSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True, read_only=True, help_text=_("Null for a batch not opened yet.")
    )
    cycle_date = serializers.DateField(
        read_only=True, help_text=_("The batch's name: its cut-off's date.")
    )
    cutoff_at = serializers.DateTimeField(read_only=True)
    ships_on = serializers.DateField(read_only=True)
    status = serializers.ChoiceField(
        choices=["planned", "open", "locked", "dispatched", "completed"],
        read_only=True,
        help_text=_("`planned`: the calendar will open it."),
    )


class ScheduleCycleSerializer(serializers.Serializer):
    cycle = serializers.IntegerField(read_only=True)
    starts_at = serializers.DateTimeField(read_only=True, help_text=_("When it is charged."))
    state = serializers.ChoiceField(
        choices=["due", "skipped", "paused", "charging", "paid"],
        read_only=True,
        help_text=_(
            "`due`: will be charged, then shipped; `paused`: charged only if the subscription "
            "(paused with no resume date) is resumed now; `charging`: its charge is under way."
        ),
    )
    amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        allow_null=True,
        read_only=True,
        help_text=_(
            "What will be (or is being) charged, a carried adjustment included; null if skipped."
        ),
    )
    batch = ScheduleBatchSerializer(read_only=True, help_text=_("The batch it ships in."))
    locked = serializers.BooleanField(read_only=True, help_text=_("Held by a locked batch."))
    can_skip = serializers.BooleanField(read_only=True)
    can_unskip = serializers.BooleanField(read_only=True)


class CycleInputSerializer(ReasonInputSerializer):
    cycle = serializers.IntegerField(
        min_value=0,
        max_value=2147483647,
        required=False,
        help_text=_("The cycle's number (as the schedule lists it)."),
    )
    date = serializers.DateField(
        required=False,
        help_text=_("Or the local date the cycle starts on, in the organization's time zone."),
    )

    def validate(self, data):
        if ("cycle" in data) == ("date" in data):
            raise serializers.ValidationError(_("Give either a cycle number or a date."))
        return data

    @staticmethod
    def openapi_request_constraints(*, partial: bool) -> dict:
        # Exactly one of the two (crm.api.schema.AutoSchema writes it into the schema).
        return {"oneOf": [{"required": ["cycle"]}, {"required": ["date"]}]}


class MoveNextDateInputSerializer(ReasonInputSerializer):
    at = serializers.DateTimeField(
        help_text=_(
            "The next charge date: in the future, not before the end of the paid period, at "
            "most a year ahead and before a fixed term's end; the later cycles follow from it."
        )
    )


# --- Bulk actions and charge now (issue 25) -------------------------------------------------


class BulkInputSerializer(ReasonInputSerializer):
    action = serializers.ChoiceField(
        choices=["pause", "skip", "swap", "move-next-date"],
        help_text=_(
            "`pause` (optional `resume_at`), `skip` (the next box), `swap` (`from_product` or "
            "`from_variant` by `to_product` or `to_variant`), `move-next-date` (`at`)."
        ),
    )
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2147483647),
        allow_empty=False,
        max_length=limits.BULK_SUBSCRIPTIONS_MAX,
        help_text=_("The subscriptions' ids; another organization's is answered as not found."),
    )
    resume_at = serializers.DateTimeField(
        allow_null=True,
        default=None,
        help_text=_("`pause`: resume automatically then; empty to resume by hand."),
    )
    at = serializers.DateTimeField(
        required=False, help_text=_("`move-next-date`: the new next charge date.")
    )
    from_product = OrganizationPrimaryKeyField(
        queryset=Product.objects.all(),
        required=False,
        help_text=_("`swap`: replace this product (any of its variants)..."),
    )
    from_variant = OrganizationPrimaryKeyField(
        queryset=Variant.objects.all(),
        required=False,
        help_text=_("`swap`: ...or only this variant."),
    )
    to_product = OrganizationPrimaryKeyField(
        queryset=Product.objects.all(),
        required=False,
        help_text=_("`swap`: by this simple product..."),
    )
    to_variant = OrganizationPrimaryKeyField(
        queryset=Variant.objects.all(),
        required=False,
        help_text=_("`swap`: ...or by this active variant (its product implied)."),
    )

    def validate(self, attrs):
        action = attrs["action"]
        required = _("Required for this action.")
        if action == "move-next-date" and "at" not in attrs:
            raise serializers.ValidationError({"at": [required]}, code="required")
        if action == "swap":
            errors = {}
            if "from_product" not in attrs and "from_variant" not in attrs:
                errors["from_product"] = [required]
            if "to_product" not in attrs and "to_variant" not in attrs:
                errors["to_product"] = [required]
            if errors:
                raise serializers.ValidationError(errors, code="required")
        return attrs


class BulkDoneSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)


class BulkRefusedSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    reason = serializers.CharField(
        read_only=True, help_text=_("Why, as the action alone would answer; or not found.")
    )


class BulkResultSerializer(serializers.Serializer):
    done = BulkDoneSerializer(many=True, read_only=True)
    refused = BulkRefusedSerializer(many=True, read_only=True)
