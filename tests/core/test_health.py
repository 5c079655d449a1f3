"""Liveness, readiness and the guarded Prometheus endpoint."""

from __future__ import annotations

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.django_db

CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_get_only(client) -> None:
    assert client.post("/healthz").status_code == 405


def test_readyz_all_ok(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "cache", "broker"}
    for name, check in body["checks"].items():
        assert check["ok"] is True, (name, check)
    assert body["checks"]["cache"]["detail"] == "LocMemCache"
    assert body["checks"]["broker"]["detail"] == "eager (no broker)"


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CLOSED_REDIS,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    settings.CELERY_BROKER_URL = CLOSED_REDIS
    yield
    caches["default"].close()


def test_readyz_reports_redis_down(client, redis_down) -> None:
    assert type(caches["default"]).__name__ == "RedisCache"  # the override reached the cache handler
    response = client.get("/readyz")
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "unavailable"
    checks = body["checks"]
    assert checks["cache"]["ok"] is False
    assert checks["broker"]["ok"] is False
    assert "Connection" in checks["broker"]["detail"]
    # what does not depend on Redis is still reported healthy
    assert checks["database"]["ok"] is True
    assert checks["migrations"]["ok"] is True


# --- /metrics -------------------------------------------------------------------------------------------------------


def test_metrics_from_localhost(client) -> None:
    client.get("/healthz")  # at least one request has been counted
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total" in response.content


def test_metrics_refused_when_no_address_is_allowed(client, settings) -> None:
    settings.METRICS_ALLOWED_IPS = []
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert b"django_http_requests_total" not in response.content


def test_metrics_with_bearer_token(client, settings) -> None:
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    good = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert good.status_code == 200
    assert b"django_http_requests_total" in good.content

    for header in ["Bearer wrong-token", "Bearer s3cret-metrics-token-and-more", "s3cret-metrics-token", ""]:
        bad = client.get("/metrics", HTTP_AUTHORIZATION=header)
        assert bad.status_code == 403, header
        assert bad.json()["error"]["code"] == "permission_denied"


def test_empty_token_setting_does_not_open_metrics(client, settings) -> None:
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_metrics_allowed_network(client, settings) -> None:
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 403
    assert client.get("/metrics").status_code == 403  # 127.0.0.1 is no longer on the list


def test_metrics_ignores_forwarded_for_unless_configured(client, settings) -> None:
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.USE_X_FORWARDED_FOR = False
    spoofed = client.get("/metrics", REMOTE_ADDR="192.168.1.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert spoofed.status_code == 403
    settings.USE_X_FORWARDED_FOR = True
    proxied = client.get("/metrics", REMOTE_ADDR="192.168.1.1", HTTP_X_FORWARDED_FOR="10.1.2.3, 192.168.1.1")
    assert proxied.status_code == 200
