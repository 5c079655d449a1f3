"""Celery tasks of the knowledge base (queue: ingest). Thin: they load by id and call the services."""

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(name="rag.ingest_document", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def ingest_document(document_id: int) -> str:
    return services.document_process(document_id=document_id).status


@shared_task(name="rag.check_consistency", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def check_consistency() -> dict[str, int]:
    return services.documents_check_consistency()
