"""Host and service monitoring: probes, thresholds and issues, downsampling, tasks, command, API, admin, metrics."""

from __future__ import annotations

import datetime as dt
import json
import logging
from io import StringIO

import psutil
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from apps.core.metrics import refresh_business_metrics
from apps.core.models import AuditLog
from apps.core.testing import assert_error_body
from apps.resources import tasks
from apps.resources.models import HostSample, MonitorIssue
from apps.resources.selectors.monitoring import host_sample_chart, monitor_issues_open_counts
from apps.resources.services import monitoring
from apps.resources.services.monitoring import (
    host_sample_collect,
    host_sample_record,
    host_samples_downsample,
    monitor_issue_resolve,
    thresholds_evaluate,
)
from tests.core.factories import UserFactory
from tests.resources.factories_monitoring import HostSampleFactory, MonitorIssueFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
SAMPLES = "/api/v1/resources/host-samples/"
ISSUES = "/api/v1/resources/monitor-issues/"


# --- Collection -----------------------------------------------------------------------------------------------------


def test_collection_reads_this_machine():
    readings = host_sample_collect()
    assert readings["host"]
    for field in ("cpu_percent", "memory_percent", "disk_percent"):
        assert isinstance(readings[field], float) and 0 <= readings[field] <= 100, field
    assert isinstance(readings["load1"], float) and readings["load1"] >= 0
    assert isinstance(readings["net_sent_bytes_total"], int) and readings["net_sent_bytes_total"] >= 0
    assert isinstance(readings["net_recv_bytes_total"], int) and readings["net_recv_bytes_total"] >= 0
    assert isinstance(readings["pg_connections"], int) and readings["pg_connections"] >= 1  # this test's own
    assert isinstance(readings["pg_max_connections"], int) and readings["pg_max_connections"] >= 1
    assert isinstance(readings["pg_database_bytes"], int) and readings["pg_database_bytes"] > 0
    # the test settings configure no Redis and an in-memory broker: unknown, not zero
    assert readings["redis_used_memory_bytes"] is None and readings["redis_clients"] is None
    assert readings["celery_workers"] is None and readings["queue_lengths"] is None


