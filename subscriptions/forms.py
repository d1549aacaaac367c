"""The small forms the admin's transition buttons ask for before calling a service."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from subscriptions.models import BillingPeriod


class PauseForm(forms.Form):
    resume_at = forms.DateTimeField(
        label=_("Resume automatically on"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Leave empty to resume by hand."),
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class ChangeScheduleForm(forms.Form):
    billing_interval = forms.IntegerField(label=_("Every"), min_value=1, initial=1)
    billing_period = forms.ChoiceField(label=_("Period"), choices=BillingPeriod.choices)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class CancelForm(forms.Form):
    WHEN = [("now", _("Now")), ("period_end", _("At the end of the paid period"))]

    when = forms.ChoiceField(label=_("When"), choices=WHEN, initial="period_end")
    reason = forms.CharField(label=_("Reason"), max_length=500)
