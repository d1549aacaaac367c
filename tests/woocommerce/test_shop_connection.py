"""A shop's connection: who may set it and press its buttons, and where its keys may go.

The matrix runs under the production defaults (HTTPS only, no address that is not public):
a fake shop listens on this machine, and for every URL that would lead to it (its address,
`localhost`, `[::1]`, a name resolving to it, a shop redirecting to it) no request reaches
it, no connection is even tried, and no stored secret shows in a page, a message, an
operation or a log. The test settings allow that fake shop explicitly (http, 127.0.0.1):
the control test shows it answers when allowed, so the refusals are not an accident.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
from django.utils.html import escape

from operations.models import Operation
from tests.factories import WooCommerceStoreFactory
from tests.helpers import messages_of
from tests.test_layout import BASE_DIR, PRODUCTION_ENVIRONMENT
from tests.woocommerce.test_reconcile import FakeShop, build_shop
from woocommerce.models import WooCommerceStore
from woocommerce.tasks import reconcile_store

pytestmark = pytest.mark.django_db

STORES = "/admin/woocommerce/woocommercestore/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
CONSUMER_KEY = "ck_c0ffee5ec2e7c0ffee5ec2e7c0ffee5ec2e7aa"
CONSUMER_SECRET = "cs_5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e7bb"
WEBHOOK_SECRET = "whsec-5ec2e7-never-shown-0042"
SECRETS = [CONSUMER_KEY, CONSUMER_SECRET, WEBHOOK_SECRET]
#: A name the (mocked) DNS resolves to this machine.
INTERNAL_NAME = "shop-internal.example"
PUBLIC_IP = "93.184.215.14"


# --- A shop on this machine, and who tries to reach what -----------------------------------


class Listener:
    """A fake WooCommerce REST API on a local address; it records every connection it
    accepts (even one that never makes an HTTP request, a TLS handshake) and request."""

    def __init__(self, host: str, family=socket.AF_INET):
        self.requests: list[dict] = []
        self.connections = 0
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                listener.requests.append({"path": self.path, "headers": dict(self.headers)})
                body = json.dumps([]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-WP-Total", "3")
                self.send_header("X-WP-TotalPages", "1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            address_family = family

            def verify_request(self, request, client_address):
                listener.connections += 1
                return True

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    shop = Listener("127.0.0.1")
    yield shop
    shop.close()


@pytest.fixture
def listener6():
    """The same on [::1], where the machine has IPv6 (else None)."""
    try:
        shop = Listener("::1", socket.AF_INET6)
    except OSError:
        yield None
        return
    yield shop
    shop.close()


@pytest.fixture
def connects(monkeypatch):
    """Every address a socket of this test's thread tries to connect to (a spy).

    Not the product's own services: saving a shop tells the other processes through
    Redis, and the process's background threads (the webhook relay, the shop cache's
    listener) reach PostgreSQL and Redis on 127.0.0.1 on their own.
    """
    from urllib.parse import urlsplit

    from django.conf import settings

    tried: list[str] = []
    original = socket.socket.connect
    owner = threading.get_ident()
    services = {
        (urlsplit(url).hostname, urlsplit(url).port or 6379)
        for url in (settings.REDIS_URL, settings.CELERY_BROKER_URL)
        if url
    }
    database = settings.DATABASES["default"]
    services.add((database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432)))

    def connect(self, address):
        service = isinstance(address, tuple) and tuple(address[:2]) in services
        if isinstance(address, tuple) and threading.get_ident() == owner and not service:
            tried.append(address[0])
            if address[0] == PUBLIC_IP:  # never leave the machine in a test
                raise ConnectionRefusedError(111, "Connection refused")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return tried


@pytest.fixture
def dns(monkeypatch):
    """A DNS for the tests' names: `answers[name]` is a list of IPs, one list per lookup."""
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []
    original = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host in answers:
            lookups.append(host)
            ips = answers[host][0] if len(answers[host]) == 1 else answers[host].pop(0)
            return [
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))
                for ip in ips
            ]
        return original(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    answers["lookups"] = lookups  # type: ignore[assignment]
    return answers


@pytest.fixture
def production(settings):
    """The production defaults (config/settings/base.py): HTTPS only, public addresses only."""
    settings.WOOCOMMERCE_REST_ALLOW_HTTP = False
    settings.WOOCOMMERCE_REST_ALLOWED_NETWORKS = []


@pytest.fixture
def store(org_a):
    return WooCommerceStoreFactory(
        organization=org_a,
        webhook_secret=WEBHOOK_SECRET,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
    )


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
            assert escape(secret) not in text


def form(store, **changes) -> dict:
    data = {
        "name": store.name,
        "base_url": store.base_url,
        "active": "on",
        "weight_unit": "kg",
        "keep_replaced_secret": "on",
        "preference_mappings-TOTAL_FORMS": "0",
        "preference_mappings-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def run_reconciliation(client, store, monkeypatch, capture) -> Operation:
    """Press "Reconcile now", then run the queued task here, as a worker would."""
    sent = []
    monkeypatch.setattr(
        reconcile_store, "apply_async", lambda args, kwargs: sent.append((args, kwargs))
    )
    with capture(execute=True):
        response = client.post(f"{STORES}{store.pk}/reconcile/", follow=True, **EN)
    assert response.status_code == 200
    assert_no_secret(response.text)
    ((args, kwargs),) = sent
    reconcile_store(*args, **kwargs)
    return Operation.objects.get(pk=kwargs["operation_id"])


# --- The matrix ----------------------------------------------------------------------------

#: (URL, with {port} the listener's, what the refusal says).
MATRIX = [
    pytest.param("https://127.0.0.1:{port}", "127.0.0.1 is a loopback address", id="127.0.0.1"),
    pytest.param("https://localhost:{port}", "127.0.0.1 is a loopback address", id="localhost"),
    pytest.param("https://[::1]:{port}", "::1 is a loopback address", id="[::1]"),
    pytest.param("https://10.0.0.1", "10.0.0.1 is a private address", id="10.0.0.1"),
    pytest.param(
        "https://169.254.169.254", "169.254.169.254 is a link-local address", id="metadata"
    ),
    pytest.param("http://127.0.0.1:{port}", "starts with https://", id="plain-http"),
    pytest.param(
        f"https://{INTERNAL_NAME}:{{port}}",
        "127.0.0.1 is a loopback address",
        id="name-resolving-to-loopback",
    ),
]
TARGETS = {"127.0.0.1", "::1", "10.0.0.1", "169.254.169.254"}


@pytest.mark.parametrize(("url", "reason"), MATRIX)
def test_a_shop_url_that_leads_inside_is_refused_and_reaches_nothing(
    production,
    admin_client_a_administrator,
    store,
    listener,
    listener6,
    connects,
    dns,
    caplog,
    monkeypatch,
    django_capture_on_commit_callbacks,
    url,
    reason,
):
    caplog.set_level(logging.DEBUG)
    dns[INTERNAL_NAME] = [["127.0.0.1"]]
    port = listener.port if "::1" not in url or listener6 is None else listener6.port
    url = url.format(port=port)

    # An administrator typing it is refused by the form, when it can be told without a lookup
    response = admin_client_a_administrator.post(
        f"{STORES}{store.pk}/change/", form(store, base_url=url), **EN
    )
    if INTERNAL_NAME in url:
        assert response.status_code == 302  # a name: looked up when the shop is reached
        admin_client_a_administrator.get(response.url)  # (the "changed" message, read)
    else:
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors["base_url"]
        assert any(reason in error for error in errors), errors
        WooCommerceStore.objects.filter(pk=store.pk).update(base_url=url)  # saved earlier
    store.refresh_from_db()
    assert store.base_url == url

    # Test connection: refused, with why, and nothing sent
    response = admin_client_a_administrator.post(
        f"{STORES}{store.pk}/test-connection/", follow=True, **EN
    )
    (message,) = messages_of(response)
    assert message.startswith("The connection test failed: GET subscriptions: ")
    assert reason in message
    assert_no_secret(response.text, message)

    # Reconcile now: the operation fails with the same reason
    operation = run_reconciliation(
        admin_client_a_administrator, store, monkeypatch, django_capture_on_commit_callbacks
    )
    assert operation.status == Operation.Status.FAILED
    assert reason in operation.error
    status = admin_client_a_administrator.get(
        f"/admin/operations/operation/{operation.pk}/status.json", **EN
    )
    assert_no_secret(operation.error, operation.result_summary, status.text)

    # The shop on this machine got nothing; no connection to it (or inside) was tried
    assert (listener.connections, listener.requests) == (0, [])
    assert listener6 is None or (listener6.connections, listener6.requests) == (0, [])
    assert not TARGETS & set(connects)
    assert_no_secret(caplog.text)


def test_a_shop_redirecting_inside_is_not_followed(
    admin_client_a_administrator, store, listener, connects, caplog, settings
):
    # Even where the machine's own address is allowed (the test settings), the credentials
    # never follow a redirect: it is reported, and the shop on this machine gets nothing.
    assert settings.WOOCOMMERCE_REST_ALLOWED_NETWORKS == ["127.0.0.1/32"]
    caplog.set_level(logging.DEBUG)
    inside = f"http://127.0.0.1:{listener.port}/wp-json/wc/v3/subscriptions"
    with responses.RequestsMock() as shop:
        shop.add_passthru(f"http://127.0.0.1:{listener.port}")  # reachable, were it followed
        shop.get(
            "https://shop.example.com/wp-json/wc/v3/subscriptions",
            status=302,
            headers={"Location": inside},
        )

        response = admin_client_a_administrator.post(
            f"{STORES}{store.pk}/test-connection/", follow=True, **EN
        )

    (message,) = messages_of(response)
    assert message == (
        "The connection test failed: GET subscriptions: HTTP 302 "
        "(a redirect, which is not followed)"
    )
    assert (listener.connections, listener.requests) == (0, [])
    assert "127.0.0.1" not in connects
    assert_no_secret(response.text, caplog.text)


def test_the_address_checked_is_the_address_connected_to(
    production, admin_client_a_administrator, store, listener, connects, dns
):
    # DNS rebinding: the name answers a public address once, then the machine's own. The
    # guard looks it up once, checks that answer, and connects to that very address.
    dns[INTERNAL_NAME] = [[PUBLIC_IP], ["127.0.0.1"], ["127.0.0.1"]]
    WooCommerceStore.objects.filter(pk=store.pk).update(
        base_url=f"https://{INTERNAL_NAME}:{listener.port}"
    )

    response = admin_client_a_administrator.post(
        f"{STORES}{store.pk}/test-connection/", follow=True, **EN
    )

    (message,) = messages_of(response)
    assert message == "The connection test failed: GET subscriptions: the shop could not be reached"
    assert dns["lookups"] == [INTERNAL_NAME]  # one lookup
    assert PUBLIC_IP in connects
    assert "127.0.0.1" not in connects
    assert (listener.connections, listener.requests) == (0, [])


def test_a_name_answering_a_public_and_a_private_address_is_refused(
    production, admin_client_a_administrator, store, connects, dns
):
    dns[INTERNAL_NAME] = [[PUBLIC_IP, "10.1.2.3"]]
    WooCommerceStore.objects.filter(pk=store.pk).update(base_url=f"https://{INTERNAL_NAME}")

    response = admin_client_a_administrator.post(
        f"{STORES}{store.pk}/test-connection/", follow=True, **EN
    )

    (message,) = messages_of(response)
    assert "10.1.2.3 is a private address" in message
    assert connects == []


def test_the_shop_on_this_machine_answers_where_it_is_allowed(
    admin_client_a_administrator, store, listener, settings
):
    # The control: the test settings allow it (plain HTTP, 127.0.0.1), and it is reached.
    assert settings.WOOCOMMERCE_REST_ALLOW_HTTP
    WooCommerceStore.objects.filter(pk=store.pk).update(
        base_url=f"http://127.0.0.1:{listener.port}"
    )

    response = admin_client_a_administrator.post(
        f"{STORES}{store.pk}/test-connection/", follow=True, **EN
    )

    (message,) = messages_of(response)
    assert message == (
        f"The connection works: http://127.0.0.1:{listener.port} answers, with 3 subscriptions."
    )
    (request,) = listener.requests
    assert request["path"].startswith("/wp-json/wc/v3/subscriptions?")
    assert f"oauth_consumer_key={CONSUMER_KEY}" in request["path"]  # it is the shop
    assert_no_secret(response.text)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@shop.example.com",
        "https://shop.example.com/?page=1",
        "https://shop.example.com/#home",
        "ftp://shop.example.com",
    ],
)
def test_a_shop_url_with_more_than_an_address_is_refused(
    production, admin_client_a_administrator, store, url
):
    response = admin_client_a_administrator.post(
        f"{STORES}{store.pk}/change/", form(store, base_url=url), **EN
    )

    assert response.status_code == 200
    assert "base_url" in response.context["adminform"].form.errors
    store.refresh_from_db()
    assert store.base_url == "https://shop.example.com"


