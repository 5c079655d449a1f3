"""Every Grafana dashboard and alert rule refers only to metrics that exist (catches typos in PromQL)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.ops.promql import metric_names

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((MONITORING / "prometheus" / "alerts").glob("*.yml"))

# Metrics of the exporters started by monitoring/docker-compose.monitoring.yml that the dashboards and rules use.
# They are not scraped in tests, so they are listed here, as published by each exporter's documentation:
# node-exporter, cAdvisor, postgres_exporter, redis_exporter, danihodovic/celery-exporter, blackbox_exporter,
# Alertmanager, and Prometheus's own series (up, ALERTS). Add a name here only after checking the exporter exports it.
EXPORTER_METRICS = {
    # Prometheus
    "up",
    "ALERTS",
    # node-exporter
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_readonly",
    "node_load1",
    # cAdvisor
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_spec_memory_limit_bytes",
    "container_start_time_seconds",
    # postgres_exporter
    "pg_up",
    "pg_stat_activity_count",
    "pg_settings_max_connections",
    "pg_replication_lag_seconds",
    "pg_replication_is_replica",
    "pg_database_size_bytes",
    "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback",
    "pg_stat_database_blks_hit",
    "pg_stat_database_blks_read",
    "pg_stat_database_deadlocks",
    "pg_locks_count",
    # redis_exporter
    "redis_up",
    "redis_memory_used_bytes",
    "redis_memory_max_bytes",
    "redis_connected_clients",
    "redis_db_keys",
    "redis_commands_processed_total",
    "redis_keyspace_hits_total",
    "redis_keyspace_misses_total",
    "redis_evicted_keys_total",
    "redis_expired_keys_total",
    # celery-exporter
    "celery_worker_up",
    "celery_worker_tasks_active",
    "celery_queue_length",
    "celery_active_worker_count",
    "celery_active_process_count",
    "celery_task_sent_total",
    "celery_task_received_total",
    "celery_task_succeeded_total",
    "celery_task_failed_total",
    "celery_task_retried_total",
    "celery_task_runtime_bucket",
    # blackbox_exporter
    "probe_success",
    "probe_ssl_earliest_cert_expiry",
    # Alertmanager
    "alertmanager_notifications_failed_total",
}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "untyped": ("",),
    "info": ("_info",),
}


def _exposed_names(text: str) -> set[str]:
    """Sample names of every metric family in an exposition, including families without samples yet."""
    names: set[str] = set()
    for line in text.splitlines():
        match = re.match(r"# TYPE (\S+) (\S+)", line)
        if match:
            family, kind = match.groups()
            base = family.removesuffix("_total") if kind == "counter" else family
            names.update(base + suffix for suffix in _SUFFIXES.get(kind, ("",)))
            names.add(family)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


@pytest.fixture(scope="module")
def app_metrics(django_db_setup, django_db_blocker) -> set[str]:
    import importlib.util
    import pkgutil

    from django.core.cache import cache
    from django.test import Client

    import apps

    # Each system's metrics module registers its counters and gauges when the system is first used; import them all so
    # the exposition lists every family (a labelled family with no sample yet still has its TYPE line).
    for module in pkgutil.iter_modules(apps.__path__):
        if importlib.util.find_spec(f"apps.{module.name}.metrics") is not None:
            importlib.import_module(f"apps.{module.name}.metrics")
    with django_db_blocker.unblock():
        client = Client()
        client.get("/healthz")
        client.get("/readyz")
        client.get("/no-such-page/")
        cache.set("ops-test", 1)
        cache.get("ops-test")
        response = client.get("/metrics")
    assert response.status_code == 200
    return _exposed_names(response.content.decode())


# Business metrics exported by the systems (apps/<system>/metrics.py, apps/core/metrics.py); the Business dashboard
# and business_alerts.yml use them. Checked against the real exposition, so a renamed metric fails here first.
BUSINESS_METRICS = {
    "aistack_active_users",
    "aistack_api_keys_active",
    "aistack_business_metrics_age_seconds",
    "aistack_business_metrics_failed",
    "aistack_logins_total",
    "erp_revenue_today",
    "erp_overdue_receivables",
    "erp_stock_outs",
    "erp_reorder_suggestions",
    "erp_sales_orders_created_total",
    "erp_sales_orders_confirmed_total",
    "rag_documents",
    "rag_chunks",
    "rag_documents_uploaded_total",
    "rag_documents_ingested_total",
    "rag_chunks_ingested_total",
    "rag_ingestion_failures_total",
    "rag_searches_total",
    "rag_search_seconds_bucket",
    "rag_ask_seconds_bucket",
    "chat_requests_total",
    "chat_prompt_tokens_total",
    "chat_completion_tokens_total",
    "chat_completion_seconds_bucket",
    "chat_upstream_errors_total",
    "chat_tool_calls_total",
    "resources_quota_usage_ratio",
    "resources_users_over_quota",
    "resources_usage_today",
    "resources_quota_refusals_total",
    "stock_backtests_total",
    "stock_paper_orders",
    "stock_portfolio_equity",
    # resources: host and service monitoring (the sampling beat job's newest sample per host)
    "resources_host_cpu_percent",
    "resources_host_memory_percent",
    "resources_host_disk_percent",
    "resources_host_load1",
    "resources_host_network_sent_bytes_per_second",
    "resources_host_network_received_bytes_per_second",
    "resources_host_sample_age_seconds",
    "resources_pg_connections",
    "resources_pg_max_connections",
    "resources_pg_database_bytes",
    "resources_redis_used_memory_bytes",
    "resources_redis_clients",
    "resources_celery_workers",
    "resources_queue_length",
    "resources_monitor_issues_open",
}


def test_business_metrics_are_exported(app_metrics):
    assert BUSINESS_METRICS - app_metrics == set()


def _panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def test_promql_parser_finds_metric_names():
    expr = (
        'sum by (le, view) (rate(foo_bucket{view!~"metrics|x"}[$__rate_interval])) / on (instance) '
        "group_left max(bar) > 2 * 1024 and absent(baz == 1) or vector(0)"
    )
    assert metric_names(expr) == {"foo_bucket", "bar", "baz"}


def test_dashboards_exist():
    titles = {json.loads(path.read_text())["title"] for path in DASHBOARDS}
    assert {"AI Stack overview", "Business", "Celery", "PostgreSQL/Redis"} <= titles


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_reference_known_metrics(path, app_metrics):
    dashboard = json.loads(path.read_text())
    known = app_metrics | EXPORTER_METRICS
    uids = set()
    problems = []
    for panel in _panels(dashboard):
        assert panel["id"] not in uids, f"{path.name}: duplicate panel id {panel['id']}"
        uids.add(panel["id"])
        for target in panel.get("targets", []):
            unknown = metric_names(target["expr"]) - known
            if unknown:
                problems.append(f"{panel['title']!r}: {sorted(unknown)}")
    assert not problems, f"{path.name} refers to unknown metrics: " + "; ".join(problems)
    assert any(panel.get("targets") for panel in _panels(dashboard))


def _rules() -> list[dict]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def test_alert_rules_reference_known_metrics(app_metrics):
    known = app_metrics | EXPORTER_METRICS
    problems = {rule["alert"]: sorted(metric_names(rule["expr"]) - known) for rule in _rules()}
    assert not {alert: names for alert, names in problems.items() if names}


def test_alert_rules_have_labels_annotations_and_runbook_sections():
    runbook = (MONITORING / "RUNBOOK.md").read_text()
    sections = {line[3:].strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    rules = _rules()
    assert len(rules) >= 14
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["labels"]["system"], rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        anchor = rule["annotations"]["runbook_url"].split("monitoring/RUNBOOK.md#", 1)[1]
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in sections, f"RUNBOOK.md has no section for {rule['alert']}"


def test_every_alert_rule_has_firing_and_silent_unit_tests():
    firing: set[str] = set()
    silent: set[str] = set()
    for path in (MONITORING / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = {rule["alert"] for rule in _rules()}
    assert alerts - firing == set(), "alerts without a firing test"
    assert alerts - silent == set(), "alerts without a silent test"
