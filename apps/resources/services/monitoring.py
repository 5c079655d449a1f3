"""Host and service monitoring: take a sample, store it, open/escalate/resolve issues, downsample the history.

``host_sample_collect`` reads the host (psutil), PostgreSQL, Redis and Celery; every probe is independent: one that
fails is logged and leaves its fields null, it never stops the others nor the job. ``host_sample_record`` stores a
sample (network rates from the previous sample's counters) and evaluates the thresholds. ``host_sample_take`` does
both; the beat task ``resources.sample_host`` and the command ``resources_sample`` call it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import redis
from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Conflict
from apps.core.services import audit_record

from ..choices import IssueSeverity, IssueStatus, MonitorMetric, SampleResolution
from ..models import HostSample, MonitorIssue

logger = logging.getLogger(__name__)

Readings = dict[str, Any]

DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    MonitorMetric.CPU: (70.0, 90.0),
    MonitorMetric.MEMORY: (75.0, 90.0),
    MonitorMetric.DISK: (80.0, 95.0),
    MonitorMetric.PG_CONNECTIONS: (80.0, 95.0),
    MonitorMetric.QUEUE_BACKLOG: (100.0, 1000.0),
}
DEFAULT_QUEUES = ("default", "ingest", "backtest", "agents")
PROBE_TIMEOUT_SECONDS = 1.0

# Fields of a sample that readings fill in (everything but the time, host, resolution and the rates).
READING_FIELDS = (
    "cpu_percent",
    "memory_percent",
    "disk_percent",
    "load1",
    "net_sent_bytes_total",
    "net_recv_bytes_total",
    "pg_connections",
    "pg_max_connections",
    "pg_database_bytes",
    "redis_used_memory_bytes",
    "redis_clients",
    "celery_workers",
    "queue_lengths",
)
# Averaged into hourly rows (integers rounded); counters keep the hour's last value.
AVERAGED_FIELDS = (
    "cpu_percent",
    "memory_percent",
    "disk_percent",
    "load1",
    "net_sent_bytes_per_second",
    "net_recv_bytes_per_second",
    "pg_connections",
    "pg_max_connections",
    "pg_database_bytes",
    "redis_used_memory_bytes",
    "redis_clients",
    "celery_workers",
)
INTEGER_FIELDS = {
    "pg_connections",
    "pg_max_connections",
    "pg_database_bytes",
    "redis_used_memory_bytes",
    "redis_clients",
    "celery_workers",
}
COUNTER_FIELDS = ("net_sent_bytes_total", "net_recv_bytes_total")


def monitor_host_name() -> str:
    return str(getattr(settings, "RESOURCES_MONITOR_HOST", "") or socket.gethostname())[:255]


def monitor_thresholds() -> dict[str, tuple[float, float]]:
    """(warning, critical) per metric: the defaults, overridden by settings.RESOURCES_MONITOR_THRESHOLDS."""
    configured = getattr(settings, "RESOURCES_MONITOR_THRESHOLDS", {}) or {}
    thresholds = dict(DEFAULT_THRESHOLDS)
    for metric, pair in configured.items():
        warning, critical = (float(v) for v in pair)
        thresholds[metric] = (warning, critical)
    return thresholds


# --- Probes ---------------------------------------------------------------------------------------------------------


def _probe(name: str, fields: tuple[str, ...], read: Callable[[], Readings]) -> Readings:
    """``read()``'s values, or every field None when it fails (logged)."""
    try:
        values = read()
    except Exception as exc:  # a probe never takes the job down: its fields stay unknown
        logger.warning("Monitoring probe %s failed: %s", name, exc, exc_info=logger.isEnabledFor(logging.DEBUG))
        return dict.fromkeys(fields)
    return {field: values.get(field) for field in fields}


_cpu_primed = False


def _read_host() -> Readings:
    global _cpu_primed
    # psutil measures CPU since the previous call of this process: the first call waits a moment instead
    cpu = psutil.cpu_percent(interval=None if _cpu_primed else 0.5)
    _cpu_primed = True
    path = Path(getattr(settings, "RESOURCES_MONITOR_DISK_PATH", "") or getattr(settings, "MEDIA_ROOT", "") or ".")
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    net = psutil.net_io_counters()
    return {
        "cpu_percent": float(cpu),
        "memory_percent": float(psutil.virtual_memory().percent),
        "disk_percent": float(psutil.disk_usage(str(path)).percent),
        "load1": float(os.getloadavg()[0]),
        "net_sent_bytes_total": int(net.bytes_sent),
        "net_recv_bytes_total": int(net.bytes_recv),
    }


