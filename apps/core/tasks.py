"""Platform housekeeping tasks (scheduled by beat; see CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import idempotency, jobs, services
from .metrics import refresh_business_metrics


@shared_task(  # type: ignore[untyped-decorator]
    name="core.flush_expired_tokens", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3
)
def flush_expired_tokens() -> int:
    return services.tokens_flush_expired()


@shared_task(  # type: ignore[untyped-decorator]
    name="core.purge_audit_log", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3
)
def purge_audit_log(older_than_days: int | None = None) -> int:
    return services.audit_purge(older_than_days=older_than_days)


@shared_task(name="core.refresh_business_metrics", ignore_result=True)  # type: ignore[untyped-decorator]
def refresh_business_metrics_task() -> int:
    """Recompute the business gauges into the cache (see apps.core.metrics); returns how many were computed."""
    return len(refresh_business_metrics()["gauges"])


@shared_task(  # type: ignore[untyped-decorator]
    name="core.purge_idempotency_keys", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3
)
def purge_idempotency_keys(older_than_hours: int | None = None) -> int:
    """Nightly: forget Idempotency-Keys older than IDEMPOTENCY_KEY_HOURS (every app's)."""
    return idempotency.idempotency_keys_purge(older_than_hours=older_than_hours)


@shared_task(  # type: ignore[untyped-decorator]
    name="core.sweep_stuck_jobs", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3
)
def sweep_stuck_jobs() -> dict[str, dict[str, int]]:
    """Every few minutes: fail (or retry) the long jobs of every app that stopped without finishing."""
    return jobs.jobs_sweep_stuck()
