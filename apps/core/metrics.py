"""Business metrics: gauges computed from the database by a scheduled job, exported by every web process.

Each system declares its gauges in ``apps/<system>/metrics.py``::

    @business_gauge("erp_stock_outs", "Stockable products with nothing available")
    def _stock_outs() -> float:
        return StockLevel.objects.filter(...).count()

    @business_gauge("rag_documents", "Documents by status", labels=("status",))
    def _documents() -> dict[tuple[str, ...], float]:
        return {(row["status"],): row["n"] for row in ...}

The beat job ``core.refresh_business_metrics`` computes all gauges and stores the values in the cache (Redis in
production), so a scrape costs one cache read, whichever process answers it and however many there are. When the
cache holds nothing yet (a fresh start, or development without beat) the scrape computes once and caches the result.
Event counters (orders created, tokens used, ...) stay plain ``prometheus_client`` counters in the same module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CACHE_KEY = "aistack:business-metrics"

GaugeValues = float | int | dict[tuple[str, ...], float]


@dataclass(frozen=True)
class BusinessGauge:
    name: str
    documentation: str
    labels: tuple[str, ...]
    compute: Callable[[], GaugeValues]


_gauges: dict[str, BusinessGauge] = {}

LOGINS = Counter("aistack_logins_total", "Logins by outcome (success, failure, locked)", ["outcome"])


def business_gauge(
    name: str, documentation: str, *, labels: tuple[str, ...] = ()
) -> Callable[[Callable[[], GaugeValues]], Callable[[], GaugeValues]]:
    """Register ``compute`` as the source of gauge ``name`` (a number, or {label values: number} with ``labels``)."""

    def register(compute: Callable[[], GaugeValues]) -> Callable[[], GaugeValues]:
        if name in _gauges and _gauges[name].compute.__qualname__ != compute.__qualname__:
            raise ValueError(f"business gauge {name!r} is declared twice")
        _gauges[name] = BusinessGauge(name, documentation, labels, compute)
        return compute

    return register


def registered_gauges() -> list[BusinessGauge]:
    return sorted(_gauges.values(), key=lambda g: g.name)


def _samples(gauge: BusinessGauge, value: GaugeValues) -> list[list[Any]]:
    if isinstance(value, dict):
        return [[list(labels), float(v)] for labels, v in sorted(value.items())]
    return [[[], float(value)]]


def refresh_business_metrics() -> dict[str, Any]:
    """Compute every registered gauge and store the values in the cache; a failing gauge is logged and skipped."""
    data: dict[str, Any] = {"refreshed_at": time.time(), "gauges": {}, "errors": []}
    for gauge in registered_gauges():
        try:
            data["gauges"][gauge.name] = _samples(gauge, gauge.compute())
        except Exception:  # one broken gauge must not hide the others
            logger.exception("Business gauge %s failed", gauge.name)
            data["errors"].append(gauge.name)
    cache.set(CACHE_KEY, data, timeout=settings.BUSINESS_METRICS_MAX_AGE_SECONDS)
    return data


class BusinessMetricsCollector(Collector):
    """Exports the cached gauges (plus the age of the snapshot) at scrape time."""

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # names are only known after the apps are loaded; nothing is queried at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            data = cache.get(CACHE_KEY) or refresh_business_metrics()
        except Exception:  # the cache or the database may be down while scraping: export what the process has
            logger.warning("Business metrics unavailable", exc_info=True)
            return
        for gauge in registered_gauges():
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=list(gauge.labels))
            for labels, value in data["gauges"].get(gauge.name, []):
                family.add_metric(labels, value)
            yield family
        age = GaugeMetricFamily("aistack_business_metrics_age_seconds", "Age of the business metrics snapshot")
        age.add_metric([], max(0.0, time.time() - data["refreshed_at"]))
        yield age
        failed = GaugeMetricFamily("aistack_business_metrics_failed", "Business gauges whose last refresh failed")
        failed.add_metric([], len(data["errors"]))
        yield failed


def metrics_client_allowed(*, authorization: str, ip: str | None) -> bool:
    """Whether a client may read metrics (the web's /metrics and the workers' endpoint alike): the bearer token
    METRICS_TOKEN, or an address inside METRICS_ALLOWED_IPS (addresses or networks)."""
    import ipaddress

    from .crypto import constant_time_equals

    token = getattr(settings, "METRICS_TOKEN", "")
    if token and authorization.startswith("Bearer ") and constant_time_equals(authorization[7:].strip(), token):
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    for allowed in getattr(settings, "METRICS_ALLOWED_IPS", ()):
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


collector = BusinessMetricsCollector()
REGISTRY.register(collector)


def export_registry() -> CollectorRegistry:
    """The registry to expose: the process's own, or (under gunicorn with PROMETHEUS_MULTIPROC_DIR) the merged
    registry of all worker processes plus the business gauges."""
    import os

    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(collector)
        return registry
    return REGISTRY


@business_gauge("aistack_active_users", "Users with audited activity (logins, writes) in the last 15 minutes")
def _active_users() -> float:
    from datetime import timedelta

    from django.utils import timezone

    from .models import AuditLog

    since = timezone.now() - timedelta(minutes=15)
    return AuditLog.objects.filter(timestamp__gte=since, actor__isnull=False).values("actor").distinct().count()


@business_gauge("aistack_api_keys_active", "API keys that are neither revoked nor expired")
def _active_api_keys() -> float:
    from django.db.models import Q
    from django.utils import timezone

    from .models import ApiKey

    return (
        ApiKey.objects.filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .count()
    )
