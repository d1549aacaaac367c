"""The client's address, for the login lockout (`AXES_CLIENT_IP_CALLABLE`).

The connection's address, unless `TRUSTED_PROXY_COUNT` says how many reverse
proxies in front of the app append to `X-Forwarded-For`: then the address the
outermost of them saw. A client can write anything in that header itself, so
it is read only when configured, and from the right (the proxies' end).
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
