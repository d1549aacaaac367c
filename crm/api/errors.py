"""One DRF exception handler: every error is {"message": str, "extra": {...}}."""

from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status)
    if isinstance(exc, SuspiciousOperation):
        # Django's own refusals met while reading the request (too many query or form
        # fields, too large a body): its HTML 400 page, unless answered here.
        return Response(*_suspicious(exc))
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: a 500 with its traceback logged

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"message": _("Invalid input."), "extra": {"fields": detail}}
    elif isinstance(exc, exceptions.Throttled):
        # DRF sets the Retry-After header; the body says it too.
        wait = math.ceil(exc.wait) if exc.wait is not None else None
        response.data = {
            "message": _("Too many requests with this API key: try again in %(seconds)d s.")
            % {"seconds": wait or 1},
            "extra": {"retry_after": wait},
        }
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        response.data = {
            "message": _("The request body must be JSON (Content-Type: application/json)."),
            "extra": {"content_type": context["request"].content_type or ""},
        }
    else:
        response.data = {"message": str(exc.detail), "extra": {}}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Api-Key realm="api"'
    return response


def _suspicious(exc: SuspiciousOperation) -> tuple[dict, int]:
    if isinstance(exc, RequestDataTooBig):
        return {
            "message": _("The request body is larger than %(limit)d bytes.")
            % {"limit": settings.API_MAX_BODY_BYTES},
            "extra": {},
        }, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, TooManyFieldsSent):
        message = _("Too many fields or parameters in the request (at most %(count)d).") % {
            "count": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        }
    else:
        message = _("Bad request.")
    return {"message": message, "extra": {}}, status.HTTP_400_BAD_REQUEST


def bad_request(request, exception, template_name="400.html"):
    """`handler400`: under /api/, Django's refusals (a request it will not read) in the
    error shape; elsewhere Django's own page."""
    if request.path.startswith("/api/"):
        if isinstance(exception, SuspiciousOperation):
            body, code = _suspicious(exception)
        else:
            body, code = {"message": _("Bad request."), "extra": {}}, 400
        return JsonResponse(body, status=code)
    return defaults.bad_request(request, exception, template_name)


@csrf_exempt  # an API client has no CSRF cookie: an unknown URL is a JSON 404, not a 403 page
def api_not_found(request, *args, **kwargs):
    return JsonResponse({"message": _("Not found."), "extra": {}}, status=status.HTTP_404_NOT_FOUND)
