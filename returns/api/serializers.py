"""Explicit input and output serializers of the returns API.

The input names rows by id; `returns.services` resolves them among the API
key's organization only, so another organization's shipment reads as unknown.
A few choice sets are plain strings with their values in the help text, so
that the schema keeps one name per choice set (`from_status` has the case's
statuses, already `ReturnCaseStatusEnum`).
"""

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api import limits
from crm.api.filters import ID_MAX
from fulfillment.api.serializers import LineItemSerializer
from returns.models import ReturnNote, ReturnReason, ReturnRequest
from subscriptions.api.serializers import SubscriptionCustomerSerializer

NOTE_MAX_LENGTH = 5000

# FSM transition -> the API action (last URL segment) that performs it.
TRANSITION_ACTIONS = {
    "approve": "approve",
    "reject": "reject",
    "receive": "receive",
    "resolve": "resolve",
    "cancel": "cancel",
}
ACTIONS = [*TRANSITION_ACTIONS.values(), "reassign", "confirm-shop-refund"]


def available_actions(case: ReturnRequest) -> list[str]:
    """The actions the case's status allows now (a note is always allowed)."""
    allowed = {t.name for t in case.get_available_status_transitions()}
    actions = [action for transition, action in TRANSITION_ACTIONS.items() if transition in allowed]
    if case.is_open:
        actions.append("reassign")
    if case.refund == ReturnRequest.Refund.TO_REFUND_IN_SHOP:
        actions.append("confirm-shop-refund")
    return actions


def _one_of(choices) -> str:
    return ", ".join(str(value) for value, _label in choices)


# --- Output --------------------------------------------------------------------------------


class ReturnReasonSerializer(serializers.ModelSerializer):
    label = serializers.CharField(
        source="display_label", help_text=_("In the request's language (Accept-Language).")
    )
    labels = serializers.DictField(
        child=serializers.CharField(), help_text=_("The label per language code.")
    )

    class Meta:
        model = ReturnReason
        fields = ["code", "label", "labels", "position"]
        read_only_fields = fields


class ReturnCaseReasonSerializer(serializers.ModelSerializer):
    label = serializers.CharField(
        source="display_label", help_text=_("In the request's language (Accept-Language).")
    )

    class Meta:
        model = ReturnReason
        fields = ["code", "label"]
        read_only_fields = fields


class ReturnAssigneeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The staff member's user id."))
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name", help_text=_("Empty when not given."))


class ReturnNoteSerializer(serializers.ModelSerializer):
    # Plain strings: the case's statuses are already `ReturnCaseStatusEnum` (of `status`).
    from_status = serializers.CharField(
        help_text=format_lazy(
            _("A status change's status before, one of: {choices}; empty otherwise."),
            choices=_one_of(ReturnRequest.Status.choices),
        )
    )
    to_status = serializers.CharField(
        help_text=_("A status change's status after; empty otherwise.")
    )
    data = serializers.DictField(
        child=serializers.JSONField(),
        help_text=_(
            "Details of the entry: the reason code and items when opened, the assignee's "
            "user id when assigned, the amount, charge and replacement line of a resolution."
        ),
    )

    class Meta:
        model = ReturnNote
        fields = [
            "id",
            "kind",
            "from_status",
            "to_status",
            "text",
            "actor_kind",
            "actor_label",
            "data",
            "created_at",
        ]
        read_only_fields = fields


class ReturnCaseSerializer(serializers.ModelSerializer):
    """A case as it stands, with its timeline (read from the selector's annotated row)."""

    customer = SubscriptionCustomerSerializer()
    reason = ReturnCaseReasonSerializer()
    items = LineItemSerializer(
        many=True, help_text=_("The products and quantities concerned; empty: the whole box.")
    )
    assignee = ReturnAssigneeSerializer(allow_null=True, help_text=_("null: nobody."))
    replacement_batch = serializers.SerializerMethodField()
    overdue = serializers.BooleanField(help_text=_("Open and past its due date."))
    available_actions = serializers.SerializerMethodField()
    timeline = ReturnNoteSerializer(
        source="notes", many=True, help_text=_("Notes and status changes, oldest first.")
    )

    class Meta:
        model = ReturnRequest
        fields = [
            "id",
            "status",
            "customer",
            "shipment",
            "line",
            "subscription",
            "reason",
            "description",
            "items",
            "assignee",
            "window_override",
            "resolution",
            "amount",
            "currency",
            "refund",
            "charge",
            "replacement_line",
            "replacement_batch",
            "overdue",
            "due_at",
            "opened_at",
            "closed_at",
            "updated_at",
            "available_actions",
            "timeline",
        ]
        read_only_fields = fields
        extra_kwargs = {
            # Read-only fields lose `allow_blank`: without it the schema's enum forbids "".
            "resolution": {"allow_blank": True},  # "" until resolved
            "line": {"help_text": _("The batch line (box) the shipment carried.")},
            "charge": {"help_text": _("The charge a refund was recorded against.")},
            "replacement_line": {
                "help_text": _("The replacement box: a line of the open batch when resolved.")
            },
            "window_override": {
                "help_text": _("Why a staff member accepted it outside the return window.")
            },
        }

    @extend_schema_field(
        serializers.IntegerField(
            allow_null=True, help_text=_("The batch the replacement box ships with.")
        )
    )
    def get_replacement_batch(self, case: ReturnRequest) -> int | None:
        line = case.replacement_line
        return None if line is None else line.batch_id

    @extend_schema_field(
        serializers.ListField(
            child=serializers.CharField(),
            help_text=format_lazy(
                _(
                    "The actions its status allows now, each the last segment of its URL: "
                    "{actions}. A note can always be added."
                ),
                actions=", ".join(ACTIONS),
            ),
        )
    )
    def get_available_actions(self, case: ReturnRequest) -> list[str]:
        return available_actions(case)


