"""The webhook receiver: what WooCommerce gets back, and what is kept."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from django.test import Client

from tests.woocommerce.conftest import SECRET, compact, sample, webhook_headers
from woocommerce.models import WebhookDelivery, WooCommerceStore
from woocommerce.payloads import signature

pytestmark = pytest.mark.django_db


def test_a_signed_delivery_is_stored_with_its_headers_and_raw_body(
    deliver, store, django_capture_on_commit_callbacks
):
    body = compact(sample("subscription"))
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver("subscription.updated", None, raw=body)

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert response.json()["extra"] == {"delivery": delivery.pk}
    assert (delivery.store, delivery.organization) == (store, store.organization)
    assert (delivery.topic, delivery.resource, delivery.event) == (
        "subscription.updated",
        "subscription",
        "updated",
    )
    assert delivery.webhook_id == 7
    assert delivery.delivery_id == "a1b2c3"
    assert bytes(delivery.body) == body  # the bytes that were signed, not re-serialised JSON
    assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()
    assert delivery.headers["X-WC-Webhook-Topic"] == "subscription.updated"
    assert "X-WC-Webhook-Signature" not in delivery.headers
    # Stored and answered; the relay publishes it afterwards (tests/woocommerce/test_relay.py).
    assert response.json()["message"] == "received"
    assert delivery.status == WebhookDelivery.Status.RECEIVED
    assert delivery.queue == "woo_subscriptions"


@pytest.mark.parametrize(
    ("topic", "queue"),
    [
        ("customer.created", "woo_customers"),
        ("product.updated", "woo_products"),
        ("order.created", "woo_orders"),
        ("subscription.switched", "woo_subscriptions"),
        ("coupon.created", "default"),
    ],
)
def test_each_resource_has_its_own_queue(deliver, topic, queue):
    assert deliver(topic, {"id": 1, "n": topic}).status_code == 200
    assert WebhookDelivery.objects.get().queue == queue


def test_the_same_delivery_five_times_is_stored_once(deliver):
    payload = sample("customer")
    answers = [deliver("customer.updated", payload) for _ in range(5)]

    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["message"] for a in answers[1:]] == ["duplicate"] * 4
    assert WebhookDelivery.objects.count() == 1


def test_the_same_body_on_another_topic_is_another_delivery(deliver):
    payload = sample("customer")
    deliver("customer.created", payload)
    deliver("customer.updated", payload)
    assert WebhookDelivery.objects.count() == 2


def test_two_events_sharing_a_delivery_id_are_both_kept(deliver):
    """WooCommerce's delivery id is hash(webhook id, second): never a deduplication key."""
    deliver("customer.updated", sample("customer"), HTTP_X_WC_WEBHOOK_DELIVERY_ID="same")
    deliver("product.updated", sample("product"), HTTP_X_WC_WEBHOOK_DELIVERY_ID="same")
    assert WebhookDelivery.objects.filter(delivery_id="same").count() == 2


