"""Fulfillment's answers to what the layers below it announce (connected in apps.ready)."""

from django.dispatch import receiver

from fulfillment.services import lines_payment_refresh
from subscriptions.signals import charge_settled


@receiver(charge_settled, dispatch_uid="fulfillment.lines_follow_payment")
def lines_follow_payment(sender, *, subscription_id: int, **kwargs) -> None:
    """A paid charge: the subscription's lines waiting for it may ship."""
    lines_payment_refresh(subscription_id=subscription_id)
