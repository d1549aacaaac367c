"""The small forms the admin's transition buttons ask for before calling a service.

Each takes an optional `subscription` keyword: the admin passes the subscription
acted on so the form can start from its current values and offer only what is
possible now. Dates are entered in the current time zone, which the admin sets
to the subscription's organization's.
"""

from __future__ import annotations

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import can_proceed

from crm.models import Product, Variant
from subscriptions.models import BillingPeriod


class SubscriptionActionForm(forms.Form):
    def __init__(self, *args, subscription=None, **kwargs):
        self.subscription = subscription
        super().__init__(*args, **kwargs)


class ReasonForm(SubscriptionActionForm):
    """For the actions that need nothing but an optional note (resume, skip)."""

    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class PauseForm(SubscriptionActionForm):
    resume_at = forms.DateTimeField(
        label=_("Resume automatically on"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Leave empty to resume by hand."),
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class ChangeScheduleForm(SubscriptionActionForm):
    billing_interval = forms.IntegerField(label=_("Every"), min_value=1, initial=1)
    billing_period = forms.ChoiceField(label=_("Period"), choices=BillingPeriod.choices)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)

    def __init__(self, *args, subscription=None, **kwargs):
        super().__init__(*args, subscription=subscription, **kwargs)
        if subscription is not None:
            self.fields["billing_interval"].initial = subscription.billing_interval
            self.fields["billing_period"].initial = subscription.billing_period


class CancelForm(SubscriptionActionForm):
    WHEN = [("now", _("Now")), ("period_end", _("At the end of the paid period"))]

    when = forms.ChoiceField(label=_("When"), choices=WHEN, initial="period_end")
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args, subscription=None, **kwargs):
        super().__init__(*args, subscription=subscription, **kwargs)
        if subscription is None:
            return
        field = self.fields["when"]
        if subscription.cancel_at_period_end or not can_proceed(subscription.schedule_cancel):
            # Pending and past-due subscriptions have no paid period to wait for.
            field.choices = [("now", _("Now"))]
            field.initial = "now"
        elif subscription.current_period_end is not None:
            end = formats.date_format(
                timezone.localtime(subscription.current_period_end), "DATETIME_FORMAT"
            )
            field.choices = [
                ("now", _("Now")),
                ("period_end", _("At the end of the paid period (%(date)s)") % {"date": end}),
            ]


class ChargeFailureForm(forms.Form):
    """Asked by the charges' "Mark failed" action."""

    reason = forms.CharField(
        label=_("Failure reason"),
        max_length=500,
        help_text=_("Recorded on each charge and in the subscription's history."),
    )


class MoveNextDateForm(forms.Form):
    """The schedule table's "move the next date" (subscriptions.admin)."""

    at = forms.DateTimeField(
        label=_("New next charge date"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class BulkMoveNextDateForm(MoveNextDateForm):
    """The subscription list's "change the next date" (subscriptions.admin.bulk)."""

    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class SwapForm(forms.Form):
    """The subscription list's "swap a product": what to replace, and by what, among one
    organization's products and variants (`organization`)."""

    replace = forms.ChoiceField(label=_("Replace"))
    by = forms.ChoiceField(
        label=_("By"),
        help_text=_(
            "A variant of a product sold by variant, or a simple product. The new item "
            "keeps the quantity and takes the new price; the change is pro-rated."
        ),
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        products = Product.objects.filter(organization=organization).order_by("name", "pk")
        variants = (
            Variant.objects.filter(organization=organization)
            .select_related("product")
            .order_by("product__name", "position", "pk")
        )
        replace = [(f"p{p.pk}", _("%(product)s (any variant)") % {"product": p}) for p in products]
        replace += [(f"v{v.pk}", str(v)) for v in variants]
        by = [(f"p{p.pk}", str(p)) for p in products]
        by += [(f"v{v.pk}", str(v)) for v in variants if v.active]
        self.fields["replace"].choices = [("", "---------"), *replace]
        self.fields["by"].choices = [("", "---------"), *by]

    @staticmethod
    def _ids(value: str, side: str) -> dict[str, int]:
        kind = "variant" if value.startswith("v") else "product"
        return {f"{side}_{kind}": int(value[1:])}

    def swap_arguments(self) -> dict[str, int]:
        """`services.swap_for`'s keyword arguments."""
        return {
            **self._ids(self.cleaned_data["replace"], "from"),
            **self._ids(self.cleaned_data["by"], "to"),
        }
