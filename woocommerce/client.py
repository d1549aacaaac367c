"""The official WooCommerce REST client (PyPI `WooCommerce`), loaded under another name.

This app is called `woocommerce`, like the client package, so `import
woocommerce` finds the app (docs/decisions/0002). The client's two modules are
loaded here from the installed distribution as `woocommerce_client` and
`woocommerce_client.oauth`; its `api.py` imports `woocommerce.oauth`
absolutely, so that name points at the client's module only while `api.py`
loads, then is removed again.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from functools import cache
from types import ModuleType

DISTRIBUTION = "WooCommerce"


def _load(name: str, path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@cache
def client_module() -> ModuleType:
    """The client's `api` module (with its `API` class and `__version__`)."""
    distribution = importlib.metadata.distribution(DISTRIBUTION)
    oauth = _load("woocommerce_client.oauth", distribution.locate_file("woocommerce/oauth.py"))
    previous = sys.modules.get("woocommerce.oauth")
    sys.modules["woocommerce.oauth"] = oauth
    try:
        return _load("woocommerce_client.api", distribution.locate_file("woocommerce/api.py"))
    finally:
        if previous is None:
            sys.modules.pop("woocommerce.oauth", None)
        else:
            sys.modules["woocommerce.oauth"] = previous


def api(url: str, consumer_key: str, consumer_secret: str, *, timeout: int = 30):
    """An `API` instance for a shop (Basic auth over HTTPS, OAuth 1.0a over HTTP)."""
    return client_module().API(
        url=url,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        version="wc/v3",
        timeout=timeout,
    )
