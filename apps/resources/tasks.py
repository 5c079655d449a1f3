"""Celery tasks of the resource management system (queue ``default``). Thin: call the service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from .services.pools import reservations_complete_ended  # pools and reservations

# --- metering and quotas ----------------------------------------------------------------------------------------------


# --- pools and reservations -------------------------------------------------------------------------------------------


@shared_task(
    name="resources.complete_reservations", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def complete_reservations() -> int:
    """Beat job: every active reservation whose window has ended becomes completed."""
    return reservations_complete_ended()
