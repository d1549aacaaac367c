"""What subscriptions tells the layers above it, without importing them.

`charge_settled` is sent inside the transaction that records a charge as paid (the
subscription row locked): fulfillment moves the subscription's waiting batch lines to
`ready` in the same transaction (fulfillment/receivers.py), so a box never ships unpaid
and never waits for a charge already paid.
"""

from django.dispatch import Signal

charge_settled = Signal()  # sender: Subscription class; subscription_id=