def test_unreachable_redis_leaves_its_fields_null(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    with caplog.at_level(logging.WARNING, logger="apps.resources.services.monitoring"):
        readings = host_sample_collect()
    assert readings["redis_used_memory_bytes"] is None and readings["redis_clients"] is None
    assert readings["queue_lengths"] is None
    assert readings["cpu_percent"] is not None and readings["pg_connections"] is not None  # the others still ran
    assert "Monitoring probe redis failed" in caplog.text and "Monitoring probe queues failed" in caplog.text
    sample = host_sample_record(readings=readings)
    assert sample.redis_clients is None and sample.cpu_percent is not None


def test_a_failing_host_probe_leaves_the_host_fields_null(monkeypatch):
    def broken() -> None:
        raise OSError("no /proc")

    monkeypatch.setattr(psutil, "virtual_memory", broken)
    readings = host_sample_collect()
    assert readings["memory_percent"] is None and readings["cpu_percent"] is None
    assert readings["pg_connections"] is not None


def test_a_failing_database_probe_keeps_the_transaction_usable(monkeypatch):
    def broken() -> dict:
        with transaction.atomic():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT no_such_column FROM pg_stat_activity")
        return {}

    monkeypatch.setattr(monitoring, "_read_postgres", broken)
    readings = host_sample_collect()
    assert readings["pg_connections"] is None
    assert host_sample_record(readings=readings).pk  # the test's transaction still works


@pytest.mark.redis
def test_redis_and_queue_lengths_from_a_real_redis(settings):
    url = settings.TEST_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required at {url} for tests marked 'redis' ({exc})")
    queue = "monitoring-test-queue"
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    settings.CELERY_TASK_QUEUES_NAMES = [queue]
    client.delete(queue)
    client.rpush(queue, "a", "b", "c")
    try:
        readings = host_sample_collect()
    finally:
        client.delete(queue)
        client.close()
    assert isinstance(readings["redis_used_memory_bytes"], int) and readings["redis_used_memory_bytes"] > 0
    assert isinstance(readings["redis_clients"], int) and readings["redis_clients"] >= 1
    assert readings["queue_lengths"] == {queue: 3}


# --- Recording and thresholds ---------------------------------------------------------------------------------------


def _record(metric_readings: dict, minute: int) -> HostSample:
    at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + dt.timedelta(minutes=minute)
    return host_sample_record(readings={"host": "db-1", **metric_readings}, taken_at=at)


@pytest.mark.parametrize(
    ("metric", "field", "warning", "critical"),
    [
        ("cpu", "cpu_percent", 70, 90),
        ("memory", "memory_percent", 75, 90),
        ("disk", "disk_percent", 80, 95),
    ],
)
def test_thresholds_open_escalate_and_resolve_one_issue(metric, field, warning, critical):
    issues = MonitorIssue.objects.filter(host="db-1", metric=metric)
    _record({field: warning - 1}, 0)
    assert not issues.exists()
    _record({field: warning}, 1)  # at the threshold is not over it
    assert not issues.exists()

    _record({field: warning + 1}, 2)
    issue = issues.get()
    assert (issue.status, issue.severity, issue.threshold, issue.value) == ("open", "warning", warning, warning + 1)
    assert issue.opened_at == dt.datetime(2026, 3, 2, 9, 2, tzinfo=UTC)
    assert issue.suggestion

    _record({field: critical + 1}, 3)
    escalated = issues.get()
    assert escalated.pk == issue.pk
    assert (escalated.severity, escalated.threshold, escalated.value) == ("critical", critical, critical + 1)
    assert escalated.escalated_at == dt.datetime(2026, 3, 2, 9, 3, tzinfo=UTC)

    _record({field: warning + 2}, 4)  # back to the warning band: stays critical until resolved
    issue = issues.get()
    assert (issue.severity, issue.status, issue.value, issue.peak_value) == (
        "critical",
        "open",
        warning + 2,
        critical + 1,
    )
    assert issue.last_seen_at == dt.datetime(2026, 3, 2, 9, 4, tzinfo=UTC)

    _record({field: 50}, 5)
    issue = issues.get()
    assert issue.status == "resolved" and issue.resolved_at == dt.datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    assert not issue.resolved_manually

    _record({field: warning + 3}, 6)  # a new episode is a new issue
    assert issues.count() == 2 and issues.filter(status="open").get().pk != issue.pk
    messages = list(
        AuditLog.objects.filter(target_type="resources.monitorissue", target_id=str(issue.pk)).values_list(
            "message", flat=True
        )
    )
    assert len(messages) == 3
    assert any("opened" in m for m in messages) and any("escalated" in m for m in messages)
    assert any("resolved" in m for m in messages)


def test_critical_straight_away_opens_a_critical_issue():
    _record({"cpu_percent": 99}, 0)
    issue = MonitorIssue.objects.get(metric="cpu")
    assert (issue.severity, issue.threshold) == ("critical", 90)


def test_other_metrics_are_untouched_by_one_metric():
    _record({"cpu_percent": 95, "memory_percent": 10, "disk_percent": 10}, 0)
    assert list(MonitorIssue.objects.values_list("metric", flat=True)) == ["cpu"]


def test_postgres_connections_near_max_connections():
    _record({"pg_connections": 80, "pg_max_connections": 100}, 0)
    assert not MonitorIssue.objects.exists()
    _record({"pg_connections": 81, "pg_max_connections": 100}, 1)
    issue = MonitorIssue.objects.get(metric="pg_connections")
    assert (issue.severity, issue.value) == ("warning", 81.0)
    _record({"pg_connections": 96, "pg_max_connections": 100}, 2)
    assert MonitorIssue.objects.get(pk=issue.pk).severity == "critical"
    _record({"pg_connections": 10, "pg_max_connections": 100}, 3)
    assert MonitorIssue.objects.get(pk=issue.pk).status == "resolved"


def test_queue_backlog_uses_the_longest_queue():
    _record({"queue_lengths": {"default": 3, "ingest": 100}}, 0)
    assert not MonitorIssue.objects.exists()
    _record({"queue_lengths": {"default": 3, "ingest": 101}}, 1)
    assert MonitorIssue.objects.get(metric="queue_backlog").severity == "warning"
    _record({"queue_lengths": {"default": 1001}}, 2)
    assert MonitorIssue.objects.get(metric="queue_backlog").severity == "critical"
    _record({"queue_lengths": {"default": 0, "ingest": 0}}, 3)
    assert MonitorIssue.objects.get(metric="queue_backlog").status == "resolved"


def test_unknown_values_change_nothing():
    _record({"cpu_percent": 95}, 0)
    _record({"cpu_percent": None}, 1)
    assert MonitorIssue.objects.get(metric="cpu").status == "open"


def test_thresholds_come_from_the_settings(settings):
    settings.RESOURCES_MONITOR_THRESHOLDS = {"cpu": (50, 60)}
    events = thresholds_evaluate(host="h", values={"cpu": 55.0, "memory": 80.0})
    assert [(e["metric"], e["event"], e["severity"]) for e in events] == [
        ("cpu", "opened", "warning"),
        ("memory", "opened", "warning"),  # memory keeps its default 75/90
    ]
    events = thresholds_evaluate(host="h", values={"cpu": 61.0})
    assert [(e["event"], e["severity"]) for e in events] == [("escalated", "critical")]


def test_one_open_issue_per_host_and_metric_in_the_database():
    MonitorIssueFactory(host="h", metric="cpu")
    with pytest.raises(IntegrityError), transaction.atomic():
        MonitorIssueFactory(host="h", metric="cpu")
    MonitorIssueFactory(host="h", metric="cpu", status="resolved", resolved_at=timezone.now())
    MonitorIssueFactory(host="other", metric="cpu")


def test_percentages_are_clamped_and_network_rates_computed():
    first = _record({"cpu_percent": 130.0, "net_sent_bytes_total": 1000, "net_recv_bytes_total": 5000}, 0)
    assert first.cpu_percent == 100.0
    assert first.net_sent_bytes_per_second is None  # no previous sample
    second = _record({"net_sent_bytes_total": 7000, "net_recv_bytes_total": 5000}, 1)
    assert second.net_sent_bytes_per_second == 100.0 and second.net_recv_bytes_per_second == 0.0
    third = _record({"net_sent_bytes_total": 10, "net_recv_bytes_total": 10}, 2)  # the host restarted
    assert third.net_sent_bytes_per_second is None and third.net_recv_bytes_per_second is None


def test_suggestions_are_translated():
    issue = MonitorIssueFactory(metric="disk")
    english = issue.suggestion
    assert "extend the volume" in english
    with translation.override("zh-hans"):
        assert issue.suggestion != english


def test_manual_resolution_is_audited_and_refused_twice():
    user = UserFactory(role="manager")
    issue = monitor_issue_resolve(issue=MonitorIssueFactory(), actor=user, note="rebooted")
    assert (issue.status, issue.resolved_manually, issue.note) == ("resolved", True, "rebooted")
    assert AuditLog.objects.filter(target_id=str(issue.pk), actor=user, message__icontains="by hand").exists()
    from apps.core.exceptions import Conflict

    with pytest.raises(Conflict):
        monitor_issue_resolve(issue=issue, actor=user)


# --- Downsampling ---------------------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 1, 10, 12, 30, tzinfo=UTC)


def _raw(at: dt.datetime, **fields) -> HostSample:
    defaults = {
        "cpu_percent": None,
        "memory_percent": None,
        "disk_percent": None,
        "load1": None,
        "pg_connections": None,
        "pg_max_connections": None,
        "pg_database_bytes": None,
        "redis_used_memory_bytes": None,
        "redis_clients": None,
        "celery_workers": None,
        "queue_lengths": None,
    }
    return HostSampleFactory(taken_at=at, host="web-1", **{**defaults, **fields})


def test_downsampling_averages_old_raw_samples_into_hours():
    day = dt.datetime(2026, 1, 9, tzinfo=UTC)
    _raw(
        day.replace(hour=10, minute=5),
        cpu_percent=10,
        memory_percent=40,
        pg_connections=10,
        queue_lengths={"default": 0},
        net_sent_bytes_total=100,
    )
    _raw(day.replace(hour=10, minute=25), cpu_percent=20, pg_connections=11, queue_lengths={"default": 3})
    _raw(
        day.replace(hour=10, minute=45),
        cpu_percent=60,
        memory_percent=60,
        pg_connections=11,
        queue_lengths={"default": 6, "ingest": 2},
        net_sent_bytes_total=900,
    )
    _raw(day.replace(hour=11, minute=10), cpu_percent=80, celery_workers=3)
    kept = [_raw(day.replace(hour=12, minute=10), cpu_percent=5), _raw(NOW - dt.timedelta(minutes=1), cpu_percent=7)]
    HostSampleFactory(taken_at=NOW - dt.timedelta(days=31), resolution="hour", host="web-1")  # past retention

    result = host_samples_downsample(now=NOW)
    assert result == {"hours": 2, "raw_deleted": 4, "expired_deleted": 1}

    ten = HostSample.objects.get(resolution="hour", taken_at=day.replace(hour=10))
    assert ten.samples == 3
    assert ten.cpu_percent == pytest.approx(30.0)  # (10 + 20 + 60) / 3
    assert ten.memory_percent == pytest.approx(50.0)  # (40 + 60) / 2: unknown readings are left out
    assert ten.pg_connections == 11  # 32 / 3 = 10.67, rounded
    assert ten.disk_percent is None
    assert ten.queue_lengths == {"default": 3.0, "ingest": 2.0}
    assert ten.net_sent_bytes_total == 900  # a counter keeps the hour's last value
    eleven = HostSample.objects.get(resolution="hour", taken_at=day.replace(hour=11))
    assert (eleven.samples, eleven.cpu_percent, eleven.celery_workers) == (1, 80.0, 3)
    raw_left = set(HostSample.objects.filter(resolution="raw").values_list("pk", flat=True))
    assert raw_left == {sample.pk for sample in kept}

    before = list(HostSample.objects.order_by("id").values())
    assert host_samples_downsample(now=NOW) == {"hours": 0, "raw_deleted": 0, "expired_deleted": 0}
    assert list(HostSample.objects.order_by("id").values()) == before


def test_a_late_raw_sample_is_merged_into_its_hour():
    hour = dt.datetime(2026, 1, 9, 10, tzinfo=UTC)
    for minute, cpu in ((5, 10), (25, 20), (45, 60)):
        _raw(hour.replace(minute=minute), cpu_percent=cpu)
    host_samples_downsample(now=NOW)
    _raw(hour.replace(minute=50), cpu_percent=70)
    assert host_samples_downsample(now=NOW)["hours"] == 1
    row = HostSample.objects.get(resolution="hour")
    assert (row.samples, row.cpu_percent) == (4, pytest.approx(40.0))  # (30 * 3 + 70) / 4


def test_retention_follows_the_settings(settings):
    settings.RESOURCES_SAMPLE_RETENTION_DAYS = 2
    old = HostSampleFactory(taken_at=NOW - dt.timedelta(days=2, minutes=1), resolution="hour")
    young = HostSampleFactory(taken_at=NOW - dt.timedelta(days=1, hours=23), resolution="hour")
    assert host_samples_downsample(now=NOW)["expired_deleted"] == 1
    assert not HostSample.objects.filter(pk=old.pk).exists() and HostSample.objects.filter(pk=young.pk).exists()


# --- Tasks, beat, command -------------------------------------------------------------------------------------------


def test_sample_task_stores_a_sample():
    result = tasks.sample_host.delay().get()
    sample = HostSample.objects.get(pk=result["id"])
    assert sample.resolution == "raw" and sample.cpu_percent is not None


def test_downsample_task():
    _raw(timezone.now() - dt.timedelta(days=3), cpu_percent=10)
    assert tasks.downsample_samples.delay().get() == {"hours": 1, "raw_deleted": 1, "expired_deleted": 0}


def test_beat_table_schedules_the_jobs():
    entries = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert entries["resources.sample_host"]["schedule"] == 60.0
    assert "resources.downsample_samples" in entries


def test_command_takes_and_prints_a_sample():
    out = StringIO()
    call_command("resources_sample", stdout=out)
    sample = HostSample.objects.get()
    assert f"Sample {sample.pk} of {sample.host}" in out.getvalue()
    assert "cpu_percent:" in out.getvalue()
    out = StringIO()
    call_command("resources_sample", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["id"] == HostSample.objects.latest("id").pk and 0 <= data["memory_percent"] <= 100


# --- API ------------------------------------------------------------------------------------------------------------

ALLOWED = {"admin", "manager"}


@pytest.mark.parametrize("role", ["admin", "manager", "user", "guest"])
@pytest.mark.parametrize("path", [SAMPLES, ISSUES])
def test_lists_per_role(role_client, role, path):
    HostSampleFactory()
    MonitorIssueFactory()
    response = role_client(role).get(path)
    if role in ALLOWED:
        assert response.status_code == 200 and response.json()["count"] == 1
    else:
        assert_error_body(response, 403, "permission_denied")


@pytest.mark.parametrize("path", [SAMPLES, ISSUES])
def test_anonymous_is_refused(path):
    assert_error_body(APIClient().get(path), 401, "not_authenticated")


@pytest.mark.parametrize("role", ["admin", "manager", "user", "guest"])
def test_resolve_per_role(role_client, role):
    issue = MonitorIssueFactory()
    response = role_client(role).post(f"{ISSUES}{issue.pk}/resolve/", {"note": "looked"}, format="json")
    issue.refresh_from_db()
    if role in ALLOWED:
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "resolved" and response.json()["note"] == "looked"
        assert issue.status == "resolved"
        assert AuditLog.objects.filter(target_id=str(issue.pk), actor_username=f"{role}-user").exists()
    else:
        assert_error_body(response, 403, "permission_denied")
        assert issue.status == "open"


def test_resolve_twice_conflicts_and_missing_is_404(role_client):
    client = role_client("manager")
    issue = MonitorIssueFactory()
    assert client.post(f"{ISSUES}{issue.pk}/resolve/", {}, format="json").status_code == 200
    assert_error_body(client.post(f"{ISSUES}{issue.pk}/resolve/", {}, format="json"), 409, "issue_resolved")
    assert_error_body(client.post(f"{ISSUES}987654/resolve/", {}, format="json"), 404)
    assert_error_body(client.post(f"{ISSUES}{issue.pk}/resolve/", {"note": "x" * 2001}, format="json"), 400)


def test_anonymous_cannot_resolve():
    issue = MonitorIssueFactory()
    assert_error_body(APIClient().post(f"{ISSUES}{issue.pk}/resolve/", {}, format="json"), 401, "not_authenticated")


def test_retrieve_issue_shows_the_suggestion(role_client):
    issue = MonitorIssueFactory(metric="cpu")
    body = role_client("admin").get(f"{ISSUES}{issue.pk}/").json()
    assert body["metric"] == "cpu" and "workers" in body["suggestion"]


def test_sample_filters(role_client):
    client = role_client("admin")
    base = dt.datetime(2026, 2, 1, tzinfo=UTC)
    a = HostSampleFactory(host="a", taken_at=base)
    b = HostSampleFactory(host="b", taken_at=base + dt.timedelta(hours=2))
    c = HostSampleFactory(host="a", taken_at=base + dt.timedelta(hours=4), resolution="hour")

    def ids(params: dict) -> set[int]:
        response = client.get(SAMPLES, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids({"host": "a"}) == {a.pk, c.pk}
    assert ids({"resolution": "hour"}) == {c.pk}
    assert ids({"since": (base + dt.timedelta(hours=1)).isoformat()}) == {b.pk, c.pk}
    assert ids({"until": (base + dt.timedelta(hours=3)).isoformat()}) == {a.pk, b.pk}
    assert_error_body(client.get(SAMPLES, {"since": "yesterday"}), 400)
    assert_error_body(client.get(SAMPLES, {"resolution": "minute"}), 400)


def test_issue_filters(role_client):
    client = role_client("admin")
    warning = MonitorIssueFactory(host="a", metric="cpu")
    critical = MonitorIssueFactory(host="a", metric="disk", severity="critical")
    resolved = MonitorIssueFactory(host="b", metric="cpu", status="resolved", resolved_at=timezone.now())

    def ids(params: dict) -> set[int]:
        return {row["id"] for row in client.get(ISSUES, params).json()["results"]}

    assert ids({"status": "open"}) == {warning.pk, critical.pk}
    assert ids({"severity": "critical"}) == {critical.pk}
    assert ids({"metric": "cpu"}) == {warning.pk, resolved.pk}
    assert ids({"host": "b"}) == {resolved.pk}


def test_list_query_counts(role_client, django_assert_max_num_queries):
    client = role_client("admin")
    client.get(SAMPLES)  # warm the permission cache
    HostSampleFactory.create_batch(30)
    MonitorIssueFactory.create_batch(5, status="resolved", resolved_at=timezone.now())
    with django_assert_max_num_queries(8):
        assert len(client.get(SAMPLES).json()["results"]) == 30
    with django_assert_max_num_queries(8):
        assert len(client.get(ISSUES).json()["results"]) == 5


# --- Admin, chart, metrics ------------------------------------------------------------------------------------------


def test_admin_pages_render(admin_client):
    HostSampleFactory(cpu_percent=42.0)
    issue = MonitorIssueFactory()
    response = admin_client.get(reverse("admin:resources_hostsample_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Last 24 hours" in page and "42.0" in page
    assert admin_client.get(reverse("admin:resources_monitorissue_changelist")).status_code == 200
    response = admin_client.get(reverse("admin:resources_monitorissue_change", args=[issue.pk]))
    assert response.status_code == 200 and "add workers" in response.content.decode()


def test_admin_resolve_action(admin_client):
    issue = MonitorIssueFactory()
    response = admin_client.post(
        reverse("admin:resources_monitorissue_changelist"),
        {"action": "resolve_selected", "_selected_action": [issue.pk]},
        follow=True,
    )
    assert response.status_code == 200
    issue.refresh_from_db()
    assert issue.status == "resolved" and issue.resolved_manually


def test_admin_pages_need_resources_manage(client):
    for role, status in (("manager", 200), ("user", 403)):
        client.force_login(UserFactory(role=role, is_staff=True))
        assert client.get(reverse("admin:resources_hostsample_changelist")).status_code == status


def test_chart_averages_slots_of_the_last_day():
    now = timezone.now()
    HostSampleFactory(taken_at=now - dt.timedelta(minutes=5), cpu_percent=20.0)
    HostSampleFactory(taken_at=now - dt.timedelta(minutes=10), cpu_percent=40.0)
    HostSampleFactory(taken_at=now - dt.timedelta(hours=30), cpu_percent=99.0)  # outside the window
    chart = host_sample_chart(hours=24, buckets=48)
    assert len(chart) == 48
    assert chart[-1]["cpu"] == 30.0
    assert all(slot["cpu"] is None for slot in chart[:-1])


def test_gauges_export_the_newest_sample_of_each_host():
    HostSampleFactory(host="web-1", cpu_percent=10.0, taken_at=timezone.now() - dt.timedelta(minutes=2))
    HostSampleFactory(host="web-1", cpu_percent=33.0, queue_lengths={"default": 4})
    HostSampleFactory(host="gone", cpu_percent=50.0, taken_at=timezone.now() - dt.timedelta(hours=2))
    MonitorIssueFactory(severity="critical")
    gauges = refresh_business_metrics()["gauges"]
    assert gauges["resources_host_cpu_percent"] == [[["web-1"], 33.0]]
    assert [["web-1", "default"], 4.0] in gauges["resources_queue_length"]
    assert dict((tuple(k), v) for k, v in gauges["resources_monitor_issues_open"]) == {
        ("critical",): 1.0,
        ("warning",): 0.0,
    }
    ages = dict((k[0], v) for k, v in gauges["resources_host_sample_age_seconds"])
    assert set(ages) == {"web-1", "gone"} and ages["gone"] > 7000
    assert monitor_issues_open_counts() == {"warning": 0, "critical": 1}
