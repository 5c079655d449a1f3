"""Prometheus metrics of the resource management system: quota gauges per meter (computed by the platform's refresh
job, apps.core.metrics), pools and reservations, and the host and service samples of the monitoring beat job."""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone
from prometheus_client import Counter

from apps.core.metrics import business_gauge

from .choices import ApprovalStatus
from .models import ApprovalRequest, ResourcePool
from .selectors.monitoring import host_sample_ages, host_samples_current, monitor_issues_open_counts
from .selectors.pools import pool_booked_now
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


# --- host and service monitoring --------------------------------------------------------------------------------------
# The sampling beat job (resources.sample_host) stores samples in the database; these gauges read the newest sample of
# each host through the platform's refresh job, so every web process exports the same values (one cached snapshot).


def _per_host(field: str) -> dict[tuple[str, ...], float]:
    return {(s.host,): float(getattr(s, field)) for s in host_samples_current() if getattr(s, field) is not None}


def _host_gauge(name: str, documentation: str, field: str) -> None:
    def compute() -> dict[tuple[str, ...], float]:
        return _per_host(field)

    compute.__qualname__ = f"_host_gauge.{name}"
    business_gauge(name, documentation, labels=("host",))(compute)


for _name, _doc, _field in (
    ("resources_host_cpu_percent", "CPU usage of the host (percent, sampled every minute)", "cpu_percent"),
    ("resources_host_memory_percent", "Memory usage of the host (percent)", "memory_percent"),
    ("resources_host_disk_percent", "Usage of the data directory's filesystem (percent)", "disk_percent"),
    ("resources_host_load1", "Load average over one minute", "load1"),
    ("resources_host_network_sent_bytes_per_second", "Network bytes sent per second", "net_sent_bytes_per_second"),
    (
        "resources_host_network_received_bytes_per_second",
        "Network bytes received per second",
        "net_recv_bytes_per_second",
    ),
    ("resources_pg_connections", "PostgreSQL connections (pg_stat_activity)", "pg_connections"),
    ("resources_pg_max_connections", "PostgreSQL max_connections", "pg_max_connections"),
    ("resources_pg_database_bytes", "Size of the suite's database (bytes)", "pg_database_bytes"),
    ("resources_redis_used_memory_bytes", "Memory used by Redis (bytes)", "redis_used_memory_bytes"),
    ("resources_redis_clients", "Clients connected to Redis", "redis_clients"),
    ("resources_celery_workers", "Celery workers answering a ping", "celery_workers"),
):
    _host_gauge(_name, _doc, _field)


@business_gauge("resources_queue_length", "Tasks waiting per Celery queue (sampled)", labels=("host", "queue"))
def _queue_lengths() -> dict[tuple[str, ...], float]:
    return {(s.host, queue): float(n) for s in host_samples_current() for queue, n in (s.queue_lengths or {}).items()}


@business_gauge("resources_host_sample_age_seconds", "Seconds since the newest host sample", labels=("host",))
def _sample_ages() -> dict[tuple[str, ...], float]:
    return {(host,): age for host, age in host_sample_ages().items()}


@business_gauge("resources_monitor_issues_open", "Open monitor issues by severity", labels=("severity",))
def _open_issues() -> dict[tuple[str, ...], float]:
    return {(severity,): float(n) for severity, n in monitor_issues_open_counts().items()}


# --- pools, reservations and approvals --------------------------------------------------------------------------------


@business_gauge("resources_pool_capacity", "Capacity of each active resource pool", labels=("pool",))
def _pool_capacity() -> dict[tuple[str, ...], float]:
    return {
        (name,): float(capacity)
        for name, capacity in ResourcePool.objects.filter(active=True).values_list("name", "capacity")
    }


@business_gauge("resources_pool_booked", "Amount of each active pool held by reservations now", labels=("pool",))
def _pool_booked() -> dict[tuple[str, ...], float]:
    booked = pool_booked_now(now=timezone.now())
    return {
        (name,): float(booked.get(pk, 0))
        for pk, name in ResourcePool.objects.filter(active=True).values_list("pk", "name")
    }


@business_gauge("resources_approvals", "Approval requests by status", labels=("status",))
def _approvals() -> dict[tuple[str, ...], float]:
    rows = ApprovalRequest.objects.order_by().values("status").annotate(n=Count("id"))
    return {(row["status"],): row["n"] for row in rows}


@business_gauge("resources_approvals_pending", "Approval requests waiting for a decision")
def _approvals_pending() -> float:
    return ApprovalRequest.objects.filter(status=ApprovalStatus.REQUESTED).count()
