"""The official WooCommerce REST client (PyPI `WooCommerce`), loaded under another name, and
the only way this install sends a request to a shop.

This app is called `woocommerce`, like the client package, so `import
woocommerce` finds the app (docs/decisions/0002). The client's two modules are
loaded here from the installed distribution as `woocommerce_client` and
`woocommerce_client.oauth`; its `api.py` imports `woocommerce.oauth`
absolutely, so that name points at the client's module only while `api.py`
loads, then is removed again.

The client sends its requests with `requests.request`; in our copy of its
module that name is `send` below, so every request to a shop (reconciliation,
refetch, test connection, the command line) goes through one guard
(docs/decisions/0012):

- `https` only, unless `WOOCOMMERCE_REST_ALLOW_HTTP` (development, tests);
- the shop's host is resolved when the connection is made, and the connection
  goes to the very address that was checked (no second lookup: no DNS
  rebinding); an address that is loopback, link-local, private, multicast,
  reserved or otherwise not public is refused, unless it is in
  `WOOCOMMERCE_REST_ALLOWED_NETWORKS`;
- redirects are never followed, so the credentials (Basic auth, or the OAuth
  signature over HTTP) only ever go to the saved shop's host; no proxy or
  `.netrc` from the environment is used;
- a refusal is a `ShopAddressRefused`, whose text says why and never holds
  more of the URL than its host.

What the shop answers is reported by `describe_answer`: the HTTP status and
WooCommerce's error code, never the body.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import ipaddress
import re
import socket
import sys
from functools import cache
from types import ModuleType
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import connection as urllib3_connection

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
        module = _load("woocommerce_client.api", distribution.locate_file("woocommerce/api.py"))
    finally:
        if previous is None:
            sys.modules.pop("woocommerce.oauth", None)
        else:
            sys.modules["woocommerce.oauth"] = previous
    module.request = send  # its one way out (see the module's docstring)
    return module


def api(url: str, consumer_key: str, consumer_secret: str, *, timeout: int = 30):
    """An `API` instance for a shop (Basic auth over HTTPS, OAuth 1.0a over HTTP)."""
    return client_module().API(
        url=url,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        version="wc/v3",
        timeout=timeout,
    )


# --- The guard ---------------------------------------------------------------------------


class ShopAddressRefused(requests.ConnectionError):
    """A request to a shop that is not sent: its scheme, host or address is not allowed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(network, strict=False)
        for network in settings.WOOCOMMERCE_REST_ALLOWED_NETWORKS
    ]


#: Why an address is not one to send a shop's credentials to, in the order checked.
_KINDS = (
    ("is_loopback", gettext_lazy("a loopback address")),
    ("is_link_local", gettext_lazy("a link-local address")),
    ("is_multicast", gettext_lazy("a multicast address")),
    ("is_unspecified", gettext_lazy("an unspecified address")),
    ("is_reserved", gettext_lazy("a reserved address")),
    ("is_private", gettext_lazy("a private address")),
)


def address_refusal(address: str) -> str | None:
    """Why a shop may not be reached at `address` (an IP), or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the scope aside
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip in network for network in _allowed_networks()):
        return None
    kind = next((label for attribute, label in _KINDS if getattr(ip, attribute)), None)
    if kind is None and not ip.is_global:
        kind = gettext_lazy("not a public address")
    if kind is None:
        return None
    return _(
        "%(address)s is %(kind)s: a shop is only reached on a public address "
        "(WOOCOMMERCE_REST_ALLOWED_NETWORKS lists the exceptions)."
    ) % {"address": ip, "kind": kind}


def _literal(host: str) -> str | None:
    """The IP a host names without a lookup: an IP literal, or `localhost`'s."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "127.0.0.1"  # RFC 6761: always loopback
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


