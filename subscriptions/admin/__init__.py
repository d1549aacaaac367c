"""The back office's subscription pages: every write goes through the services.

The parts: `subscriptions` (the list, the change and add pages), `schedule`
(the next cycles and their buttons), `actions` (the status buttons), `bulk` (the
list's bulk actions), `inlines`,
`forms`, `charges` and `settings`. Charges and billing settings are registered
here; the subscription's page is registered by the back office
(`dashboard.admin`), which adds the other apps' inlines to `SubscriptionAdmin`.
"""

from subscriptions.admin.charges import ChargeAdmin
from subscriptions.admin.forms import SubscriptionAddForm, SubscriptionItemFormSet, shop_notice
from subscriptions.admin.inlines import (
    ChargeInline,
    EventInline,
    SubscriptionItemInline,
    SubscriptionNoteInline,
    event_details,
)
from subscriptions.admin.settings import BillingSettingsAdmin
from subscriptions.admin.subscriptions import SubscriptionAdmin

__all__ = [
    "BillingSettingsAdmin",
    "ChargeAdmin",
    "ChargeInline",
    "EventInline",
    "SubscriptionAddForm",
    "SubscriptionAdmin",
    "SubscriptionItemFormSet",
    "SubscriptionItemInline",
    "SubscriptionNoteInline",
    "event_details",
    "shop_notice",
]
