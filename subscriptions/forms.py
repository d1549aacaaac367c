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
