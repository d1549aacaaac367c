"""Re-encrypt every stored secret with the first key of ENCRYPTION_KEYS."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from core.encryption import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret at rest with the first key of ENCRYPTION_KEYS "
        "(run after putting a new key first; then the old key can be dropped)."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.fields if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            for row in model._base_manager.select_for_update().only("pk", *fields):
                row.save(update_fields=fields)
                total += 1
        self.stdout.write(f"{total} rows re-encrypted.")
