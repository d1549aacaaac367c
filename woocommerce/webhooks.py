"""The receiver: `POST /webhooks/woocommerce/<store uuid>/`.

It verifies, stores and answers; it never applies anything itself. WooCommerce
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

import hashlib
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from woocommerce import payloads
from woocommerce.models import WebhookDelivery
from woocommerce.relay import relay
from woocommerce.shop_cache import webhook_shop

logger = logging.getLogger(__name__)

KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-WC-Webhook-Source",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
)


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
        store = webhook_shop(store_uuid)
        if store is None:
            return _error("Unknown shop.", 404)
        limit = settings.WOOCOMMERCE_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = -1
        if declared < 0:  # Django would raise reading the body: a 500
            return _error("Invalid Content-Length.", 400)
        if declared > limit:
            return _error(f"The body is larger than {limit} bytes.", 413)
        try:
            body = request._request.body
        except RequestDataTooBig:
            return _error(f"The body is larger than {limit} bytes.", 413)
        if len(body) > limit:
            return _error(f"The body is larger than {limit} bytes.", 413)

        headers = request.headers
        signature = headers.get("X-WC-Webhook-Signature", "")
        if not signature and payloads.ping_webhook_id(body) is not None:
            return Response({"message": "pong", "extra": {}})
        if not signature:
            return _error("Missing X-WC-Webhook-Signature.", 401)
        if not payloads.signature_matches(body, signature, store.webhook_secrets):
            logger.warning("webhook for store %s: bad signature", store.id)
            return _error("The signature does not match the body.", 401)

        resource = headers.get("X-WC-Webhook-Resource", "")[:32]
        event = headers.get("X-WC-Webhook-Event", "")[:32]
        topic = headers.get("X-WC-Webhook-Topic", "")[:64] or f"{resource}.{event}"
        try:
            webhook_id = int(headers.get("X-WC-Webhook-ID", ""))
        except ValueError:
            webhook_id = None
        delivery = WebhookDelivery(
            organization_id=store.organization_id,
            store_id=store.id,
            topic=topic,
            resource=resource or topic.partition(".")[0],
            event=event or topic.partition(".")[2],
            webhook_id=webhook_id,
            delivery_id=headers.get("X-WC-Webhook-Delivery-ID", "")[:64],
            headers={name: headers[name][:500] for name in KEPT_HEADERS if name in headers},
            body=body,
            body_sha256=hashlib.sha256(body).hexdigest(),
            # The relay publishes it once committed and marks it `queued`.
            status=WebhookDelivery.Status.RECEIVED,
        )
        try:
            if transaction.get_connection().in_atomic_block:
                with transaction.atomic():  # a savepoint: a duplicate must not break the caller
                    delivery.save(force_insert=True)
            else:  # autocommit: one INSERT, no BEGIN / COMMIT round trips
                delivery.save(force_insert=True)
        except IntegrityError:  # this shop already sent this topic with this body
            return Response({"message": "duplicate", "extra": {}})
        pk, queue = delivery.pk, delivery.queue
        transaction.on_commit(lambda: relay.submit(pk, queue))
        return Response({"message": delivery.status, "extra": {"delivery": pk}})
