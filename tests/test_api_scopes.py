"""API key scopes: a read-only key reads everything of its organization and writes nothing.

The routes come from the URL resolver (`api_routes`, the isolation sweep's walk), so a new
route is covered the day it is added. The rows are the sweep's organization A; the bodies
would be valid for each action, so only the scope stands between the key and a write.
"""

from __future__ import annotations

import pytest

from crm.models import ApiKey
from tests.factories import api_key_for
from tests.test_isolation_sweep import (
    WRITE_BODIES,
    a_row_of,
    api_client,
    api_routes,
    changes,
    labels_platform,  # noqa: F401  (A's label documents on the faked carrier platform)
    snapshot,
    world,  # noqa: F401  (the sweep's data, built once for this module)
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def read_only_key(world):  # noqa: F811
    _row, key = api_key_for(world.a, name="zq_a reader", scope=ApiKey.Scope.READ)
    return key


def _body_for(template: str) -> dict:
    action = template.rstrip("/").rsplit("/", 1)[-1]
    return WRITE_BODIES.get(action, WRITE_BODIES.get(template.split("/")[2], {}))


def test_a_read_only_key_is_refused_every_write_and_changes_nothing(world, read_only_key):  # noqa: F811
    client = api_client(read_only_key)
    failures, checked = [], []
    for template, cls, actions in api_routes()[0]:
        row = a_row_of(world, cls.model) if "{pk}" in template else None
        path = "/" + (template.format(pk=row.pk) if row is not None else template)
        for method in actions:
            if method in ("get", "options"):
                continue
            checked.append(f"{method.upper()} {template}")
            before = snapshot()
            response = getattr(client, method)(path, _body_for(template), format="json")
            if written := changes(before, snapshot()):
                failures.append(f"{checked[-1]}: wrote {written}")
            if response.status_code != 403:
                failures.append(f"{checked[-1]}: {response.status_code}, not 403")
                continue
            body = response.json()
            if body != {"message": "This API key is read-only: it cannot change anything.",
                        "extra": {}}:  # fmt: skip
                failures.append(f"{checked[-1]}: not the error shape: {body}")
    assert not failures, "\n".join(failures)
    assert len(checked) >= 30  # the resolver walk found the write routes
    assert {"POST api/v1/customers/", "PATCH api/v1/customers/{pk}/"} <= set(checked)


def test_a_read_only_key_reads_every_list_and_row(world, read_only_key, labels_platform):  # noqa: F811
    client = api_client(read_only_key)
    failures, checked = [], 0
    for template, cls, actions in api_routes()[0]:
        if "get" not in actions:
            continue
        row = a_row_of(world, cls.model) if "{pk}" in template else None
        path = "/" + (template.format(pk=row.pk) if row is not None else template)
        checked += 1
        if (status := client.get(path).status_code) != 200:
            failures.append(f"GET {template}: {status}")
    assert not failures, "\n".join(failures)
    assert checked >= 20


def test_a_read_and_write_key_still_writes(world):  # noqa: F811
    # The control: the same write with A's read-and-write key goes through.
    client = api_client(world.a_key)
    response = client.patch(
        f"/api/v1/customers/{world.a_customer.pk}/", {"first_name": "Zq_anna"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "Zq_anna"


def test_the_schema_names_the_scope_each_operation_needs(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operations = [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert operations
    for method, path, operation in operations:
        needed = "read" if method == "get" else "read_write"
        assert operation.get("x-api-key-scope") == needed, (method, path)
        if method != "get":
            assert "403" in operation["responses"], (method, path)
    description = schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"]
    assert "read_write" in description
