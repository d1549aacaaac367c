"""The API's OpenAPI schema: what drf-spectacular leaves out, and what every operation shares.

`AutoSchema` (the project's schema class) writes what the serializers refuse and
drf-spectacular does not say (list bounds, text and decimal forms, ids from 1, rules
across fields), so that input the schema calls valid is input the API takes. The view
sets document their own answers; `document_common_refusals` (a post-processing hook)
adds the refusals of the API's common layers (crm.authentication, crm.api.throttling,
crm.api.parsers) to every operation they apply to, so the schema never omits one.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _
from drf_spectacular import openapi
from drf_spectacular.plumbing import is_list_serializer
from rest_framework import serializers

CONSTRAINTS = "x-request-constraints"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
METHODS = WRITE_METHODS | {"get"}


#: What DRF's CharField trims (str.strip()): a value of only these is blank to it.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Text DRF takes: no NUL character (refused by every CharField), blank or not.
TEXT = r"^[^\u0000]*$"
NON_BLANK_TEXT = rf"^[^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*$"
#: Formats of their own, with their own validation (left as drf-spectacular writes them).
FORMATTED_TEXT = (
    serializers.EmailField,
    serializers.URLField,
    serializers.RegexField,
    serializers.SlugField,
    serializers.UUIDField,
    serializers.IPAddressField,
)


def _decimal_pattern(field: serializers.DecimalField) -> str:
    """The decimals DRF takes: digits with at most its places, a sign only if negatives may be."""
    whole, places = field.max_whole_digits, field.decimal_places
    number = rf"(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})"
    if field.min_value is not None and Decimal(field.min_value) >= 0:
        zero = rf"-(?:0{{1,{whole}}}(?:\.0{{0,{places}}})?|\.0{{1,{places}}})"  # -0 is 0
        return rf"^(?:{number}|{zero})$"
    return rf"^-?{number}$"


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
        if (
            schema is not None
            and isinstance(field, serializers.ListField)
            and schema.get("type") == "array"
            and not field.allow_empty
        ):
            schema.setdefault("minItems", 1)
        if schema is not None and is_list_serializer(field) and schema.get("type") == "array":
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
            least = max(field.min_length or 0, 0 if field.allow_empty else 1)
            if least:
                schema["minItems"] = least
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction != "request":
            return schema
        for name, field in serializer.fields.items():
            prop = schema.get("properties", {}).get(name)
            if prop is not None and not field.read_only:
                self._input_constraints(field, prop)
        constraints = getattr(serializer, "openapi_request_constraints", None)
        if constraints is not None:
            # Merged by `document_common_refusals`, after drf-spectacular names the enums
            # (an enum inside a rule is a subset of the field's, not a new choice set).
            schema[CONSTRAINTS] = constraints(partial=bool(getattr(serializer, "partial", False)))
        return schema

    @staticmethod
    def _input_constraints(field, prop: dict) -> None:
        """What DRF refuses in a field that JSON Schema would not say by itself."""
        if {"$ref", "oneOf", "allOf", "anyOf"} & set(prop):
            return
        if isinstance(field, serializers.DecimalField) and prop.get("type") == "string":
            if field.max_whole_digits is not None:
                prop["pattern"] = _decimal_pattern(field)
        elif isinstance(field, serializers.CharField) and not isinstance(field, FORMATTED_TEXT):
            if "pattern" not in prop and "format" not in prop:
                blank = field.allow_blank or not field.trim_whitespace
                prop["pattern"] = TEXT if blank else NON_BLANK_TEXT
        elif (
            isinstance(field, serializers.PrimaryKeyRelatedField) and prop.get("type") == "integer"
        ):
            prop.setdefault("minimum", 1)  # ids start at 1


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
    """What the API's common layers refuse, on every operation they apply to; and the
    serializers' rules across fields, into their request components (see `AutoSchema`).

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
    components = result.get("components", {}).get("schemas", {})
    ruled = set()
    for name, component in components.items():
        constraints = component.pop(CONSTRAINTS, {})
        component.update(constraints)
        if constraints:
            ruled.add(f"#/components/schemas/{name}")
    for _path, method, operation in _operations(result):
        body = operation.get("requestBody", {})
        references = {c.get("schema", {}).get("$ref") for c in body.get("content", {}).values()}
        if references & ruled:
            body["required"] = True  # its rule names fields: an absent body breaks it
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
