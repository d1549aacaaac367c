"""Batches made before `starts_at` existed cover the week before their cut-off."""

from datetime import timedelta

from django.db import migrations, models


def fill_starts_at(apps, schema_editor):
    Batch = apps.get_model("fulfillment", "Batch")
    for batch in Batch.objects.filter(starts_at__isnull=True):
        batch.starts_at = batch.cutoff_at - timedelta(days=7)
        batch.save(update_fields=["starts_at"])


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0002_lines_and_shipments")]

    operations = [
        migrations.RunPython(fill_starts_at, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="batch",
            name="starts_at",
            field=models.DateTimeField(
                help_text=(
                    "Billing cycles starting from this instant up to the cut-off ship in this "
                    "batch: the previous batch's cut-off (or, after a canceled batch, where it "
                    "started)."
                ),
                verbose_name="covers cycles from",
            ),
        ),
    ]
