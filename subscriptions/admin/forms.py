"""The subscription page's forms: they validate what staff typed, and call nothing."""

from __future__ import annotations

from django import forms
from django.contrib.admin import widgets
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.tenant_admin import TenantInlineFormSet
from subscriptions.models import Subscription


def shop_notice() -> str:
    return _(
        "This subscription is managed in the WooCommerce shop: pause, cancel or change it "
        "there, and the change will be synchronized here. It cannot be changed from this page."
    )


class SubscriptionAddForm(forms.ModelForm):
    """What `subscription_create` takes, besides the items (the inline)."""

    started_at = forms.SplitDateTimeField(
        label=gettext_lazy("Start"),
        required=False,
        widget=widgets.AdminSplitDateTime,
        help_text=gettext_lazy("Leave empty to start now."),
    )

    class Meta:
        model = Subscription
        fields = [
            "organization",
            "customer",
            "contract",
            "shipping_address",
            "billing_period",
            "billing_interval",
            "started_at",
            "trial_ends_at",
            "ends_at",
        ]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization")
        if organization is not None:
            # The widgets read dates in the current time zone; staff mean the organization's.
            for name in ("started_at", "trial_ends_at", "ends_at"):
                value = cleaned.get(name)
                if value is not None:
                    cleaned[name] = timezone.make_aware(
                        timezone.make_naive(value), organization.tzinfo
                    )
        return cleaned


class SubscriptionItemFormSet(TenantInlineFormSet):
    """The items inline: validates the rows; the admin hands `items()` to the service."""

    #: What the service did, said once the whole page is saved (ServicePageAdminMixin).
    saved_messages: list[str]

    def __init__(self, *args, **kwargs):
        self.saved_messages = []
        # The admin's change message reads these; the rows are written by the service.
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        super().__init__(*args, **kwargs)

    def items(self) -> list[dict]:
        """The new item list as the services take it (deleted and empty rows left out)."""
        items = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or (self.can_delete and self._should_delete_form(form)):
                continue
            items.append(
                {
                    "product": data.get("product"),
                    "variant": data.get("variant"),
                    "quantity": data["quantity"],
                    "unit_price": data.get("unit_price"),
                }
            )
        return items
