"""Serializers of host and service monitoring: samples and issues are read-only; a resolution takes a note."""

from __future__ import annotations

from typing import ClassVar

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.core.serializers import BaseModelSerializer

from ...models import HostSample, MonitorIssue


class HostSampleSerializer(BaseModelSerializer[HostSample]):
    class Meta:
        model = HostSample
        fields: ClassVar = [
            "id",
            "taken_at",
            "host",
            "resolution",
            "samples",
            "cpu_percent",
            "memory_percent",
            "disk_percent",
            "load1",
            "net_sent_bytes_per_second",
            "net_recv_bytes_per_second",
            "net_sent_bytes_total",
            "net_recv_bytes_total",
            "pg_connections",
            "pg_max_connections",
            "pg_database_bytes",
            "redis_used_memory_bytes",
            "redis_clients",
            "celery_workers",
            "queue_lengths",
        ]
        read_only_fields = fields


class MonitorIssueSerializer(BaseModelSerializer[MonitorIssue]):
    suggestion = serializers.CharField(read_only=True, help_text=_("What to do about it, in the reader's language."))

    class Meta:
        model = MonitorIssue
        fields: ClassVar = [
            "id",
            "host",
            "metric",
            "severity",
            "status",
            "value",
            "peak_value",
            "threshold",
            "suggestion",
            "opened_at",
            "last_seen_at",
            "escalated_at",
            "resolved_at",
            "resolved_manually",
            "note",
        ]
        read_only_fields = fields


class MonitorIssueResolveSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