def _read_postgres() -> Readings:
    if connection.vendor != "postgresql":
        return {}
    with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: a failure leaves the caller's work intact
        cursor.execute("SELECT count(*) FROM pg_stat_activity")
        connections = cursor.fetchone()[0]
        cursor.execute("SELECT pg_database_size(current_database()), current_setting('max_connections')::int")
        size, max_connections = cursor.fetchone()
    return {"pg_connections": int(connections), "pg_database_bytes": int(size), "pg_max_connections": max_connections}


def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS)


def _read_redis() -> Readings:
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return {}
    client = _redis_client(url)
    try:
        info = client.info()
    finally:
        client.close()
    return {"redis_used_memory_bytes": int(info["used_memory"]), "redis_clients": int(info["connected_clients"])}


def _broker_url() -> str:
    return str(getattr(settings, "CELERY_BROKER_URL", "") or "")


def _read_celery_workers() -> Readings:
    conf = current_app.conf  # the broker the workers listen on (the suite's app: settings.CELERY_*)
    if not conf.broker_url or str(conf.broker_url).startswith("memory://") or conf.task_always_eager:
        return {}
    replies = current_app.control.inspect(timeout=PROBE_TIMEOUT_SECONDS).ping()
    return {"celery_workers": len(replies or {})}


def _read_queues() -> Readings:
    url = _broker_url()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return {}
    queues = getattr(settings, "CELERY_TASK_QUEUES_NAMES", None) or DEFAULT_QUEUES
    client = _redis_client(url)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(queue)
        lengths = pipe.execute()
    finally:
        client.close()
    return {"queue_lengths": {queue: int(n) for queue, n in zip(queues, lengths, strict=True)}}


def host_sample_collect() -> Readings:
    """The readings of this host and the services it uses, each None when unknown (not configured, or failed)."""
    readings: Readings = {"host": monitor_host_name()}
    readings |= _probe(
        "host",
        ("cpu_percent", "memory_percent", "disk_percent", "load1", "net_sent_bytes_total", "net_recv_bytes_total"),
        _read_host,
    )
    readings |= _probe("postgres", ("pg_connections", "pg_max_connections", "pg_database_bytes"), _read_postgres)
    readings |= _probe("redis", ("redis_used_memory_bytes", "redis_clients"), _read_redis)
    readings |= _probe("celery", ("celery_workers",), _read_celery_workers)
    readings |= _probe("queues", ("queue_lengths",), _read_queues)
    return readings


# --- Recording and thresholds ---------------------------------------------------------------------------------------


def _percent(value: Any) -> float | None:
    return None if value is None else min(max(float(value), 0.0), 100.0)


def _rate(current: int | None, previous: int | None, seconds: float) -> float | None:
    if current is None or previous is None or seconds <= 0 or current < previous:  # a restart resets the counters
        return None
    return (current - previous) / seconds


def sample_metric_values(sample: HostSample) -> dict[str, float | None]:
    """The value each threshold is checked against: percentages, and the longest queue."""
    pg = None
    if sample.pg_connections is not None and sample.pg_max_connections:
        pg = 100.0 * sample.pg_connections / sample.pg_max_connections
    queues = sample.queue_lengths or {}
    return {
        MonitorMetric.CPU: sample.cpu_percent,
        MonitorMetric.MEMORY: sample.memory_percent,
        MonitorMetric.DISK: sample.disk_percent,
        MonitorMetric.PG_CONNECTIONS: pg,
        MonitorMetric.QUEUE_BACKLOG: float(max(queues.values())) if queues else None,
    }


