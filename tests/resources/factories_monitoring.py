import datetime as dt

import factory
from django.utils import timezone

from apps.resources.models import HostSample, MonitorIssue


class HostSampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HostSample

    taken_at = factory.LazyFunction(timezone.now)
    host = "web-1"
    resolution = "raw"
    cpu_percent = 35.0
    memory_percent = 50.0
    disk_percent = 40.0
    load1 = 0.5
    pg_connections = 12
    pg_max_connections = 100
    pg_database_bytes = 50_000_000
    redis_used_memory_bytes = 2_000_000
    redis_clients = 4
    celery_workers = 2
    queue_lengths = factory.LazyFunction(lambda: {"default": 0, "ingest": 1, "backtest": 0, "agents": 0})


class MonitorIssueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MonitorIssue

    host = "web-1"
    metric = "cpu"
    severity = "warning"
    status = "open"
    value = 75.0
    peak_value = 75.0
    threshold = 70.0
    opened_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(minutes=5))
    last_seen_at = factory.LazyFunction(timezone.now)
