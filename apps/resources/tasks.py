"""Celery tasks of the resource management system (queue ``default``). Thin: call the service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from .services import api_calls, quotas

# --- metering and quotas ----------------------------------------------------------------------------------------------


@shared_task(name="resources.flush_api_calls", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def flush_api_calls() -> dict[str, int]:
    """Beat job: the API requests counted since the last flush become daily usage."""
    return api_calls.api_calls_flush()


@shared_task(name="resources.expire_holds", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def expire_holds() -> int:
    """Beat job: give back the quota holds of work that never settled."""
    return quotas.holds_expire()
