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
- a method other than POST: 405;
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

A bare path (issue 26): `WebhookReceiverMiddleware` stands first in `MIDDLEWARE`
and answers the receiver's address itself, so a delivery skips the rest of the
stack (sessions, authentication, locale, CSRF, CSP...: nothing a shop's server
posting signed JSON uses) and the URL resolver. What still applies: the
`ALLOWED_HOSTS` check (400), Django's request signals (the database connection's
age and health checks), and `X-Content-Type-Options: nosniff` on the answer.
The URLconf keeps the same view at the same address (its name, `reverse`, a
project that leaves the middleware out).

Never a redirect: WooCommerce counts a 301/302 as delivered, so both spellings
of the address (with and without the final slash) answer here.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from core.errors import ApplicationError
from core.webhooks import bounded_body
from woocommerce.services import delivery_receive
from woocommerce.shop_cache import webhook_shop

#: The receiver's address (woocommerce/urls.py routes the same pattern).
ADDRESS = r"webhooks/woocommerce/(?P<store_uuid>[0-9a-fA-F-]{36})/?"
_PATH = re.compile(rf"^/{ADDRESS}$")


def _answer(message: str, status: int = 200, extra: dict | None = None) -> HttpResponse:
    """The receiver's JSON answer, `{"message", "extra"}` (never translated: the shop's)."""
    response = HttpResponse(
        json.dumps({"message": message, "extra": extra or {}}),
        content_type="application/json",
        status=status,
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@csrf_exempt  # signed by the shop, not posted by a browser: the signature is the check
def receive(request, store_uuid: str) -> HttpResponse:
    if request.method != "POST":
        response = _answer(f'Method "{request.method}" not allowed.', 405)
        response["Allow"] = "POST"
        return response
    if not request.is_secure() and not settings.WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP:
        return _answer(
            "Webhooks are accepted over HTTPS only: make the webhook's delivery URL "
            "start with https://.",
            403,
        )
    shop = webhook_shop(store_uuid)
    if shop is None:
        return _answer("Unknown shop.", 404)
    try:
        body = bounded_body(request, settings.WOOCOMMERCE_MAX_BODY_BYTES)
        receipt = delivery_receive(shop=shop, body=body, headers=request.headers)
    except ApplicationError as refused:
        return _answer(refused.message, refused.status)
    extra = {} if receipt.delivery_id is None else {"delivery": receipt.delivery_id}
    return _answer(receipt.message, extra=extra)


class WebhookReceiverMiddleware:
    """First in `MIDDLEWARE`: the receiver's address is answered here, before the rest."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        match = _PATH.match(request.path_info)
        if match is None:
            return self.get_response(request)
        request.get_host()  # ALLOWED_HOSTS still applies: DisallowedHost answers 400
        return receive(request, match["store_uuid"])
