from django.urls import re_path

from woocommerce.webhooks import WooCommerceWebhookView

urlpatterns = [
    # The final slash is optional: a redirect would lose the delivery (see webhooks.py).
    re_path(
        r"^webhooks/woocommerce/(?P<store_uuid>[0-9a-fA-F-]{36})/?$",
        WooCommerceWebhookView.as_view(),
        name="woocommerce-webhook",
    ),
]
