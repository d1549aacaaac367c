"""The deliveries' own index on `store_id` goes (issue 26): the unique (store, topic,
body_sha256) index leads with the same column and serves the same reads, and every
delivery's INSERT and status UPDATEs were paying for both.

Only the index is dropped: Django's own `AlterField` would also drop and re-add the
foreign key, checking every row of a table that can be large.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "woocommerce_webhookdelivery_store_id_db389e23"


class Migration(migrations.Migration):
    dependencies = [
        ("woocommerce", "0006_webhookdelivery_reason_code"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookdelivery",
                    name="store",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="woocommerce.woocommercestore",
                        verbose_name="shop",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=(
                        f'CREATE INDEX IF NOT EXISTS "{INDEX}" '
                        'ON "woocommerce_webhookdelivery" ("store_id")'
                    ),
                ),
            ],
        ),
    ]
