"""Keys made before scopes existed keep working: the migration gives them read and write."""

import pytest

from crm.models import ApiKey


@pytest.mark.django_db(transaction=True)
def test_keys_made_before_scopes_existed_keep_reading_and_writing():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("crm", "0005_address_state"), ("crm", "0006_api_key_scope")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    organization = old.get_model("crm", "Organization").objects.create(name="Old", slug="old")
    old.get_model("crm", "ApiKey").objects.create(
        organization=organization, name="legacy", prefix="legacy01", hashed_key="0" * 64
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([after])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert ApiKey.objects.get(prefix="legacy01").scope == ApiKey.Scope.READ_WRITE
