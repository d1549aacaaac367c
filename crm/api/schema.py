"""drf-spectacular post-processing: what every operation shares, said once for all.

The view sets document their own answers; the refusals that come from the API's
common layers (crm.authentication, crm.api.throttling, crm.api.parsers) are added
here to every operation they apply to, so the schema never omits one.
"""

from __future__ import annotations

WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
METHODS = WRITE_METHODS | {"get"}


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
    """Each operation's scope (`x-api-key-scope`) and the 403 a read-only key gets on a write."""
    for _path, method, operation in _operations(result):
        responses = operation.setdefault("responses", {})
        if method in WRITE_METHODS:
            operation["x-api-key-scope"] = "read_write"
            responses.setdefault("403", _error("The API key is read-only (scope `read`)."))
        else:
            operation["x-api-key-scope"] = "read"
    return result
