from django.db import migrations, models


class Migration(migrations.Migration):
    """Deliveries record why they were ignored or failed as a code and its parameters,
    shown in the reader's language; existing rows keep their text (`error`)."""

    dependencies = [
        ("woocommerce", "0005_variations"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="reason",
            field=models.JSONField(blank=True, null=True, verbose_name="reason"),
        ),
    ]
