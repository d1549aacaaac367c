"""A subscriber's change of a subscription's shipping address, from the portal.

Preferences need nothing here: `preferences.services.preferences_update` takes the customer
as its actor and "portal" as its source. An address does: staff point a subscription at one
of the customer's addresses (`subscriptions.services.subscription_change_details`), while a
subscriber types the address itself. This service turns what they typed into one of the
customer's addresses and points the subscription at it through that same service, so the
change is an "address changed" event naming the customer, which is how a batch reads where
a box went at its cut-off (fulfillment/snapshots.py): a box whose cut-off has passed keeps
the address of its snapshot. The address row shipped before is never edited (another
subscription, or a batch not yet locked, may read it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core import clock
from core.actors import Actor
from core.cycles import cycle_at
from core.errors import ApplicationError, ConflictError
from crm.models import Address
from subscriptions.models import Subscription
from subscriptions.services import subscription_change_details

ENDED = (Subscription.Status.CANCELED, Subscription.Status.EXPIRED)


@dataclass(frozen=True)
class AddressChange:
    subscription: Subscription
    changed: bool
    #: The first box (cycle date) shipped to the new address.
    box: date  # the day the first box going to the new address ships


@transaction.atomic
def subscription_address_set(
    *,
    subscription: Subscription,
    content: dict[str, Any],
    actor: Actor,
    now: datetime | None = None,
) -> AddressChange:
    """Ship the subscription's boxes to the address `content` (Address.CONTENT_FIELDS) from
    the cut-off still ahead at `now`.

    Refused, nothing written: an ended subscription (it ships nothing more), a subscription
    the WooCommerce shop manages (its address is the shop's), an address the model's rules
    refuse (`extra.fields` names the fields). The same address again changes nothing.
    """
    # Read again, locked: its status and address as they are now (two tabs, a staff edit).
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("organization", "shipping_address")
        .get(pk=subscription.pk)
    )
    if subscription.status in ENDED:
        raise ConflictError(
            _("The subscription has ended; its shipping address can no longer change."),
            {"status": subscription.status},
        )
    if not subscription.is_native:
        message = _("This subscription's shipping address is the shop's: change it in WooCommerce.")
        raise ConflictError(
            message, {"source": subscription.source, "fields": {"shipping_address": [message]}}
        )
    candidate = Address(
        organization_id=subscription.organization_id,
        customer_id=subscription.customer_id,
        kind=Address.Kind.SHIPPING,
        **{name: content.get(name) or "" for name in Address.CONTENT_FIELDS},
    )
    try:
        candidate.full_clean(exclude=["customer"])
    except ValidationError as exc:
        raise ApplicationError(_("Invalid input."), {"fields": exc.message_dict}) from exc
    now = now or clock.now()
    effective = cycle_at(organization=subscription.organization, at=now).ships_on
    wanted = candidate.snapshot()
    current = subscription.shipping_address
    if current is not None and current.snapshot() == wanted:
        return AddressChange(subscription=subscription, changed=False, box=effective)
    same = [
        address
        for address in Address.objects.filter(
            organization_id=subscription.organization_id,
            customer_id=subscription.customer_id,
            kind=Address.Kind.SHIPPING,
        ).order_by("id")
        if address.snapshot() == wanted
    ]
    address = same[0] if same else candidate
    if not same:
        address.save()
    subscription = subscription_change_details(
        subscription=subscription, actor=actor, shipping_address=address
    )
    return AddressChange(subscription=subscription, changed=True, box=effective)
