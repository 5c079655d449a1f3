"""Prometheus metrics of the resource management system: quota gauges per meter (computed by the platform's refresh
job, apps.core.metrics), pools and reservations, and the host and service samples of the monitoring beat job."""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone
from prometheus_client import Counter  # noqa: F401

from apps.core.metrics import business_gauge

from .choices import ApprovalStatus
from .models import ApprovalRequest, ResourcePool
from .selectors.pools import pool_booked_now

# --- metering and quotas ----------------------------------------------------------------------------------------------


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
