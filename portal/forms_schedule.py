"""The forms of the portal's schedule pages (portal/views/schedule.py).

They parse what the subscriber chose among what is offered; every rule (a resume date
in the future, the schedule already in place, a product sold by variant...) is the
service's, whose refusal the view shows on the form.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import formats
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import Organization
from portal.selectors import frequency_label, money
from portal.selectors_schedule import FREQUENCIES, SwapChoice
from subscriptions.models import Subscription

#: A subscriber pauses for at most this long (a longer break is a cancellation).
PAUSE_MAX = timedelta(days=365)


class ScheduleForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PauseForm(ScheduleForm):
    until = forms.DateField(
        label=_("Resume on"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Your subscription starts again on this date; nothing is charged before."),
    )

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        widget = self.fields["until"].widget
        widget.attrs["min"] = (today + timedelta(days=1)).isoformat()
        widget.attrs["max"] = (today + PAUSE_MAX).isoformat()

    def clean_until(self) -> date:
        until = self.cleaned_data["until"]
        # A past date is the service's to refuse ("must be in the future"); the bound is ours.
        if until > self.today + PAUSE_MAX:
            raise forms.ValidationError(
                _("A pause lasts at most a year: choose a date before %(date)s.")
                % {"date": formats.date_format(self.today + PAUSE_MAX, "j F Y")}
            )
        return until

    def resume_at(self, organization: Organization) -> datetime:
        """The start of the chosen day in the organization's time zone."""
        return datetime.combine(self.cleaned_data["until"], time.min, tzinfo=organization.tzinfo)


class FrequencyForm(ScheduleForm):
    frequency = forms.ChoiceField(label=_("How often"), widget=forms.RadioSelect)

    def __init__(self, *args, subscription: Subscription, **kwargs):
        super().__init__(*args, **kwargs)
        current = (subscription.billing_period, subscription.billing_interval)
        offered = list(FREQUENCIES)
        if current not in offered:
            offered.insert(0, current)
        choices = []
        for period, interval in offered:
            label = frequency_label(period, interval)
            if (period, interval) == current:
                label = _("%(frequency)s (your current frequency)") % {"frequency": label}
            choices.append((f"{period}-{interval}", label))
        self.fields["frequency"].choices = choices
        self.fields["frequency"].initial = f"{current[0]}-{current[1]}"

    def schedule(self) -> tuple[str, int]:
        period, interval = self.cleaned_data["frequency"].rsplit("-", 1)
        return period, int(interval)


class SwapForm(ScheduleForm):
    replace = forms.ChoiceField(label=_("Product to replace"))
    by = forms.ChoiceField(label=_("Replace it with"), widget=forms.RadioSelect)

    def __init__(self, *args, subscription: Subscription, choices: list[SwapChoice], **kwargs):
        super().__init__(*args, **kwargs)
        self.items = list(subscription.items.all())
        self.offered = {choice.key: choice for choice in choices}
        currency = subscription.currency
        self.fields["replace"].choices = [
            (
                str(item.pk),
                _("%(quantity)s x %(name)s (%(price)s each)")
                % {
                    "quantity": item.quantity,
                    "name": item.name,
                    "price": money(item.unit_price, currency),
                },
            )
            for item in self.items
        ]
        if len(self.items) == 1:
            self.fields["replace"].widget = forms.HiddenInput()
            self.fields["replace"].initial = str(self.items[0].pk)
        only = self.items[0] if len(self.items) == 1 else None
        held = {(item.product_id, item.variant_id) for item in self.items}
        by = []
        for choice in choices:
            if (choice.product.pk, choice.variant.pk if choice.variant else None) in held:
                continue  # what the box holds already
            label = _("%(name)s, %(price)s") % {
                "name": choice.name,
                "price": money(choice.unit_price, currency),
            }
            if only is not None:
                difference = (choice.unit_price - only.unit_price) * only.quantity
                if difference:
                    label = _("%(choice)s: %(difference)s per delivery") % {
                        "choice": label,
                        "difference": ("+" if difference > 0 else "-")
                        + money(abs(difference), currency),
                    }
                else:
                    label = _("%(choice)s: same price") % {"choice": label}
            by.append((choice.key, label))
        self.fields["by"].choices = by

    def replaced(self):
        return next(item for item in self.items if str(item.pk) == self.cleaned_data["replace"])

    def replacement(self) -> SwapChoice:
        return self.offered[self.cleaned_data["by"]]

    def swap_arguments(self) -> dict[str, int]:
        """`subscriptions.services.swap_for`'s keyword arguments."""
        item, choice = self.replaced(), self.replacement()
        if item.variant_id:
            old = {"from_variant": item.variant_id}
        else:
            old = {"from_product": item.product_id}
        if choice.variant is not None:
            new = {"to_variant": choice.variant.pk}
        else:
            new = {"to_product": choice.product.pk}
        return {**old, **new}


class CancelForm(ScheduleForm):
    REASONS = [
        ("too_much", _("I receive more than I use")),
        ("price", _("It costs too much")),
        ("taste", _("The products do not suit me")),
        ("delivery", _("Deliveries do not suit me")),
        ("break", pgettext_lazy("cancel reason", "I need a break")),
        ("other", _("Another reason")),
    ]

    reason = forms.ChoiceField(label=_("Why are you leaving?"), choices=REASONS)
    note = forms.CharField(
        label=_("Anything to add? (optional)"),
        required=False,
        max_length=400,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def reason_text(self) -> str:
        """The reason as staff read it in the history: the choice, then the note."""
        label = str(dict(self.REASONS)[self.cleaned_data["reason"]])
        note = self.cleaned_data["note"].strip()
        return f"{label}: {note}" if note else label
