"""Explicit input and output serializers of the satisfaction API.

A survey never shows its token: the token is the customer's key to the public
survey page, and an integration has no use for it. The NPS report is built by
`satisfaction.selectors.nps_report`; its serializers document and render it.
"""

from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from crm.models import Customer
from satisfaction.models import SatisfactionSurvey, ScoreBand
from satisfaction.selectors import (
    DECIMALS,
    DEFAULT_DAYS,
    default_period,
    longest_period_end,
)

# --- Surveys -------------------------------------------------------------------------------


class SurveyCustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "first_name", "last_name", "email"]
        read_only_fields = fields


class SurveySerializer(serializers.ModelSerializer):
    customer = SurveyCustomerSerializer()
    band = serializers.ChoiceField(
        choices=ScoreBand.choices,
        allow_null=True,
        help_text=_("promoter (9-10), passive (7-8) or detractor (0-6); null: no answer."),
    )
    needs_follow_up = serializers.BooleanField(
        help_text=_("A detractor's answer with a comment, not followed up yet.")
    )
    canceled_reason = serializers.CharField(
        read_only=True,
        help_text=_(
            "Why a canceled survey was not sent, in the request's language, with the note."
        ),
    )

    class Meta:
        model = SatisfactionSurvey
        fields = [
            "id",
            "status",
            "score",
            "band",
            "comment",
            "language",
            "customer",
            "subscription",
            "shipment",
            "delivered_at",
            "send_at",
            "sent_at",
            "expires_at",
            "answered_at",
            "answer_changed_at",
            "cancel_reason",
            "canceled_reason",
            "needs_follow_up",
            "followed_up_at",
            "return_request",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "score": {"help_text": _("0 to 10, the latest the customer gave; null: no answer.")},
            "language": {"help_text": _("The language the customer was asked in.")},
            "shipment": {"help_text": _("The delivered shipment the survey asks about.")},
            "send_at": {"help_text": _("When it is (or was) due to be e-mailed.")},
            "expires_at": {"help_text": _("The customer can answer until then; set when sent.")},
            "answered_at": {"help_text": _("The first answer's time: the NPS counts it then.")},
            "answer_changed_at": {"help_text": _("The last time the customer changed it.")},
            # allow_blank: "" unless canceled (the schema's enum would forbid it otherwise).
            "cancel_reason": {
                "help_text": _("Why a canceled survey was not sent, as a code."),
                "allow_blank": True,
            },
            "return_request": {
                "help_text": _("The after-sales case opened from the answer, if any.")
            },
        }


class SurveyCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=SatisfactionSurvey._meta.get_field("canceled_note").max_length,
        help_text=_("Why; blank: the API key's name is recorded."),
    )


# --- The NPS report ------------------------------------------------------------------------


class NpsQuerySerializer(serializers.Serializer):
    """The period of the report: the organization's days, both included."""

    start = serializers.DateField(
        required=False,
        help_text=format_lazy(
            _("First day (YYYY-MM-DD, the organization's time). Default: {days} days before end."),
            days=DEFAULT_DAYS - 1,
        ),
    )
    end = serializers.DateField(
        required=False,
        help_text=_(
            "Last day, included. Default: today. At most two years from start: the day "
            "before the start's date two years later."
        ),
    )

    def validate(self, attrs):
        default_start, default_end = default_period(organization=self.context["organization"])
        end = attrs.get("end") or default_end
        start = attrs.get("start") or end - (default_end - default_start)
        if start > end:
            raise serializers.ValidationError(
                {
                    "start": [
                        gettext("The start is after the end (%(end)s).") % {"end": end.isoformat()}
                    ]
                }
            )
        last = longest_period_end(start)
        if end > last:
            raise serializers.ValidationError(
                {
                    "end": [
                        gettext("A period is at most two years: end on %(last)s at the latest.")
                        % {"last": last.isoformat()}
                    ]
                }
            )
        return {"start": start, "end": end}


