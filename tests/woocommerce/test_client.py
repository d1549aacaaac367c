"""The official client is the one used, although the app shares its package name."""

import importlib.metadata
import sys
from pathlib import Path

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