def test_the_shops_refusal_is_its_status_and_code_never_its_text(
    admin_client_a_administrator, store, caplog
):
    caplog.set_level(logging.DEBUG)
    remote_text = "Internal detail: /var/www/wp-config.php line 42"
    with responses.RequestsMock() as shop:
        shop.get(
            "https://shop.example.com/wp-json/wc/v3/subscriptions",
            status=401,
            json={"code": "woocommerce_rest_cannot_view", "message": remote_text},
        )
        refused = admin_client_a_administrator.post(
            f"{STORES}{store.pk}/test-connection/", follow=True, **EN
        )
        shop.get(
            "https://shop.example.com/wp-json/wc/v3/subscriptions",
            status=500,
            body=f"<html><body>{remote_text}</body></html>",
        )
        broken = admin_client_a_administrator.post(
            f"{STORES}{store.pk}/test-connection/", follow=True, **EN
        )

    assert messages_of(refused) == [
        "The connection test failed: GET subscriptions: HTTP 401 (woocommerce_rest_cannot_view)"
    ]
    assert messages_of(broken) == ["The connection test failed: GET subscriptions: HTTP 500"]
    for page in (refused.text, broken.text, caplog.text):
        assert "wp-config" not in page
    assert_no_secret(refused.text, broken.text, caplog.text)


