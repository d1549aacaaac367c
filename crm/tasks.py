"""Celery entry points of the CRM core: thin, id-based, safe to run twice."""

from celery import shared_task
from django.utils.dateparse import parse_datetime

from crm import services


@shared_task
def record_api_key_use(api_key_id: int, used_at: str) -> None:
    services.api_key_record_use(api_key_id=api_key_id, used_at=parse_datetime(used_at))
