"""The official client is the one used, although the app shares its package name."""

import importlib.metadata
import sys
from pathlib import Path

import pytest

from woocommerce import client


def test_the_api_class_is_the_installed_woocommerce_package():
    module = client.client_module()
    installed = Path(importlib.metadata.distribution("WooCommerce").locate_file("woocommerce"))

    assert Path(module.__file__).parent == installed
    assert module.__version__ == importlib.metadata.version("WooCommerce")
    api = client.api("https://shop.example.com", "ck", "cs")
    assert type(api).__name__ == "API"
    assert api.version == "wc/v3"
    # The app stays the `woocommerce` package; no client module shadows it.
    assert "woocommerce.oauth" not in sys.modules
    assert Path(sys.modules["woocommerce"].__file__).parent.name == "woocommerce"
    assert sys.modules["woocommerce"].__file__.startswith(str(Path(__file__).parents[2]))


# --- The guard's rules, one address at a time --------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: the IPv4 address is what counts
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("100.64.0.1", "not a public address"),  # shared address space (CGNAT)
    ],
)
def test_an_address_that_is_not_public_is_refused(settings, address, kind):
    settings.WOOCOMMERCE_REST_ALLOWED_NETWORKS = []

    assert kind in client.address_refusal(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_a_public_address_is_allowed(settings, address):
    settings.WOOCOMMERCE_REST_ALLOWED_NETWORKS = []

    assert client.address_refusal(address) is None


def test_an_allowed_network_lets_its_addresses_through_and_no_other(settings):
    settings.WOOCOMMERCE_REST_ALLOWED_NETWORKS = ["10.1.0.0/16"]

    assert client.address_refusal("10.1.2.3") is None
    assert "private" in client.address_refusal("10.2.0.1")


@pytest.mark.parametrize(
    ("url", "allow_http", "refused"),
    [
        ("https://shop.example.com", False, False),
        ("https://shop.example.com/boutique", False, False),  # WordPress in a folder
        ("http://shop.example.com", False, True),
        ("http://shop.example.com", True, False),
        ("https://LOCALHOST.", False, True),
        ("https://api.localhost", False, True),
        ("https://[::ffff:10.0.0.1]", False, True),
        ("https://shop.example.com:0", False, True),
    ],
)
def test_what_a_saved_url_may_be(settings, url, allow_http, refused):
    settings.WOOCOMMERCE_REST_ALLOW_HTTP = allow_http
    settings.WOOCOMMERCE_REST_ALLOWED_NETWORKS = []

    assert (client.url_refusal(url) is not None) is refused