def test_the_production_defaults_refuse_http_and_inside_addresses():
    # What a production install gets without setting anything.
    code = (
        "import os;"
        "[os.environ.pop(name, None) for name in list(os.environ) if name.startswith('WOO')];"
        f"os.environ.update({PRODUCTION_ENVIRONMENT!r});"
        "import django; django.setup();"
        "from django.conf import settings;"
        "print(settings.WOOCOMMERCE_REST_ALLOW_HTTP, settings.WOOCOMMERCE_REST_ALLOWED_NETWORKS)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False []"


# --- Who may set the connection and press the buttons --------------------------------------


def test_staff_get_403_on_the_shops_connection_settings_and_buttons(admin_client_a, store, org_a):
    before = WooCommerceStore.objects.values().get(pk=store.pk)

    changed = admin_client_a.post(
        f"{STORES}{store.pk}/change/",
        form(store, base_url="https://attacker.example", consumer_key="ck_new"),
    )
    added = admin_client_a.post(
        f"{STORES}add/", {**form(store, name="Another"), "organization": org_a.pk}
    )

    assert changed.status_code == 403
    assert admin_client_a.get(f"{STORES}add/").status_code == 403
    assert added.status_code == 403
    assert admin_client_a.post(f"{STORES}{store.pk}/test-connection/").status_code == 403
    assert admin_client_a.post(f"{STORES}{store.pk}/reconcile/").status_code == 403
    assert admin_client_a.post(f"{STORES}{store.pk}/delete/", {"post": "yes"}).status_code == 403
    assert WooCommerceStore.objects.values().get(pk=store.pk) == before
    assert WooCommerceStore.objects.count() == 1
    assert not Operation.objects.exists()


def test_staff_still_read_the_shops_health_without_inputs_or_buttons(admin_client_a, store):
    page = admin_client_a.get(f"{STORES}{store.pk}/change/", **EN)

    assert page.status_code == 200
    assert "webhook-health" in page.text
    assert 'name="base_url"' not in page.text
    assert 'name="consumer_key"' not in page.text
    assert "test-connection" not in page.text
    assert_no_secret(page.text)


def test_an_administrator_tests_and_reconciles_the_shop(
    admin_client_a_administrator, store, monkeypatch, django_capture_on_commit_callbacks
):
    fake = FakeShop(credentials=(CONSUMER_KEY, CONSUMER_SECRET))
    build_shop(fake, 3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as shop:
        shop.add_callback(responses.GET, fake.pattern, callback=fake)

        tested = admin_client_a_administrator.post(
            f"{STORES}{store.pk}/test-connection/", follow=True, **EN
        )
        operation = run_reconciliation(
            admin_client_a_administrator, store, monkeypatch, django_capture_on_commit_callbacks
        )

    assert messages_of(tested) == [
        "The connection works: https://shop.example.com answers, with 3 subscriptions."
    ]
    assert operation.status == Operation.Status.SUCCEEDED, operation.error
    assert "subscription processed: 3" in operation.result_summary


def test_an_administrator_sets_the_connection(admin_client_a_administrator, store):
    response = admin_client_a_administrator.post(
        f"{STORES}{store.pk}/change/",
        form(store, base_url="https://boutique.example.org", consumer_key="ck_rotated_0001"),
    )

    assert response.status_code == 302
    store.refresh_from_db()
    assert store.base_url == "https://boutique.example.org"
    assert store.consumer_key == "ck_rotated_0001"
