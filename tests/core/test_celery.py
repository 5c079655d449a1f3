"""A real Celery worker (in a thread) executing tasks through a real Redis broker, results in the database."""

import datetime as dt
import os
import threading
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from django.test import RequestFactory
from django.utils import timezone
from django_celery_results.models import TaskResult

from aistack.celery import app
from apps.core import context, tasks
from apps.core.models import AuditLog
from tests.core.factories import AuditLogFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _redis_url() -> str:
    """The test Redis, on a database of its own per pytest-xdist worker (gw0 -> 15, gw1 -> 14, ...), so parallel
    workers never consume each other's tasks."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db_number = 15 - int(worker.removeprefix("gw")) % 16
    url = urlsplit(settings.TEST_REDIS_URL)._replace(path=f"/{db_number}").geturl()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # the suite promises a real Redis for these tests
        pytest.fail(f"Redis is required at {url} for tests marked 'redis' ({exc}); start redis-server or deselect")
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def redis_url() -> str:
    return _redis_url()


def _forget_broker_connections() -> None:
    """Drop pooled connections and the result backend made for another configuration (earlier tests run tasks
    eagerly), so the next task uses the broker and backend now configured."""
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local = threading.local()


@pytest.fixture(scope="module")
def celery_worker():
    redis_url = _redis_url()
    from celery.contrib.testing.worker import start_worker

    saved = {key: app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=redis_url, result_backend="django-db", task_always_eager=False)
    _forget_broker_connections()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING") as w:
            yield w
    finally:
        app.conf.update(saved)
        _forget_broker_connections()


def test_worker_runs_task_through_redis_and_stores_result(celery_worker):
    keep = AuditLogFactory()
    stale = AuditLogFactory()
    AuditLog.objects.filter(pk=stale.pk).update(timestamp=timezone.now() - dt.timedelta(days=30))

    result = tasks.purge_audit_log.delay(older_than_days=7)
    assert result.get(timeout=30) == 1

    assert not AuditLog.objects.filter(pk=stale.pk).exists()
    assert AuditLog.objects.filter(pk=keep.pk).exists()
    stored = TaskResult.objects.get(task_id=result.id)
    assert stored.status == "SUCCESS" and stored.task_name == "core.purge_audit_log"


def test_flush_expired_tokens_task(celery_worker, make_user):
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken

    user = make_user()
    RefreshToken.for_user(user)
    OutstandingToken.objects.update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    live = RefreshToken.for_user(user)
    assert tasks.flush_expired_tokens.delay().get(timeout=30) == 1
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [live["jti"]]


def test_readyz_with_real_redis_cache_and_broker(client, redis_url, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
    settings.CELERY_BROKER_URL = redis_url
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert body["checks"]["cache"]["detail"] == "RedisCache" and body["checks"]["broker"]["detail"] == "redis"


def test_beat_schedule_is_loaded_into_the_database_scheduler():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    DatabaseScheduler(app=app, lazy=False)  # beat start-up: settings' table -> database rows
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {"core.flush_expired_tokens", "core.purge_audit_log"} <= names


# --- Request ids reach the tasks a request enqueues -----------------------------------------------------------------


@app.task(name="tests.core.report_context")
def report_context() -> dict[str, str]:
    """What a task's log lines and audit entries would carry."""
    ctx = context.current()
    return {"request_id": ctx.request_id, "source": ctx.source}


def _enter_request(request_id: str) -> None:
    request = RequestFactory().post("/api/v1/erp/products/", HTTP_X_REQUEST_ID=request_id)
    context.begin(request)


def test_a_task_runs_under_the_request_id_of_the_request_that_enqueued_it(celery_worker):
    _enter_request("req-abc-123")
    try:
        result = report_context.delay()
    finally:
        context.clear()
    assert result.get(timeout=30) == {"request_id": "req-abc-123", "source": "system"}


def test_a_task_enqueued_outside_a_request_logs_under_its_task_id(celery_worker):
    result = report_context.delay()
    assert result.get(timeout=30) == {"request_id": result.id, "source": "system"}
