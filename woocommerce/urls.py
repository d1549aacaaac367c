from django.urls import re_path

from woocommerce.webhooks import ADDRESS, receive

urlpatterns = [
    # The final slash is optional: a redirect would lose the delivery (see webhooks.py).
    # WebhookReceiverMiddleware answers this address before the URLconf is read; the
    # route keeps its name for `reverse` and serves a project without the middleware.
    re_path(rf"^{ADDRESS}$", receive, name="woocommerce-webhook"),
]
