"""Benchmarks only (`make bench`): the test settings, with bench/urls.py as the URLconf.

bench/urls.py is the product's URLconf plus a trivial view that the webhook
benchmark uses as its baseline; it is never reachable with any other settings.
"""

from .test import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# The benchmark's clients and server talk over 127.0.0.1, whatever ALLOWED_HOSTS says.
ALLOWED_HOSTS = ["127.0.0.1"]
