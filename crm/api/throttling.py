"""Throttling per API key: a generous number of requests per period, counted in Redis.

One fixed window per key and period (`API_THROTTLE_RATE`, e.g. `300/minute`),
counted with an atomic increment in the shared cache, so every web process and
machine counts the same requests. Beyond the rate the API answers 429 in the error
shape with `Retry-After` (the seconds until the window ends). Each key has its own
count: one busy integration never slows another. If the cache cannot be reached,
requests are let through (and a warning logged): throttling protects the service,
it must not take it down.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from crm.models import ApiKey

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """`"300/minute"` -> (300, 60); empty or None: no throttling."""
    if not rate:
        return None
    number, _slash, period = rate.partition("/")
    return int(number), PERIODS[period.strip()[:1]]


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self):
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(settings.API_THROTTLE_RATE)
        api_key = request.auth
        if rate is None or not isinstance(api_key, ApiKey):
            return True  # no key: refused earlier (401), not counted here
        allowed, period = rate
        now = time.time()
        window = int(now // period)
        key = f"api-throttle:{api_key.prefix}:{period}:{window}"
        cache = caches[settings.API_THROTTLE_CACHE]
        try:
            cache.add(key, 0, timeout=period + 1)
            count = cache.incr(key)
        except Exception:  # the cache is down: serve rather than refuse
            logger.warning("API throttling skipped: the cache did not answer", exc_info=True)
            return True
        if count <= allowed:
            return True
        self._wait = (window + 1) * period - now
        return False

    def wait(self) -> float | None:
        return self._wait
