"""Host and service monitoring: samples taken by the beat job every minute, and the issues their thresholds open.

A raw sample is one reading of a host (CPU, memory, disk of the data directory, load, network rates) and of the
services it sees (PostgreSQL, Redis, Celery workers and queue lengths). After a day raw samples are averaged into
hourly rows; after RESOURCES_SAMPLE_RETENTION_DAYS everything goes. A reading that could not be taken is null.

An issue is open while a metric of a host stays over its warning threshold: at most one open issue per (host,
metric), escalated in place from warning to critical, resolved when the value falls back under the warning
threshold (or by hand)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..choices import IssueSeverity, IssueStatus, MonitorMetric, SampleResolution

# What to do about each metric; stored as the metric code, rendered in the reader's language.
SUGGESTIONS: dict[str, Any] = {
    MonitorMetric.CPU: _(
        "CPU is busy: add workers or move backtests and sweeps to another host; look for a runaway task in the "
        "Celery dashboard."
    ),
    MonitorMetric.MEMORY: _(
        "Memory is short: lower the worker concurrency, restart leaking workers, or add memory to the host."
    ),
    MonitorMetric.DISK: _(
        "The data volume is filling up: purge old audit entries and backups, remove unused documents, or extend "
        "the volume."
    ),
    MonitorMetric.PG_CONNECTIONS: _(
        "PostgreSQL is near max_connections: put a connection pooler (PgBouncer) in front, lower the number of web "
        "and worker processes, or raise max_connections."
    ),
    MonitorMetric.QUEUE_BACKLOG: _(
        "Tasks are piling up in a queue: start more workers for that queue or check that its workers are alive."
    ),
}


class HostSample(models.Model):
    taken_at = models.DateTimeField(_("taken at"))
    host = models.CharField(_("host"), max_length=255)
    resolution = models.CharField(
        _("resolution"), max_length=8, choices=SampleResolution.choices, default=SampleResolution.RAW
    )
    samples = models.PositiveIntegerField(_("samples averaged"), default=1)
    cpu_percent = models.FloatField(_("CPU %"), null=True, blank=True)
    memory_percent = models.FloatField(_("memory %"), null=True, blank=True)
    disk_percent = models.FloatField(_("disk %"), null=True, blank=True)
    load1 = models.FloatField(_("load (1 min)"), null=True, blank=True)
    net_sent_bytes_total = models.BigIntegerField(_("network bytes sent (counter)"), null=True, blank=True)
    net_recv_bytes_total = models.BigIntegerField(_("network bytes received (counter)"), null=True, blank=True)
    net_sent_bytes_per_second = models.FloatField(_("network sent (bytes/s)"), null=True, blank=True)
    net_recv_bytes_per_second = models.FloatField(_("network received (bytes/s)"), null=True, blank=True)
    pg_connections = models.IntegerField(_("PostgreSQL connections"), null=True, blank=True)
    pg_max_connections = models.IntegerField(_("PostgreSQL max_connections"), null=True, blank=True)
    pg_database_bytes = models.BigIntegerField(_("database size (bytes)"), null=True, blank=True)
    redis_used_memory_bytes = models.BigIntegerField(_("Redis memory (bytes)"), null=True, blank=True)
    redis_clients = models.IntegerField(_("Redis clients"), null=True, blank=True)
    celery_workers = models.IntegerField(_("Celery workers"), null=True, blank=True)
    queue_lengths = models.JSONField(_("queue lengths"), null=True, blank=True, default=None)

    class Meta:
        ordering = ["-taken_at", "-id"]
        verbose_name = _("host sample")
        verbose_name_plural = _("host samples")
        indexes = [
            models.Index(fields=["taken_at"], name="resources_sample_taken_idx"),
            models.Index(fields=["host", "resolution", "taken_at"], name="resources_sample_host_idx"),
        ]
        constraints = [
            # one hourly row per host and hour: downsampling twice changes nothing
            models.UniqueConstraint(
                fields=["host", "taken_at"],
                condition=Q(resolution="hour"),
                name="resources_sample_one_hour_row",
            ),
            models.CheckConstraint(
                condition=(Q(cpu_percent__isnull=True) | Q(cpu_percent__gte=0, cpu_percent__lte=100))
                & (Q(memory_percent__isnull=True) | Q(memory_percent__gte=0, memory_percent__lte=100))
                & (Q(disk_percent__isnull=True) | Q(disk_percent__gte=0, disk_percent__lte=100)),
                name="resources_sample_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host} {self.taken_at:%Y-%m-%d %H:%M} ({self.resolution})"


class MonitorIssue(models.Model):
    host = models.CharField(_("host"), max_length=255)
    metric = models.CharField(_("metric"), max_length=32, choices=MonitorMetric.choices)
    severity = models.CharField(_("severity"), max_length=16, choices=IssueSeverity.choices)
    status = models.CharField(_("status"), max_length=16, choices=IssueStatus.choices, default=IssueStatus.OPEN)
    value = models.FloatField(_("value"))
    threshold = models.FloatField(_("threshold"))
    peak_value = models.FloatField(_("peak value"))
    opened_at = models.DateTimeField(_("opened at"))
    last_seen_at = models.DateTimeField(_("last seen at"))
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_manually = models.BooleanField(_("resolved by hand"), default=False)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("monitor issue")
        verbose_name_plural = _("monitor issues")
        indexes = [models.Index(fields=["status", "severity"], name="resources_issue_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["host", "metric"], condition=Q(status="open"), name="resources_issue_one_open_per_metric"
            ),
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True) | Q(status="resolved", resolved_at__isnull=False),
                name="resources_issue_resolved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host}: {self.get_metric_display()} {self.get_severity_display()}"

    @property
    def suggestion(self) -> str:
        return str(SUGGESTIONS.get(self.metric, ""))
