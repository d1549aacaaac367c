"""Create the configured PostgreSQL database when it does not exist yet.

`make run` calls it before `migrate`, so pointing DATABASE_URL at a fresh
server is enough. It connects to the server's `postgres` maintenance database.
"""

import psycopg
from django.core.management.base import BaseCommand
from django.db import connection
from psycopg import sql


class Command(BaseCommand):
    help = "Create the database named in DATABASE_URL if it is missing."

    def handle(self, *args, **options):
        params = connection.get_connection_params()
        name = connection.settings_dict["NAME"]
        params["dbname"] = "postgres"
        with psycopg.connect(**params, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists:
                return
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.stdout.write(self.style.SUCCESS(f"Created database {name}"))
