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

The shop is found without a database query on the hot path: its id,
organization and (encrypted) secrets are cached by address key in the
`woocommerce_shops` cache (Redis, shared by every web process), forgotten when
the shop is saved or deleted (woocommerce/models.py), so a new secret refuses
the old one's signatures at once. Redis unavailable: the shop is read from the
database.

Never a redirect: WooCommerce counts a 301/302 as delivered, so both spellings
of the address (with and without the final slash) answer here.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig
from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.encryption import decrypt, encrypt
from woocommerce import payloads
from woocommerce.models import WebhookDelivery, WooCommerceStore
from woocommerce.relay import relay

logger = logging.getLogger(__name__)

SHOP_CACHE = settings.WOOCOMMERCE_SHOP_CACHE


@dataclass(frozen=True)
class WebhookShop:
    """What the receiver needs of a shop: enough to check a signature and store a row."""

    id: int
    organization_id: int
    webhook_secrets: list[str]


def _shop_key(store_uuid) -> str:
    return f"woo-shop:{store_uuid}"


def forget_cached_shop(store_uuid) -> None:
    try:
        caches[SHOP_CACHE].delete(_shop_key(store_uuid))
    except Exception:  # Redis unavailable: it serves nothing stale either, and entries expire
        logger.warning("shop cache: could not forget shop %s", store_uuid, exc_info=True)


def webhook_shop(store_uuid) -> WebhookShop | None:
    """The active shop of this address key: from the cache, else the database (then cached).

    The cache holds the secrets as stored (encrypted), never in clear.
    """
    cache, key = caches[SHOP_CACHE], _shop_key(store_uuid)
    try:
        cached = cache.get(key)
    except Exception:
        logger.warning("shop cache unavailable; reading the shop from the database")
        cached, cache = None, None
    if cached is not None:
        shop_id, organization_id, tokens = cached
        try:
            return WebhookShop(shop_id, organization_id, [decrypt(t) for t in tokens])
        except (ValueError, ImproperlyConfigured):  # its key left ENCRYPTION_KEYS: read again
            pass
    store = (
        WooCommerceStore.objects.filter(uuid=store_uuid, active=True)
        .only("id", "organization_id", "webhook_secret", "previous_webhook_secret")
        .first()
    )
    if store is None:
        return None
    secrets = store.webhook_secrets
    if cache is not None:
        try:
            cache.set(key, (store.pk, store.organization_id, [encrypt(s) for s in secrets]))
        except Exception:
            logger.warning("shop cache unavailable; the shop is not cached")
    return WebhookShop(store.pk, store.organization_id, secrets)


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
            with transaction.atomic():
                delivery.save(force_insert=True)
        except IntegrityError:  # this shop already sent this topic with this body
            return Response({"message": "duplicate", "extra": {}})
        pk, queue = delivery.pk, delivery.queue
        transaction.on_commit(lambda: relay.submit(pk, queue))
        return Response({"message": delivery.status, "extra": {"delivery": pk}})
