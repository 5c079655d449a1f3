"""Prometheus metrics of the resource management system: quota gauges per meter (computed by the platform's refresh
job, apps.core.metrics), pools and reservations, and the host and service samples of the monitoring beat job."""

from __future__ import annotations

from prometheus_client import Counter  # noqa: F401

from apps.core.metrics import business_gauge  # noqa: F401

# --- metering and quotas ----------------------------------------------------------------------------------------------
