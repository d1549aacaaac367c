from django.urls import re_path

from carriers.webhooks import CarrierWebhookView

urlpatterns = [
    # The final slash is optional: a redirect would lose the delivery (see webhooks.py).
    re_path(
        r"^webhooks/carriers/(?P<token>[0-9a-fA-F-]{36})/?$",
        CarrierWebhookView.as_view(),
        name="carrier-webhook",
    ),
]
