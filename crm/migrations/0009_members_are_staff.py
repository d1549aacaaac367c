"""Staff status follows membership (crm.services.user_staff_status_sync): give it to the
members who were added without it, and could not log in."""

from django.conf import settings
from django.db import migrations


def members_are_staff(apps, schema_editor):
    app_label, model_name = settings.AUTH_USER_MODEL.split(".")
    User = apps.get_model(app_label, model_name)
    Membership = apps.get_model("crm", "Membership")
    members = Membership.objects.values("user_id")
    User.objects.filter(pk__in=members, is_staff=False).update(is_staff=True)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0008_staff_notes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(members_are_staff, migrations.RunPython.noop)]
