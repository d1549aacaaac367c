"""drf-spectacular post-processing: what every operation shares, said once for all.

The view sets document their own answers; the refusals that come from the API's
common layers (crm.authentication, crm.api.throttling, crm.api.parsers) are added
here to every operation they apply to, so the schema never omits one.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular import openapi
from drf_spectacular.plumbing import is_list_serializer

WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
METHODS = WRITE_METHODS | {"get"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, saying what the serializers refuse and it leaves out.

    - a nested list's bounds (`many=True, max_length=..., allow_empty=False`) as
      `maxItems` / `minItems`: DRF checks them, drf-spectacular does not write them;
    - a serializer's own rules across fields (`openapi_request_constraints`, a
      function of `partial` returning JSON-schema keywords, e.g. "give one of these"),
      merged into its request schema, so a body the schema allows is one the API takes.
    """

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if schema is not None and is_list_serializer(field) and schema.get("type") == "array":
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
            least = max(field.min_length or 0, 0 if field.allow_empty else 1)
            if least:
                schema["minItems"] = least
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        constraints = getattr(serializer, "openapi_request_constraints", None)
        if direction == "request" and constraints is not None:
            schema.update(constraints(partial=bool(getattr(serializer, "partial", False))))
        return schema


def _error(description: str) -> dict:
    return {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": description,
    }


def _operations(result: dict):
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            if method in METHODS and isinstance(operation, dict):
                yield path, method, operation


def document_common_refusals(result, generator, request, public):
    """What the API's common layers refuse, on every operation they apply to.

    - `x-api-key-scope` (the scope an operation needs) and the 403 a read-only key
      gets on a write (crm.authentication.ApiKeyScopeAllows);
    - 429 when the key sent too many requests, with `Retry-After` (crm.api.throttling);
    - on operations with a body: 415 when it is not JSON, 413 when it is too large,
      and 400 when it is not JSON at all or nested too deep (crm.api.parsers).
    """
    retry_after = {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": _("Seconds until this key may send requests again."),
        }
    }
    for _path, method, operation in _operations(result):
        responses = operation.setdefault("responses", {})
        if method in WRITE_METHODS:
            operation["x-api-key-scope"] = "read_write"
            responses.setdefault("403", _error(_("The API key is read-only (scope `read`).")))
        else:
            operation["x-api-key-scope"] = "read"
        if "requestBody" in operation:
            responses.setdefault("400", _error(_("Invalid input, or a body that is not JSON.")))
            responses.setdefault("413", _error(_("The body is larger than the API takes.")))
            responses.setdefault("415", _error(_("The body is not JSON.")))
        responses.setdefault(
            "429",
            {**_error(_("Too many requests with this API key.")), "headers": retry_after},
        )
    return result