@pytest.mark.parametrize("slash", ["/", ""])
def test_both_spellings_of_the_address_answer_without_a_redirect(store, slash):
    """WooCommerce counts a 301/302 as delivered: a redirect would lose the event."""
    body = compact(sample("product"))
    path = store.webhook_path().rstrip("/") + slash
    response = Client().post(
        path,
        data=body,
        content_type="application/json",
        **webhook_headers("product.updated", body),
    )
    assert response.status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_a_ping_is_answered_200_and_stores_nothing(store):
    response = Client().post(
        store.webhook_path(),
        data="webhook_id=12",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize(
    "signed_with",
    [None, "wrong secret", "s3cret &amp; spice".replace("&amp;", "&amp;amp;")],
    ids=["missing", "wrong", "not-decoded-once"],
)
def test_a_missing_or_wrong_signature_is_401_and_stores_nothing(deliver, signed_with):
    response = deliver("customer.updated", sample("customer"), secret=signed_with)
    assert response.status_code == 401
    assert "message" in response.json()
    assert WebhookDelivery.objects.count() == 0


def test_the_secret_is_html_decoded_before_signing_as_woocommerce_does(deliver):
    """The stored secret is `s3cret &amp; spice`; WooCommerce signs with `s3cret & spice`."""
    body = compact(sample("customer"))
    response = deliver(
        "customer.updated",
        None,
        raw=body,
        HTTP_X_WC_WEBHOOK_SIGNATURE=signature(body, "s3cret & spice"),
    )
    assert response.status_code == 200


def test_a_signature_of_another_body_is_refused(deliver):
    other = compact({"id": 1})
    response = deliver(
        "customer.updated",
        sample("customer"),
        HTTP_X_WC_WEBHOOK_SIGNATURE=signature(other, SECRET),
    )
    assert response.status_code == 401
    assert WebhookDelivery.objects.count() == 0


def test_during_a_rotation_both_secrets_are_accepted(deliver, store):
    store.previous_webhook_secret = SECRET
    store.webhook_secret = "the new one"
    store.save()

    assert deliver("customer.updated", sample("customer"), secret=SECRET).status_code == 200
    assert deliver("product.updated", sample("product"), secret="the new one").status_code == 200
    assert deliver("order.updated", sample("order"), secret="neither").status_code == 401
    assert WebhookDelivery.objects.count() == 2


def test_a_valid_signature_for_another_store_is_refused(deliver, store, org_b):
    other = WooCommerceStore.objects.create(
        organization=org_b, name="B", base_url="https://b.example.com", webhook_secret="b-secret"
    )
    response = deliver("customer.updated", sample("customer"), to=store, secret="b-secret")
    assert response.status_code == 401
    response = deliver("customer.updated", sample("customer"), to=other, secret=SECRET)
    assert response.status_code == 401
    assert WebhookDelivery.objects.count() == 0


def test_an_unknown_or_inactive_store_is_404(deliver, store):
    response = Client().post(
        f"/webhooks/woocommerce/{uuid.uuid4()}/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404
    store.active = False
    store.save()
    assert deliver("customer.updated", sample("customer")).status_code == 404
    assert WebhookDelivery.objects.count() == 0


def test_a_body_over_the_limit_is_413_and_stores_nothing(deliver, settings):
    settings.WOOCOMMERCE_MAX_BODY_BYTES = 1000
    big = sample("subscription")  # about 3 KB compact
    assert deliver("subscription.updated", big).status_code == 413
    assert deliver("customer.updated", {"id": 1}).status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_a_well_signed_but_malformed_body_is_kept_and_answered_200(deliver):
    """WooCommerce disables a webhook after failures: processing, not the answer, fails."""
    response = deliver("order.updated", None, raw=b'{"id": 12, "status": "proc')
    assert response.status_code == 200
    assert WebhookDelivery.objects.get().body_text == '{"id": 12, "status": "proc'


def test_the_receiver_needs_no_session_or_csrf(store):
    client = Client(enforce_csrf_checks=True)
    body = compact(sample("customer"))
    response = client.post(
        store.webhook_path(),
        data=body,
        content_type="application/json",
        **webhook_headers("customer.updated", body),
    )
    assert response.status_code == 200


def test_the_receiver_answers_with_a_constant_number_of_queries(
    deliver, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        assert deliver("customer.updated", sample("customer")).status_code == 200


# --- Plain HTTP (issue 23b) ----------------------------------------------------------------


def test_over_plain_http_a_delivery_is_refused_when_http_is_not_allowed(deliver, settings):
    # Given production's setting (the tests' own allows plain HTTP explicitly)
    settings.WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP = False

    # When a well-signed delivery arrives over plain HTTP
    response = deliver("customer.updated", sample("customer"))

    # Then it is refused with a clear error, and nothing is stored
    assert response.status_code == 403
    assert response.json() == {
        "message": "Webhooks are accepted over HTTPS only: make the webhook's delivery URL "
        "start with https://.",
        "extra": {},
    }
    assert WebhookDelivery.objects.count() == 0


def test_over_plain_http_a_ping_is_refused_too_so_the_shop_shows_the_error(store, settings):
    settings.WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP = False
    response = Client().post(
        store.webhook_path(), data="webhook_id=12", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 403


def test_over_https_a_delivery_is_accepted_when_http_is_not_allowed(store, settings):
    settings.WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP = False
    body = compact(sample("customer"))
    response = Client().post(
        store.webhook_path(),
        data=body,
        content_type="application/json",
        secure=True,
        **webhook_headers("customer.updated", body),
    )
    assert response.status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_a_forwarded_proto_header_counts_only_when_the_proxy_header_is_configured(store, settings):
    settings.WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP = False
    body = compact(sample("customer"))

    def post():
        return Client().post(
            store.webhook_path(),
            data=body,
            content_type="application/json",
            HTTP_X_FORWARDED_PROTO="https",
            **webhook_headers("customer.updated", body),
        )

    # A client sending the header itself is not believed...
    settings.SECURE_PROXY_SSL_HEADER = None
    assert post().status_code == 403
    # ...the proxy named in SECURE_PROXY_SSL_HEADER is.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert post().status_code == 200


def test_with_productions_settings_a_delivery_over_plain_http_is_refused(deliver, settings):
    # Production's value, read from config.settings.production in a process of its own
    from tests.test_security_settings import production_settings

    allowed = production_settings()["WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP"]
    assert allowed is False
    settings.WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP = allowed

    response = deliver("customer.updated", sample("customer"))

    assert response.status_code == 403
    assert WebhookDelivery.objects.count() == 0


# --- The bare path (issue 26) ------------------------------------------------------------


def test_a_delivery_skips_the_rest_of_the_middleware_stack(deliver, client, admin_user):
    """No session, CSRF, locale or CSP work for a shop's server; still `nosniff`."""
    client.force_login(admin_user)  # even with a staff session cookie on the request
    body = compact(sample("customer"))
    response = client.post(
        WooCommerceStore.objects.get().webhook_path(),
        data=body,
        content_type="application/json",
        **webhook_headers("customer.updated", body),
    )

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    for header in ("Content-Security-Policy", "Vary", "Set-Cookie", "X-Frame-Options"):
        assert header not in response, header
    assert not hasattr(response.wsgi_request, "session")
    assert not hasattr(response.wsgi_request, "user")
    assert WebhookDelivery.objects.count() == 1


def test_a_host_outside_allowed_hosts_is_still_refused(deliver, store):
    body = compact(sample("customer"))
    response = Client().post(
        store.webhook_path(),
        data=body,
        content_type="application/json",
        HTTP_HOST="evil.example.net",
        **webhook_headers("customer.updated", body),
    )
    assert response.status_code == 400
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_a_method_other_than_post_is_405_and_stores_nothing(store, method):
    response = getattr(Client(), method)(store.webhook_path())
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "message" in response.json()
    assert WebhookDelivery.objects.count() == 0


def test_the_receiver_is_one_statement_and_a_duplicate_too(deliver, store):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    body = compact(sample("customer"))
    with CaptureQueriesContext(connection) as first:
        assert deliver("customer.updated", None, raw=body).json()["message"] == "received"
    with CaptureQueriesContext(connection) as again:
        assert deliver("customer.updated", None, raw=body).json()["message"] == "duplicate"

    inserts = [q["sql"] for q in first.captured_queries if "webhookdelivery" in q["sql"]]
    assert len(inserts) == 1, first.captured_queries
    assert inserts[0].startswith("INSERT")
    assert len([q for q in again.captured_queries if "webhookdelivery" in q["sql"]]) == 1
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_connection_postgresql_ended_while_idle_is_replaced_and_the_delivery_kept(
    deliver, caplog
):
    """No `SELECT 1` before the INSERT (issue 26): the INSERT itself finds the dead
    connection, and is sent once more on a new one."""
    from django.db import connection

    assert deliver("customer.updated", {**sample("customer"), "id": 1}).status_code == 200
    backend = connection.connection.info.backend_pid
    with psycopg_admin() as admin:  # PostgreSQL ends the receiver's idle connection
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])

    response = deliver("customer.updated", {**sample("customer"), "id": 2})

    assert response.status_code == 200
    assert response.json()["message"] == "received"
    assert WebhookDelivery.objects.count() == 2
    assert connection.connection.info.backend_pid != backend
    assert "connection lost, reconnecting once" in caplog.text  # found by the INSERT


def psycopg_admin():
    """Another connection to the same database, outside Django's."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)
