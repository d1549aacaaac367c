"""The tracking receiver: `POST /webhooks/carriers/<the account's webhook token>/`.

The token (`CarrierAccount.webhook_token`, a random UUID) is the address staff
paste into the platform's integration settings; the account's id never appears,
so another organization's account cannot be guessed. It verifies, stores and
answers (`carriers.tracking.delivery_receive`), never applies anything itself:

- unknown token or inactive account: 404;
- a body over `CARRIER_WEBHOOK_MAX_BODY_BYTES`: 413, nothing stored;
- a `Content-Length` that is not a whole number: 400, nothing stored;
- no `Sendcloud-Signature`, or not the HMAC-SHA256 of the raw body under the
  account's secret key: 401, nothing stored;
- otherwise 200 at once (a repeated body too: stored once); a worker applies it.

Never a redirect: both spellings of the address (with and without the final
slash) answer here. The answers are the platform's, never translated.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from carriers.models import CarrierAccount
from carriers.tracking import delivery_receive
from core.errors import ApplicationError
from core.webhooks import bounded_body


def _error(message: str, status: int) -> Response:
    return Response({"message": message, "extra": {}}, status=status)


@extend_schema(exclude=True)
class CarrierWebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []  # the raw bytes are what is signed: never parsed here
    throttle_classes: list = []

    def post(self, request, token):
        try:
            token = uuid.UUID(token)
        except ValueError:
            return _error("Unknown carrier account.", 404)
        account = (
            CarrierAccount.objects.filter(webhook_token=token, active=True)
            .only("pk", "organization_id", "secret_key")
            .first()
        )
        if account is None:
            return _error("Unknown carrier account.", 404)
        try:
            body = bounded_body(request, settings.CARRIER_WEBHOOK_MAX_BODY_BYTES)
        except ApplicationError as refused:
            return _error(refused.message, refused.status)
        try:
            delivery_id = delivery_receive(account=account, body=body, headers=request.headers)
        except ApplicationError as refused:
            return _error(refused.message, refused.status)
        if delivery_id is None:
            return Response({"message": "duplicate", "extra": {}})
        return Response({"message": "received", "extra": {"delivery": delivery_id}})