@transaction.atomic
def host_sample_record(*, readings: Readings, taken_at: dt.datetime | None = None) -> HostSample:
    """Store one raw sample of ``readings`` (as returned by ``host_sample_collect``; missing keys are unknown) and
    evaluate the thresholds."""
    taken_at = taken_at or timezone.now()
    host = str(readings.get("host") or monitor_host_name())[:255]
    values = {field: readings.get(field) for field in READING_FIELDS}
    for field in ("cpu_percent", "memory_percent", "disk_percent"):
        values[field] = _percent(values[field])
    previous = (
        HostSample.objects.filter(host=host, resolution=SampleResolution.RAW, taken_at__lt=taken_at)
        .order_by("-taken_at", "-id")
        .only("taken_at", *COUNTER_FIELDS)
        .first()
    )
    if previous is not None:
        seconds = (taken_at - previous.taken_at).total_seconds()
        values["net_sent_bytes_per_second"] = _rate(
            values["net_sent_bytes_total"], previous.net_sent_bytes_total, seconds
        )
        values["net_recv_bytes_per_second"] = _rate(
            values["net_recv_bytes_total"], previous.net_recv_bytes_total, seconds
        )
    sample = HostSample(host=host, taken_at=taken_at, resolution=SampleResolution.RAW, **values)
    sample.full_clean(validate_constraints=False)
    sample.save()
    thresholds_evaluate(host=host, values=sample_metric_values(sample), at=taken_at)
    return sample


def _severity(value: float, warning: float, critical: float) -> str | None:
    if value > critical:
        return IssueSeverity.CRITICAL
    if value > warning:
        return IssueSeverity.WARNING
    return None


def _issue_audit(issue: MonitorIssue, message: str) -> None:
    audit_record(
        action=AuditAction.ACTION,
        target=issue,
        changes={"severity": issue.severity, "status": issue.status, "value": issue.value},
        message=message,
        username="monitoring",
    )


def _evaluate_one(*, host: str, metric: str, value: float, at: dt.datetime) -> dict[str, Any] | None:
    warning, critical = monitor_thresholds()[metric]
    severity = _severity(value, warning, critical)
    issue = MonitorIssue.objects.select_for_update().filter(host=host, metric=metric, status=IssueStatus.OPEN).first()
    if issue is None:
        if severity is None:
            return None
        issue = MonitorIssue(
            host=host,
            metric=metric,
            severity=severity,
            value=value,
            peak_value=value,
            threshold=critical if severity == IssueSeverity.CRITICAL else warning,
            opened_at=at,
            last_seen_at=at,
        )
        try:
            with transaction.atomic():
                issue.save()
        except IntegrityError:  # another sampler opened it a moment ago: it is the one issue of (host, metric)
            return None
        _issue_audit(issue, f"Monitor issue opened: {metric} {value:.1f} over {issue.threshold:g}")
        return {"metric": metric, "event": "opened", "severity": severity, "issue": issue.pk}
    issue.value, issue.last_seen_at, issue.peak_value = value, at, max(issue.peak_value, value)
    if severity is None:
        issue.status, issue.resolved_at = IssueStatus.RESOLVED, at
        issue.save()
        _issue_audit(issue, f"Monitor issue resolved: {metric} back to {value:.1f}")
        return {"metric": metric, "event": "resolved", "severity": issue.severity, "issue": issue.pk}
    if severity == IssueSeverity.CRITICAL and issue.severity == IssueSeverity.WARNING:
        issue.severity, issue.threshold, issue.escalated_at = IssueSeverity.CRITICAL, critical, at
        issue.save()
        _issue_audit(issue, f"Monitor issue escalated to critical: {metric} {value:.1f} over {critical:g}")
        return {"metric": metric, "event": "escalated", "severity": issue.severity, "issue": issue.pk}
    # still over a threshold (a critical issue stays critical until it is resolved)
    issue.save(update_fields=["value", "last_seen_at", "peak_value"])
    return {"metric": metric, "event": "seen", "severity": issue.severity, "issue": issue.pk}