def url_refusal(url: str, *, saved: bool = True) -> str | None:
    """Why a shop's URL is refused before any lookup (scheme, form, a literal address).

    `saved`: the shop's own URL, which has no query; a request's (`saved=False`) may
    (over HTTP the client signs the query with OAuth).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return _("The shop's URL is not a valid address.")
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and settings.WOOCOMMERCE_REST_ALLOW_HTTP):
        return _("A shop's URL starts with https:// (plain HTTP would expose its credentials).")
    if not parts.hostname:
        return _("The shop's URL has no host.")
    if parts.username is not None or parts.password is not None:
        return _("The shop's URL cannot hold a user name or password.")
    if saved and (parts.query or parts.fragment):
        return _("The shop's URL is its home address, without ? or #.")
    if port == 0:
        return _("The shop's URL is not a valid address.")
    literal = _literal(parts.hostname)
    return address_refusal(literal) if literal else None


def validate_shop_url(url: str) -> None:
    """Model validator of a shop's URL: what can be refused without a lookup.

    The lookup itself is made, and checked again, whenever the shop is reached.
    """
    refusal = url_refusal(url)
    if refusal:
        raise ValidationError(refusal, code="shop_url")


def checked_addresses(host: str, port: int) -> list[tuple]:
    """The addresses `host` resolves to, each checked; all refused if any one is.

    A name that answers both a public and a private address is refused: which one
    a connection would use is not ours to choose.
    """
    literal = _literal(host)
    infos = socket.getaddrinfo(
        literal or host.strip("[]"), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    for *_rest, sockaddr in infos:
        refusal = address_refusal(sockaddr[0])
        if refusal:
            raise ShopAddressRefused(refusal)
    return infos


class _PinnedConnectionMixin:
    """Connect to an address checked at this very moment (the TLS name stays the host's)."""

    def _new_conn(self):
        try:
            infos = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as error:
            raise ShopAddressRefused(
                _("The shop's host %(host)s is not found.") % {"host": self.host}
            ) from error
        last_error: OSError | None = None
        for _family, _type, _proto, _name, sockaddr in infos:
            try:
                sock = urllib3_connection.create_connection(
                    (sockaddr[0], self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as error:
                last_error = error
                continue
            return sock
        raise requests.ConnectionError(
            _("The shop's host %(host)s does not answer.") % {"host": self.host}
        ) from last_error


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class ShopAdapter(HTTPAdapter):
    """requests' adapter whose connections go through the address check."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPConnectionPool,
            "https": _PinnedHTTPSConnectionPool,
        }


def session() -> requests.Session:
    """A session for one request to a shop: the guard mounted, nothing from the environment."""
    shop = requests.Session()
    shop.trust_env = False  # no proxy (it would resolve the host itself), no .netrc
    adapter = ShopAdapter(max_retries=0)
    shop.mount("https://", adapter)
    shop.mount("http://", adapter)
    return shop


def send(method: str, url: str, **kwargs) -> requests.Response:
    """`requests.request` for the WooCommerce client: checked, pinned, never redirected."""
    refusal = url_refusal(url, saved=False)
    if refusal:
        raise ShopAddressRefused(refusal)
    kwargs["allow_redirects"] = False
    with session() as shop:
        return shop.request(method=method, url=url, **kwargs)


# --- What comes back ---------------------------------------------------------------------

#: WooCommerce's error codes look like this (woocommerce_rest_cannot_view); anything else
#: in a body is the shop's own text and is not repeated.
_ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def describe_answer(response: requests.Response) -> str:
    """An unexpected answer, as "HTTP 401 (woocommerce_rest_cannot_view)": never the body."""
    text = f"HTTP {response.status_code}"
    if response.is_redirect or 300 <= response.status_code < 400:
        return text + " " + _("(a redirect, which is not followed)")
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        code = None
    if isinstance(code, str) and _ERROR_CODE.match(code):
        text += f" ({code})"
    return text


def describe_error(error: BaseException) -> str:
    """A failed request in a few words: the guard's reason, or the kind of failure.

    The exception's own text is not used: it repeats the URL, which over HTTP
    holds the consumer key.
    """
    refusal = _find_refusal(error)
    if refusal is not None:
        return refusal.reason
    if isinstance(error, requests.exceptions.SSLError):
        return _("the shop's TLS certificate was refused")
    if isinstance(error, requests.Timeout):
        return _("the shop did not answer in time")
    if isinstance(error, requests.exceptions.TooManyRedirects):
        return _("the shop answered with a redirect, which is not followed")
    if isinstance(error, requests.ConnectionError):
        return _("the shop could not be reached")
    return _("the request failed (%(kind)s)") % {"kind": type(error).__name__}


def _find_refusal(error: BaseException, depth: int = 0) -> ShopAddressRefused | None:
    """The guard's refusal, wherever urllib3 and requests wrapped it."""
    if isinstance(error, ShopAddressRefused):
        return error
    if depth > 8:
        return None
    inner = [getattr(error, "reason", None), error.__cause__, error.__context__]
    inner += [arg for arg in getattr(error, "args", ()) if isinstance(arg, BaseException)]
    for candidate in inner:
        if isinstance(candidate, BaseException):
            found = _find_refusal(candidate, depth + 1)
            if found is not None:
                return found
    return None
