"""What every webhook receiver reads first: a raw body no larger than its limit."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig

from core.errors import ApplicationError


def bounded_body(request, limit: int) -> bytes:
    """The request's raw body, refused before it is read when it would be too large.

    A Content-Length that is not a number would make Django fail reading the body (a 500):
    400 instead. A body over `limit` bytes, declared or not: 413. Raises ApplicationError
    with that status; the receiver answers it.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = -1
    if declared < 0:
        raise ApplicationError("Invalid Content-Length.", status=400)
    too_large = ApplicationError(f"The body is larger than {limit} bytes.", status=413)
    if declared > limit:
        raise too_large
    try:
        body = getattr(request, "_request", request).body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > limit:
        raise too_large
    return body
