"""The receiver under malformed and hostile input, and the worker that processes what it kept.

test_receiver.py covers the documented answers for the common cases (a missing,
wrong or other-store signature, a body over the limit, a truncated body, a
duplicate); this module covers the rest of the hostile inputs: content types,
the exact size limit, bytes that are not UTF-8, JSON that is not an object,
nesting deep enough to overflow a recursive parser, missing or absurd headers,
unknown topics. The rule (docs/woocommerce.md, "What the receiver answers"):
a well-signed body is kept and answered 200 whatever it holds, and fails later,
in the worker, with its error; an unsigned one is refused and nothing is kept.
"""

from __future__ import annotations

import pytest
from django.test import Client

from crm.models import Customer
from tests.conftest import wait_until
from tests.woocommerce.conftest import SECRET, compact, sample, webhook_headers
from woocommerce import processing
from woocommerce.models import WebhookDelivery
from woocommerce.payloads import signature

Status = WebhookDelivery.Status

TRUNCATED = b'{"id": 12, "status": "proc'
INVALID_UTF8 = b'{"id": 12, "first_name": "Caf\xe9 \xff\xfe"}'  # Latin-1 bytes, then garbage
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000  # 200 KB, far past any recursion limit
DEEP_OBJECT = b'{"id": 5, "billing": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001

#: Well-signed bodies that can never be applied: kept, then failed in the worker.
MALFORMED = {
    "truncated": (TRUNCATED, "not valid JSON"),
    "invalid-utf8": (INVALID_UTF8, "not valid JSON"),
    "empty": (b"", "not valid JSON"),
    "list": (b'[{"id": 12}]', "not a JSON object"),
    "number": (b"12", "not a JSON object"),
    "null": (b"null", "not a JSON object"),
    "string": (b'"hello"', "not a JSON object"),
    "deep-array": (DEEP_ARRAY, "RecursionError"),
    "deep-object": (DEEP_OBJECT, "RecursionError"),
}


def post(store, body: bytes, *, content_type="application/json", **headers):
    """POST raw bytes to the shop's address; `headers` as WSGI keys (None removes one)."""
    merged = {**webhook_headers("customer.updated", body), **headers}
    merged = {key: value for key, value in merged.items() if value is not None}
    return Client().generic(
        "POST", store.webhook_path(), data=body, content_type=content_type, **merged
    )


# --- Answers and what is kept -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "application/octet-stream", ""],
    ids=["form", "text", "octet-stream", "missing"],
)
def test_a_signed_body_is_kept_whatever_its_content_type(store, content_type):
    """The signature covers the bytes, not the header: the body is never parsed here."""
    body = compact(sample("customer"))
    response = post(store, body, content_type=content_type)

    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body
    assert delivery.headers.get("Content-Type", "") == content_type
    assert processing.process(delivery.pk) == Status.PROCESSED
    assert Customer.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/json"]
)
def test_an_unsigned_body_that_is_not_a_ping_is_401_and_kept_nowhere(store, content_type):
    for body in [b"webhook_id=12&x=1", b"webhook_id=abc", b"id=12", compact({"id": 12})]:
        response = post(store, body, content_type=content_type, HTTP_X_WC_WEBHOOK_SIGNATURE=None)
        assert response.status_code == 401, body
        assert set(response.json()) == {"message", "extra"}
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["", "   ", "not base64 !!", "x" * 10_000, "é" * 44, signature(b"", SECRET)],
    ids=["empty", "blank", "garbage", "huge", "non-ascii", "of-an-empty-body"],
)
def test_a_garbage_signature_is_401_never_a_500(store, header):
    response = post(store, compact(sample("customer")), HTTP_X_WC_WEBHOOK_SIGNATURE=header)
    assert response.status_code == 401
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db
def test_the_default_limit_is_exact_a_body_of_the_limit_is_kept_one_byte_more_is_413(
    store, settings
):
    limit = settings.WOOCOMMERCE_MAX_BODY_BYTES
    assert limit == 2 * 1024 * 1024  # the documented default
    prefix, suffix = b'{"id": 1, "note": "', b'"}'

    def body(size: int) -> bytes:
        return prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix

    over = post(store, body(limit + 1))
    assert over.status_code == 413
    assert set(over.json()) == {"message", "extra"}
    # Over Django's own upload limit too: still 413, never Django's 400.
    assert post(store, body(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)).status_code == 413
    assert WebhookDelivery.objects.count() == 0

    exact = post(store, body(limit))
    assert exact.status_code == 200, exact.content
    assert len(WebhookDelivery.objects.get().body) == limit


