"""Reads of host and service monitoring: the latest sample per host (the Prometheus gauges), the last day's chart
data (the admin), open issues per severity."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from ..choices import IssueSeverity, IssueStatus, SampleResolution
from ..models import HostSample, MonitorIssue

# A host whose newest sample is older than this is not exported as current (its age still is).
STALE_AFTER = dt.timedelta(minutes=10)
AGE_WINDOW = dt.timedelta(days=1)


def host_samples_latest(*, since: dt.datetime | None = None) -> list[HostSample]:
    """The newest raw sample of each host taken since ``since`` (one query)."""
    queryset = HostSample.objects.filter(resolution=SampleResolution.RAW)
    if since is not None:
        queryset = queryset.filter(taken_at__gte=since)
    return list(queryset.order_by("host", "-taken_at", "-id").distinct("host"))


def host_samples_current() -> list[HostSample]:
    return host_samples_latest(since=timezone.now() - STALE_AFTER)


def host_sample_ages() -> dict[str, float]:
    """Seconds since the newest sample of every host sampled in the last day."""
    now = timezone.now()
    return {s.host: (now - s.taken_at).total_seconds() for s in host_samples_latest(since=now - AGE_WINDOW)}


def host_samples_window(*, hours: int = 24, host: str | None = None) -> QuerySet[HostSample]:
    """Samples (raw and hourly) of the last ``hours``, oldest first."""
    queryset = HostSample.objects.filter(taken_at__gte=timezone.now() - dt.timedelta(hours=hours))
    if host:
        queryset = queryset.filter(host=host)
    return queryset.order_by("taken_at", "id")


def host_sample_chart(*, hours: int = 24, host: str | None = None, buckets: int = 48) -> list[dict[str, Any]]:
    """CPU, memory and disk of the last ``hours`` in ``buckets`` equal slots (the mean of each slot's samples, None
    for a slot without any), oldest first: the admin's bar chart."""
    now = timezone.now()
    start = now - dt.timedelta(hours=hours)
    width = (now - start) / buckets
    sums: list[dict[str, list[float]]] = [{"cpu": [], "memory": [], "disk": []} for _ in range(buckets)]
    rows = host_samples_window(hours=hours, host=host).values_list(
        "taken_at", "cpu_percent", "memory_percent", "disk_percent"
    )
    for taken_at, cpu, memory, disk in rows:
        index = min(int((taken_at - start) / width), buckets - 1)
        for key, value in (("cpu", cpu), ("memory", memory), ("disk", disk)):
            if value is not None:
                sums[index][key].append(value)
    chart = []
    for index, slot in enumerate(sums):
        chart.append(
            {
                "start": start + index * width,
                **{key: (round(sum(values) / len(values), 1) if values else None) for key, values in slot.items()},
            }
        )
    return chart


def monitor_issues_open_counts() -> dict[str, int]:
    """Open issues per severity (every severity present, zero included)."""
    counts = dict.fromkeys(IssueSeverity.values, 0)
    rows = MonitorIssue.objects.filter(status=IssueStatus.OPEN).values("severity").annotate(n=Count("id"))
    for row in rows.order_by():
        counts[row["severity"]] = row["n"]
    return counts
