"""Prometheus metrics of the resource management system: quota gauges per meter (computed by the platform's refresh
job, apps.core.metrics), pools and reservations, and the host and service samples of the monitoring beat job."""

from __future__ import annotations

from prometheus_client import Counter

from apps.core.metrics import business_gauge

from .selectors.usage import quota_pressure, usage_today_by_meter

# --- metering and quotas ----------------------------------------------------------------------------------------------

QUOTA_REFUSALS = Counter("resources_quota_refusals", "Requests refused over a quota", ["meter", "period"])


@business_gauge(
    "resources_quota_usage_ratio",
    "Largest share of a limit any user has used in the current period, per meter (0 while nobody is limited)",
    labels=("meter",),
)
def _quota_usage_ratio() -> dict[tuple[str, ...], float]:
    return {(meter,): ratio for meter, (ratio, _over) in quota_pressure().items()}


@business_gauge(
    "resources_users_over_quota",
    "Users who have used their whole limit of a meter in the current period (their requests are refused)",
    labels=("meter",),
)
def _users_over_quota() -> dict[tuple[str, ...], float]:
    return {(meter,): over for meter, (_ratio, over) in quota_pressure().items()}


@business_gauge("resources_usage_today", "Metered usage since midnight UTC, per meter", labels=("meter",))
def _usage_today() -> dict[tuple[str, ...], float]:
    return {(meter,): float(total) for meter, total in usage_today_by_meter().items()}