@pytest.mark.django_db
def test_a_content_length_announcing_more_than_the_limit_is_413_before_reading(store, settings):
    settings.WOOCOMMERCE_MAX_BODY_BYTES = 1000
    body = compact({"id": 1})
    response = post(store, body, CONTENT_LENGTH=str(10**12))
    assert response.status_code == 413
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("length", ["twelve", "-5", "1e3"])
def test_a_content_length_that_is_not_a_whole_number_is_400_not_a_500(store, length):
    """Django raises reading such a body; gunicorn refuses it first, other servers may not."""
    response = post(store, compact({"id": 1}), CONTENT_LENGTH=length)
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "error"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_signed_malformed_body_is_kept_then_fails_with_its_error(store, body, error):
    response = post(store, body)

    assert response.status_code == 200, response.content
    assert response.json()["message"] in (Status.QUEUED, Status.RECEIVED)
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body  # kept as sent, for staff to read and reprocess
    assert isinstance(delivery.body_text, str)  # the admin can always show it

    assert processing.process(delivery.pk) == Status.FAILED
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert error in delivery.error
    assert delivery.attempts == 1
    assert not Customer.objects.exists()
    assert processing.process(delivery.pk) is None  # failed stays failed until reprocessed


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("topic_headers", "stored"),
    [
        (  # no topic: rebuilt from the resource and the event
            {"HTTP_X_WC_WEBHOOK_TOPIC": None},
            ("customer.updated", "customer", "updated"),
        ),
        (  # no resource nor event: read from the topic
            {"HTTP_X_WC_WEBHOOK_RESOURCE": None, "HTTP_X_WC_WEBHOOK_EVENT": None},
            ("customer.updated", "customer", "updated"),
        ),
        (
            {"HTTP_X_WC_WEBHOOK_DELIVERY_ID": None, "HTTP_X_WC_WEBHOOK_ID": "not a number"},
            ("customer.updated", "customer", "updated"),
        ),
    ],
    ids=["no-topic", "no-resource-event", "no-delivery-id"],
)
def test_missing_headers_are_derived_and_the_delivery_applied(store, topic_headers, stored):
    response = post(store, compact(sample("customer")), **topic_headers)

    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert (delivery.topic, delivery.resource, delivery.event) == stored
    assert processing.process(delivery.pk) == Status.PROCESSED
    assert Customer.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {  # a custom WooCommerce action topic
            "HTTP_X_WC_WEBHOOK_TOPIC": "action.woocommerce_add_to_cart",
            "HTTP_X_WC_WEBHOOK_RESOURCE": "action",
            "HTTP_X_WC_WEBHOOK_EVENT": "woocommerce_add_to_cart",
        },
        {  # a resource nobody handles
            "HTTP_X_WC_WEBHOOK_TOPIC": "coupon.created",
            "HTTP_X_WC_WEBHOOK_RESOURCE": "coupon",
            "HTTP_X_WC_WEBHOOK_EVENT": "created",
        },
        {  # no topic, resource or event at all
            "HTTP_X_WC_WEBHOOK_TOPIC": None,
            "HTTP_X_WC_WEBHOOK_RESOURCE": None,
            "HTTP_X_WC_WEBHOOK_EVENT": None,
        },
        {  # absurdly long ones, truncated to the columns
            "HTTP_X_WC_WEBHOOK_TOPIC": "t" * 5000,
            "HTTP_X_WC_WEBHOOK_RESOURCE": "r" * 5000,
            "HTTP_X_WC_WEBHOOK_EVENT": "e" * 5000,
            "HTTP_X_WC_WEBHOOK_DELIVERY_ID": "d" * 5000,
            "HTTP_X_WC_WEBHOOK_ID": "9" * 5000,
            "HTTP_USER_AGENT": "u" * 5000,
        },
    ],
    ids=["action", "coupon", "none", "huge"],
)
def test_an_unknown_topic_is_kept_and_ignored_with_its_reason(store, headers):
    response = post(store, compact(sample("customer")), **headers)

    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert processing.process(delivery.pk) == Status.IGNORED
    delivery.refresh_from_db()
    assert "no handler for the resource" in delivery.error
    assert not Customer.objects.exists()
    assert all(len(value) <= 500 for value in delivery.headers.values())


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_are_405_and_keep_nothing(store, method):
    body = compact(sample("customer"))
    response = Client().generic(
        method.upper(),
        store.webhook_path(),
        data=body,
        content_type="application/json",
        **webhook_headers("customer.updated", body),
    )
    assert response.status_code == 405
    assert WebhookDelivery.objects.count() == 0


# --- The real worker never crashes ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_fails_malformed_deliveries_and_goes_on_with_good_ones(store, celery_worker):
    # Given every malformed body delivered, well signed, to the running receiver
    malformed = {}
    for name, (body, error) in MALFORMED.items():
        response = post(store, body, HTTP_X_WC_WEBHOOK_DELIVERY_ID=name)
        assert response.json()["message"] == Status.RECEIVED, (name, response.content)
        malformed[response.json()["extra"]["delivery"]] = (name, error)

    # When the real worker has taken them all
    def finished():
        return not WebhookDelivery.objects.filter(
            pk__in=malformed, status__in=WebhookDelivery.WAITING
        ).exists()

    assert wait_until(finished, timeout=60), "".join(celery_worker.output[-30:])

    # Then each failed with its error recorded, and nothing was applied
    for delivery in WebhookDelivery.objects.filter(pk__in=malformed):
        name, error = malformed[delivery.pk]
        assert (delivery.status, delivery.attempts) == (Status.FAILED, 1), name
        assert error in delivery.error, (name, delivery.error)
    assert not Customer.objects.exists()

    # And the same worker is alive and applies the next good delivery
    assert celery_worker.poll() is None
    good = post(store, compact(sample("customer")), HTTP_X_WC_WEBHOOK_DELIVERY_ID="good")
    pk = good.json()["extra"]["delivery"]
    assert wait_until(
        lambda: WebhookDelivery.objects.get(pk=pk).status == Status.PROCESSED, timeout=30
    ), "".join(celery_worker.output[-30:])
    assert Customer.objects.count() == 1
    assert celery_worker.poll() is None
