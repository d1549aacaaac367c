"""The API's one request parser: JSON, bounded in size and in depth.

The API takes JSON only (decision 12): its bodies carry nested rows (addresses,
items), null and typed values, which form encodings cannot say. A form or
multipart body is refused with 415 rather than read as something else (a
customer's `addresses` silently dropped). A body larger than `API_MAX_BODY_BYTES`
is a 413 before it is read; JSON nested deeper than `API_MAX_JSON_DEPTH` is a
400, and so is JSON too deep for the decoder itself (100,000 levels), which was
a 500. Every refusal is in the error shape (crm.api.errors).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers, status
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        _("The request body is larger than %(limit)d bytes.")
        % {"limit": settings.API_MAX_BODY_BYTES}
    )


def too_deep(limit: int) -> exceptions.ParseError:
    return exceptions.ParseError(
        _("The JSON body is nested more than %(depth)d levels deep.") % {"depth": limit}
    )


def depth_exceeds(data, limit: int) -> bool:
    """Whether `data` nests objects and arrays more than `limit` levels (iteratively)."""
    stack = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the API's limits (size, depth) and its own messages."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.API_MAX_BODY_BYTES
        request = parser_context.get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large()  # not even read
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large()
        encoding = parsers.get_encoding(parser_context)  # 400 for an unknown charset
        depth = settings.API_MAX_JSON_DEPTH
        try:
            text = raw.decode(encoding)
            parse_constant = strict_constant if api_settings.STRICT_JSON else None
            data = json.loads(text, parse_constant=parse_constant)
        except RecursionError:
            raise too_deep(depth) from None
        except (LookupError, ValueError) as exc:  # not JSON, not that encoding
            raise exceptions.ParseError(
                _("The body is not valid JSON: %(error)s") % {"error": exc}
            ) from None
        if depth_exceeds(data, depth):
            raise too_deep(depth)
        return data
