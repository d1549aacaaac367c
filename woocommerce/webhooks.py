"""The receiver: `POST /webhooks/woocommerce/<store uuid>/`.

It verifies, stores and answers (`woocommerce.services.delivery_receive`; the
HTTP checks are here); it never applies anything itself. WooCommerce
disables a webhook after a few failed deliveries and never retries, so every
well-signed delivery is kept (even one whose processing will fail) and
answered 200 at once; processing happens in a worker. Answers:

- over plain HTTP while `WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP` is off (production's
  default): 403 before anything else, nothing stored (the body carries customers'
  names and addresses; `request.is_secure()` trusts the proxy's header only when
  `SECURE_PROXY_SSL_HEADER` is configured);
- unknown or inactive shop: 404;
- a ping (`webhook_id=N`, form-encoded, unsigned, sent when a webhook is
  saved): 200;
- no signature, or not the signature of the raw body under the shop's
  secret (or its previous one, while rotating): 401, nothing stored;
- a body over `WOOCOMMERCE_MAX_BODY_BYTES`: 413, nothing stored;
- a `Content-Length` that is not a whole number: 400, nothing stored;
- otherwise 200, `{"message": "received", "extra": {"delivery": id}}`: the
  delivery is stored `received` and this process's relay (woocommerce/relay.py)
  publishes it to the broker after the answer, so the answer never waits on
  Redis; a duplicate (same shop, topic and body) answers 200 and adds nothing.

The shop is found without a database query on the hot path
(woocommerce/shop_cache.py): in this process's memory, else in Redis, else in
the database; forgotten by every process when the shop is saved or deleted, so
a new secret refuses the old one's signatures at once.

Never a redirect: WooCommerce counts a 301/302 as delivered, so both spellings
of the address (with and without the final slash) answer here.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from core.webhooks import bounded_body
from woocommerce.services import delivery_receive
from woocommerce.shop_cache import webhook_shop


def _error(message: str, status: int) -> Response:
    return Response({"message": message, "extra": {}}, status=status)


@extend_schema(exclude=True)
class WooCommerceWebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []  # the raw bytes are what is signed: never parsed here
    throttle_classes: list = []

    def post(self, request, store_uuid):
        if not request.is_secure() and not settings.WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP:
            return _error(
                "Webhooks are accepted over HTTPS only: make the webhook's delivery URL "
                "start with https://.",
                403,
            )
        shop = webhook_shop(store_uuid)
        if shop is None:
            return _error("Unknown shop.", 404)
        try:
            body = bounded_body(request, settings.WOOCOMMERCE_MAX_BODY_BYTES)
        except ApplicationError as refused:
            return _error(refused.message, refused.status)

        try:
            receipt = delivery_receive(shop=shop, body=body, headers=request.headers)
        except ApplicationError as refused:
            return _error(refused.message, refused.status)
        extra = {} if receipt.delivery_id is None else {"delivery": receipt.delivery_id}
        return Response({"message": receipt.message, "extra": extra})