# --- Input ---------------------------------------------------------------------------------


class ReturnItemInputSerializer(serializers.Serializer):
    product = serializers.IntegerField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        help_text=_("A product's id; it must have been in the box."),
    )
    variant = serializers.IntegerField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        help_text=_(
            "A variant's id, from the box; needed when the box held several variants of "
            "the product (then `product` may be left out)."
        ),
    )
    quantity = serializers.IntegerField(
        min_value=1, default=1, help_text=_("At most what the box held.")
    )

    def validate(self, attrs):
        if attrs.get("product") is None and attrs.get("variant") is None:
            raise serializers.ValidationError(
                {"product": [_("Send a product or a variant.")]}, code="required"
            )
        return attrs

    @staticmethod
    def openapi_request_constraints(*, partial: bool) -> dict:
        # A product, a variant, or both.
        return {"anyOf": [{"required": ["product"]}, {"required": ["variant"]}]}


class ReturnOpenInputSerializer(serializers.Serializer):
    shipment = serializers.IntegerField(
        min_value=1, help_text=_("The shipment's id: one that has left.")
    )
    reason = serializers.CharField(
        max_length=50, help_text=_("A reason code, as `GET /return-reasons` lists them.")
    )
    description = serializers.CharField(
        allow_blank=True, default="", max_length=NOTE_MAX_LENGTH, help_text=_("What happened.")
    )
    items = ReturnItemInputSerializer(
        many=True,
        default=list,
        max_length=limits.ITEMS_MAX,
        help_text=_("The products concerned, from the box; empty or left out: the whole box."),
    )
    assignee = serializers.IntegerField(
        allow_null=True,
        required=False,
        min_value=1,
        help_text=_(
            "A staff member's user id; null: nobody; left out: the organization's default assignee."
        ),
    )
    override_reason = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=500,
        help_text=_(
            "Why a request outside the return window is accepted. Only a staff member (in the "
            "admin) can accept one: with an API key, a request outside the window is refused "
            "whatever this says."
        ),
    )


class ReturnActionInputSerializer(serializers.Serializer):
    note = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=NOTE_MAX_LENGTH,
        help_text=_("Written in the timeline."),
    )


class ReturnRejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=NOTE_MAX_LENGTH, help_text=_("Why: what the customer is told.")
    )


class ReturnCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        allow_blank=True, default="", max_length=NOTE_MAX_LENGTH, help_text=_("Why.")
    )


class ReturnResolveInputSerializer(serializers.Serializer):
    resolution = serializers.ChoiceField(
        choices=ReturnRequest.Resolution.choices,
        help_text=_(
            "refund: recorded against the box's charge, or for a WooCommerce order noted as to "
            "refund in the shop; credit: deducted from the next charge; replacement: a box "
            "with the items concerned (or the whole box) joins the open batch; none: nothing "
            "owed."
        ),
    )
    amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text=_(
            "In the subscription's currency. Required for a refund (at most the box's charge) "
            "or a credit; none otherwise."
        ),
    )
    note = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=NOTE_MAX_LENGTH,
        help_text=_("Written in the timeline."),
    )

    @staticmethod
    def openapi_request_constraints(*, partial: bool) -> dict:
        """A refund or a credit needs a positive amount; the others take none (or null)."""
        with_amount = [ReturnRequest.Resolution.REFUND, ReturnRequest.Resolution.CREDIT]
        without = [r for r in ReturnRequest.Resolution.values if r not in with_amount]
        positive = r"^(?:0*[1-9]\d{0,7}(?:\.\d{0,2})?|0*\.(?:[1-9]\d?|0[1-9]))$"
        return {
            "oneOf": [
                {
                    "properties": {
                        "resolution": {"enum": [str(r) for r in with_amount]},
                        "amount": {"type": "string", "pattern": positive},
                    },
                    "required": ["resolution", "amount"],
                },
                {
                    "properties": {
                        "resolution": {"enum": [str(r) for r in without]},
                        "amount": {"nullable": True, "enum": [None]},
                    },
                },
            ]
        }


class ReturnReassignInputSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(
        allow_null=True, min_value=1, help_text=_("A staff member's user id; null: nobody.")
    )


class ReturnNoteInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=NOTE_MAX_LENGTH, help_text=_("The note."))
