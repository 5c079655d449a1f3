"""Celery tasks of the resource management system (queue ``default``). Thin: call the service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from .services import api_calls, quotas
from .services import monitoring as _monitoring  # host and service monitoring
from .services.pools import reservations_complete_ended  # pools and reservations

# --- metering and quotas ----------------------------------------------------------------------------------------------


@shared_task(name="resources.flush_api_calls", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def flush_api_calls() -> dict[str, int]:
    """Beat job: the API requests counted since the last flush become daily usage."""
    return api_calls.api_calls_flush()


@shared_task(name="resources.expire_holds", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def expire_holds() -> int:
    """Beat job: give back the quota holds of work that never settled."""
    return quotas.holds_expire()


# --- host and service monitoring --------------------------------------------------------------------------------------


@shared_task(name="resources.sample_host", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=2)
def sample_host() -> dict[str, object]:
    """Beat job (every minute): one sample of this host and its services; thresholds open and resolve issues."""
    sample = _monitoring.host_sample_take()
    return {"id": sample.pk, "host": sample.host, "taken_at": sample.taken_at.isoformat()}


@shared_task(name="resources.downsample_samples", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def downsample_samples() -> dict[str, int]:
    """Beat job (hourly): raw samples older than a day become hourly averages; samples past retention go."""
    return _monitoring.host_samples_downsample()


# --- pools and reservations -------------------------------------------------------------------------------------------


@shared_task(
    name="resources.complete_reservations", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def complete_reservations() -> int:
    """Beat job: every active reservation whose window has ended becomes completed."""
    return reservations_complete_ended()
