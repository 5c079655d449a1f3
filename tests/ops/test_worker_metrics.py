"""Celery workers serve their own application metrics (apps/core/worker_metrics.py).

The end-to-end test starts a real ``celery worker`` process with the prefork pool, a real Redis broker and the test
database, has it ingest real documents, and reads the counters its pool processes moved from its /metrics endpoint.
The other tests check the wiring of every place the worker runs (Compose, Prometheus, Kubernetes)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import yaml
from django.conf import settings
from django.db import connection
from prometheus_client import REGISTRY
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from aistack.celery import app
from apps.core import worker_metrics
from apps.rag.services import document_create_text
from apps.rag.tasks import ingest_document
from tests.core.test_celery import _forget_broker_connections
from tests.rag.factories import DocumentFactory, KnowledgeBaseFactory

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).parent / "celery"
TOKEN = "worker-metrics-test-token"
PORT = 9809


def _redis_url() -> str:
    """A Redis database of this test's own (tests/core/test_celery.py takes 15, 14, ... per pytest-xdist worker)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db_number = 12 - int(worker.removeprefix("gw")) % 4
    url = urlsplit(settings.TEST_REDIS_URL)._replace(path=f"/{db_number}").geturl()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required at {url} for tests marked 'redis' ({exc}); start redis-server or deselect")
    finally:
        client.close()
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_stale_counter(directory: Path, family: str, documentation: str, value: float) -> None:
    """What a worker killed before this one leaves behind: a pool process's counter file with a count in it."""
    stale = MmapedDict(str(directory / "counter_999999.db"))
    stale.write_value(mmap_key(family, f"{family}_total", [], [], documentation), value, 0.0)
    stale.close()


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(body: str) -> dict[str, float]:
    """Sample name -> value summed over labels."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def _worker_env(*, broker: str, port: int, multiproc: Path, media: Path) -> dict[str, str]:
    """The worker reads the test database (the one this test writes to) and serves metrics on ``port``."""
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "CELERY_METRICS_PORT": str(port),
        "CELERY_METRICS_ADDR": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "MEDIA_ROOT": str(media),
        "METRICS_TOKEN": TOKEN,
        # Only the token opens the endpoint, so that the test sees the refusal from loopback as well.
        "METRICS_ALLOWED_IPS": "192.0.2.1",
        "PYTHONUNBUFFERED": "1",
    }
    test_db = connection.settings_dict["NAME"]
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = urlsplit(env["DATABASE_URL"])._replace(path=f"/{test_db}").geturl()
    else:
        env["EMBEDDED_DB_NAME"] = test_db
    return env


def _wait_for_endpoint(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the worker's metrics endpoint never answered:\n{log.read_text()[-4000:]}")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_prefork_worker_serves_the_counters_its_pool_processes_moved(tmp_path, settings, make_user):
    broker = _redis_url()
    queue = f"worker-metrics-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    multiproc = tmp_path / "prometheus-multiproc"
    multiproc.mkdir()
    _write_stale_counter(multiproc, "rag_ingestion_failures", "Documents whose ingestion failed", 41.0)
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)

    # The web side stores the documents (without enqueueing); the worker does the ingestion.
    kb = KnowledgeBaseFactory(owner=make_user(role="user"), name="Worker metrics")
    good = document_create_text(kb=kb, title="Handbook", text="Workers count what they ingest.", enqueue=False)
    missing = DocumentFactory(knowledge_base=kb)  # its stored file does not exist: ingestion fails

    log = tmp_path / "worker.log"
    saved = {key: app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")}
    process = None
    with log.open("w") as output:
        try:
            # One pool process replaced after every task: the two tasks run in two processes, the first one gone
            # by the time of the scrape.
            process = subprocess.Popen(
                [str(CELERY), "-A", "aistack", "worker", "--pool", "prefork", "-c", "1", "--max-tasks-per-child", "1",
                 "-Q", queue, "-n", f"{queue}@%h", "-l", "warning", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
                cwd=ROOT,
                env=_worker_env(broker=broker, port=port, multiproc=multiproc, media=media),
                stdout=output,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}/metrics"
            _wait_for_endpoint(process, url, log)

            app.conf.update(broker_url=broker, result_backend=broker, task_always_eager=False)
            _forget_broker_connections()
            assert ingest_document.apply_async(args=[good.document.pk], queue=queue).get(timeout=60) == "ready"
            assert ingest_document.apply_async(args=[missing.pk], queue=queue).get(timeout=60) == "failed"

            status, body = _get(url)
            assert status == 403
            assert json.loads(body)["error"]["code"] == "permission_denied"

            status, body = _get(url, TOKEN)
            assert status == 200, body
            samples = _samples(body)
            good.document.refresh_from_db()
            assert good.document.chunks_total >= 1
            assert samples["rag_documents_ingested_total"] == 1
            assert samples["rag_chunks_ingested_total"] == good.document.chunks_total
            # 1, not 42: the stale file of an earlier worker was removed when this one started.
            assert samples["rag_ingestion_failures_total"] == 1
            # Uploads were counted by the web side (this process), not by the worker: no double counting. The series
            # exists at zero all the same (each pool process starts every metric at zero, so that increase() sees
            # the first event after a restart).
            assert samples["rag_documents_uploaded_total"] == 0
            assert samples["aistack_worker_pool_processes_started_total"] >= 2
            # The business gauges are the web service's; the worker does not export them.
            families = {family.name for family in text_string_to_metric_families(body)}
            assert not families & {"rag_documents", "rag_chunks", "aistack_business_metrics_age_seconds"}
            assert not (multiproc / "counter_999999.db").exists()
        finally:
            app.conf.update(saved)
            _forget_broker_connections()
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)  # warm shutdown: the worker stops its pool process itself
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            client = redis.Redis.from_url(broker)
            client.delete(queue)
            client.close()


# --- configuration and the metrics directory --------------------------------------------------------------------


def test_worker_metrics_are_off_unless_a_port_is_set(settings, monkeypatch):
    monkeypatch.delenv("CELERY_METRICS_PORT", raising=False)
    assert worker_metrics.metrics_port() is None
    assert worker_metrics.start(pool="prefork") is False
    monkeypatch.setenv("CELERY_METRICS_PORT", "9809")
    assert worker_metrics.metrics_port() == 9809
    settings.CELERY_METRICS_PORT = 70000
    with pytest.raises(ValueError, match="between 1 and 65535"):
        worker_metrics.metrics_port()


def test_metrics_directory_is_emptied_for_one_worker_only(tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "histogram_123.db").write_bytes(b"stale")
    try:
        assert worker_metrics.prepare_multiproc_dir(directory) == 2
        assert not list(directory.glob("*.db"))
        # A second worker pointed at the same directory would erase the first one's counts and export them twice.
        with pytest.raises(RuntimeError, match="in use by another worker"):
            worker_metrics.prepare_multiproc_dir(directory)
    finally:
        worker_metrics.stop()
    assert worker_metrics.prepare_multiproc_dir(directory) == 0  # released when the worker stops
    worker_metrics.stop()


def test_single_process_worker_exports_its_registry_without_the_business_gauges(monkeypatch):
    """--pool solo or threads: no multi-process directory, the process's own registry minus the web's gauges."""
    from apps.core.metrics import collector as business_gauges

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    try:
        registry = worker_metrics.worker_registry()
        names = {family.name for family in registry.collect()}
        assert {"rag_documents_ingested", "rag_ingestion_failures", "stock_backtests"} <= names
        assert not names & {"rag_documents", "aistack_active_users", "aistack_business_metrics_age_seconds"}
    finally:
        REGISTRY.register(business_gauges)  # the web's export in this test process keeps them


# --- wiring: every place the worker runs ------------------------------------------------------------------------


def _yaml(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


def test_compose_worker_serves_metrics_from_a_private_tmpfs():
    worker = _yaml("docker-compose.yml")["services"]["worker"]
    env = worker["environment"]
    assert str(env["CELERY_METRICS_PORT"]) == str(PORT)
    assert env["PROMETHEUS_MULTIPROC_DIR"] in worker["tmpfs"]
    assert str(PORT) in [str(port) for port in worker["expose"]]
    assert "ports" not in worker, "the worker's metrics stay on the internal network"


def test_prometheus_scrapes_every_worker_with_the_metrics_token():
    jobs = {job["job_name"]: job for job in _yaml("monitoring/prometheus/prometheus.yml")["scrape_configs"]}
    worker = jobs["worker"]
    # Every replica of the Compose service "worker" (DNS), on the worker's metrics port.
    assert worker["dns_sd_configs"] == [{"names": ["worker"], "type": "A", "port": PORT}]
    assert worker["authorization"] == jobs["web"]["authorization"]
    assert "celery" in jobs, "task and queue metrics still come from the Celery exporter"


def test_kubernetes_worker_exposes_its_metrics_port():
    pod = _yaml("deploy/k8s/worker.yaml")["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["CELERY_METRICS_PORT"] == str(PORT)
    assert {"name": "metrics", "containerPort": PORT} in container["ports"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    assert "emptyDir" in volumes["prometheus-multiproc"]
    assert mounts["prometheus-multiproc"] == env["PROMETHEUS_MULTIPROC_DIR"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(PORT)
