# An order's subscription and charge move to WooRelatedOrder rows (one initial order can
# start several subscriptions): every existing link is copied before the columns go.

import django.db.models.deletion
from django.db import migrations, models


def copy_links(apps, schema_editor):
    WooOrder = apps.get_model("woocommerce", "WooOrder")
    WooRelatedOrder = apps.get_model("woocommerce", "WooRelatedOrder")
    rows = (
        WooOrder.objects.filter(woo_subscription_id__isnull=False)
        .values_list("pk", "organization_id", "woo_subscription_id", "subscription_id", "charge_id")
        .order_by("pk")
        .iterator(chunk_size=2000)
    )
    batch = []
    for pk, organization_id, woo_subscription_id, subscription_id, charge_id in rows:
        batch.append(
            WooRelatedOrder(
                organization_id=organization_id,
                order_id=pk,
                woo_subscription_id=woo_subscription_id,
                subscription_id=subscription_id,
                charge_id=charge_id,
            )
        )
        if len(batch) == 2000:
            WooRelatedOrder.objects.bulk_create(batch)
            batch = []
    WooRelatedOrder.objects.bulk_create(batch)


def copy_links_back(apps, schema_editor):
    """Back to one subscription per order: an initial order keeps its first link."""
    WooOrder = apps.get_model("woocommerce", "WooOrder")
    WooRelatedOrder = apps.get_model("woocommerce", "WooRelatedOrder")
    seen = set()
    for link in WooRelatedOrder.objects.order_by("order_id", "woo_subscription_id").iterator():
        if link.order_id in seen:
            continue
        seen.add(link.order_id)
        WooOrder.objects.filter(pk=link.order_id).update(
            woo_subscription_id=link.woo_subscription_id,
            subscription_id=link.subscription_id,
            charge_id=link.charge_id,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_address_state"),
        ("subscriptions", "0006_subscription_billing_address"),
        ("woocommerce", "0002_woopreferencemapping"),
    ]

    operations = [
        migrations.CreateModel(
            name="WooRelatedOrder",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "woo_subscription_id",
                    models.BigIntegerField(verbose_name="WooCommerce subscription id"),
                ),
                (
                    "lines",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="The subscription's lines as it last sent them (initial orders only): which lines of the order are its own.",
                        verbose_name="subscription's lines",
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="crm.organization",
                        verbose_name="organization",
                    ),
                ),
                (
                    "order",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="links",
                        to="woocommerce.wooorder",
                        verbose_name="WooCommerce order",
                    ),
                ),
                (
                    "subscription",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="woo_orders",
                        to="subscriptions.subscription",
                        verbose_name="subscription",
                    ),
                ),
                (
                    "charge",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="woo_order",
                        to="subscriptions.charge",
                        verbose_name="charge",
                    ),
                ),
            ],
            options={
                "verbose_name": "order of a subscription",
                "verbose_name_plural": "orders of subscriptions",
                "ordering": ["order", "woo_subscription_id"],
                "indexes": [
                    models.Index(
                        fields=["woo_subscription_id"], name="woo_related_order_subscription"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("order", "woo_subscription_id"), name="woo_related_order_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(copy_links, copy_links_back, elidable=False),
        migrations.RemoveIndex(
            model_name="wooorder",
            name="woo_order_subscription",
        ),
        migrations.RemoveField(
            model_name="wooorder",
            name="charge",
        ),
        migrations.RemoveField(
            model_name="wooorder",
            name="subscription",
        ),
        migrations.RemoveField(
            model_name="wooorder",
            name="woo_subscription_id",
        ),
        migrations.AddField(
            model_name="wooorder",
            name="billing_address",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="crm.address",
                verbose_name="billing address",
            ),
        ),
        migrations.AddField(
            model_name="wooorder",
            name="lines",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="What each line cost, tax included, by WooCommerce product and variation: how an initial order's payment is shared between the subscriptions it started.",
                verbose_name="lines",
            ),
        ),
    ]