@transaction.atomic
def thresholds_evaluate(
    *, host: str, values: dict[str, float | None], at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Open, escalate, refresh or resolve the monitor issue of each metric of ``host`` whose value is known; returns
    what happened per metric ({"metric", "event": opened|escalated|seen|resolved, "severity", "issue"})."""
    at = at or timezone.now()
    events = []
    for metric, value in values.items():
        if value is None or metric not in monitor_thresholds():
            continue
        event = _evaluate_one(host=host, metric=str(metric), value=float(value), at=at)
        if event is not None:
            events.append(event)
    return events


def host_sample_take() -> HostSample:
    """Collect and record one sample of this host now (the beat task and the ``resources_sample`` command)."""
    return host_sample_record(readings=host_sample_collect())


@transaction.atomic
def monitor_issue_resolve(*, issue: MonitorIssue, actor: Any = None, note: str = "") -> MonitorIssue:
    """Resolve an open issue by hand (it opens again at the next sample still over the threshold)."""
    issue = MonitorIssue.objects.select_for_update().get(pk=issue.pk)
    if issue.status != IssueStatus.OPEN:
        raise Conflict(gettext("This issue is already resolved."), code="issue_resolved", details={"id": issue.pk})
    issue.status, issue.resolved_at, issue.resolved_manually = IssueStatus.RESOLVED, timezone.now(), True
    issue.note = note[:2000]
    issue.full_clean(validate_constraints=False)
    issue.save()
    audit_record(
        action=AuditAction.ACTION,
        actor=actor,
        target=issue,
        changes={"status": [IssueStatus.OPEN, IssueStatus.RESOLVED]},
        message="Monitor issue resolved by hand",
    )
    return issue


# --- Retention ------------------------------------------------------------------------------------------------------


def _mean(values: list[Any]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _hour_row(host: str, hour: dt.datetime, rows: list[HostSample], existing: HostSample | None) -> HostSample:
    """The hourly average of ``rows`` (merged, weighted by its sample count, with an hourly row already there)."""
    parts: list[tuple[HostSample, int]] = [(row, 1) for row in rows]
    if existing is not None:
        parts.append((existing, existing.samples))
    target = existing or HostSample(host=host, taken_at=hour, resolution=SampleResolution.HOUR)
    for field in AVERAGED_FIELDS:
        weighted = [(getattr(row, field), weight) for row, weight in parts if getattr(row, field) is not None]
        total = sum(weight for _, weight in weighted)
        mean = sum(float(value) * weight for value, weight in weighted) / total if total else None
        setattr(target, field, None if mean is None else (round(mean) if field in INTEGER_FIELDS else mean))
    last = max(rows, key=lambda row: (row.taken_at, row.pk))
    for field in COUNTER_FIELDS:
        setattr(target, field, getattr(last, field))
    queues: dict[str, list[float]] = defaultdict(list)
    queue_weights: dict[str, list[int]] = defaultdict(list)
    for row, weight in parts:
        for queue, n in (row.queue_lengths or {}).items():
            queues[queue].append(float(n) * weight)
            queue_weights[queue].append(weight)
    target.queue_lengths = (
        {queue: sum(queues[queue]) / sum(queue_weights[queue]) for queue in sorted(queues)} if queues else None
    )
    target.samples = sum(weight for _, weight in parts)
    return target


@transaction.atomic
def host_samples_downsample(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Average raw samples of complete hours older than RESOURCES_SAMPLE_RAW_HOURS into one hourly row per host and
    hour, delete those raw samples, and delete every sample older than RESOURCES_SAMPLE_RETENTION_DAYS. Running it
    again changes nothing."""
    now = now or timezone.now()
    raw_hours = int(getattr(settings, "RESOURCES_SAMPLE_RAW_HOURS", 24))
    retention_days = int(getattr(settings, "RESOURCES_SAMPLE_RETENTION_DAYS", 30))
    expired_before = now - dt.timedelta(days=retention_days)
    expired, _ = HostSample.objects.filter(taken_at__lt=expired_before).delete()

    boundary = (now - dt.timedelta(hours=raw_hours)).astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    raw = HostSample.objects.filter(resolution=SampleResolution.RAW, taken_at__lt=boundary).order_by("taken_at", "id")
    groups: dict[tuple[str, dt.datetime], list[HostSample]] = defaultdict(list)
    for row in raw.select_for_update():
        hour = row.taken_at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        groups[(row.host, hour)].append(row)
    hours = 0
    for (host, hour), rows in groups.items():
        existing = (
            HostSample.objects.select_for_update()
            .filter(host=host, resolution=SampleResolution.HOUR, taken_at=hour)
            .first()
        )
        row = _hour_row(host, hour, rows, existing)
        row.full_clean(validate_constraints=False)
        row.save()
        hours += 1
    raw_deleted, _ = HostSample.objects.filter(pk__in=[r.pk for rows in groups.values() for r in rows]).delete()
    return {"hours": hours, "raw_deleted": raw_deleted, "expired_deleted": expired}