NPS_HELP = format_lazy(
    _(
        "Net Promoter Score in points, -100 to 100, rounded to {decimals} decimals; "
        "null: no answer."
    ),
    decimals=DECIMALS,
)
MARGIN_HELP = format_lazy(
    _(
        "Half the width of its 95 % confidence interval, in points, rounded to {decimals} "
        "decimals; null: no answer."
    ),
    decimals=DECIMALS,
)


class NpsFiguresSerializer(serializers.Serializer):
    """The figures of a set of answers; a subclass names the fields it shows before them."""

    first_fields: tuple[str, ...] = ()

    answers = serializers.IntegerField(help_text=_("Answers counted."))
    promoters = serializers.IntegerField(help_text=_("Answers of 9 or 10."))
    passives = serializers.IntegerField(help_text=_("Answers of 7 or 8."))
    detractors = serializers.IntegerField(help_text=_("Answers of 0 to 6."))
    nps = serializers.FloatField(allow_null=True, help_text=NPS_HELP)
    margin_of_error = serializers.FloatField(allow_null=True, help_text=MARGIN_HELP)

    def get_fields(self):
        # Declared fields of a base class come first; a row reads better by what it is about.
        fields = super().get_fields()
        first = {name: fields.pop(name) for name in self.first_fields}
        return {**first, **fields}


class NpsWeekSerializer(NpsFiguresSerializer):
    first_fields = ("week",)

    week = serializers.DateField(help_text=_("The week's Monday (the organization's time)."))


class NpsVariantSerializer(NpsFiguresSerializer):
    first_fields = ("variant", "name")

    variant = serializers.IntegerField(help_text=_("The variant's id."))
    name = serializers.CharField(help_text=_("Its name as the boxes had it (“Espresso - 1 kg”)."))


class NpsProductSerializer(NpsFiguresSerializer):
    first_fields = ("product", "name")

    product = serializers.IntegerField(help_text=_("The product's id."))
    name = serializers.CharField(help_text=_("Its name as the boxes had it."))
    variants = NpsVariantSerializer(
        many=True,
        help_text=_(
            "The NPS of the boxes holding each of its variants, most answered first "
            "(empty for a simple product)."
        ),
    )


class NpsPreferenceSerializer(NpsFiguresSerializer):
    first_fields = ("field", "field_label", "value", "value_label")

    field = serializers.CharField(help_text=_("The preference's key."))
    field_label = serializers.CharField(help_text=_("In the request's language (Accept-Language)."))
    value = serializers.CharField(
        help_text=_("The value the boxes had, as text (true or false for a yes/no preference).")
    )
    value_label = serializers.CharField(help_text=_("In the request's language (Accept-Language)."))


class NpsReportSerializer(NpsFiguresSerializer):
    """The report: the period's figures, then its weeks, scores, products and preferences."""

    first_fields = ("start", "end", "timezone")

    start = serializers.DateField(help_text=_("First day of the period."))
    end = serializers.DateField(help_text=_("Last day of the period, included."))
    timezone = serializers.CharField(help_text=_("The organization's time zone (IANA name)."))
    sent = serializers.IntegerField(help_text=_("Surveys e-mailed in the period."))
    response_rate = serializers.FloatField(
        allow_null=True,
        help_text=format_lazy(
            _(
                "Percent of the surveys e-mailed in the period that were answered, rounded to "
                "{decimals} decimals; null: none e-mailed."
            ),
            decimals=DECIMALS,
        ),
    )
    weeks = NpsWeekSerializer(
        many=True,
        help_text=_("Every week from the start's to the end's, oldest first, empty ones too."),
    )
    distribution = serializers.ListField(
        child=serializers.IntegerField(),
        min_length=11,
        max_length=11,
        help_text=_("How many answers gave each score: 11 counts, for 0 to 10."),
    )
    products = NpsProductSerializer(
        many=True, help_text=_("Per product the surveyed boxes held, most answered first.")
    )
    preferences = NpsPreferenceSerializer(
        many=True,
        help_text=_(
            "Per value of each choice, multi-choice and yes/no preference as the surveyed "
            "boxes had it, in the schema's order."
        ),
    )
