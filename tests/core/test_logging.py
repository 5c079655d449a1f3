"""Logs: one JSON object per line in production, readable lines in development, and the request id of the request
being served on every line (also on Django's own request log, written after the response left the middleware)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.test import RequestFactory
from django.urls import path
from django.utils.module_loading import import_string

from aistack.settings import base
from apps.core import context
from tests.core.test_settings import PROJECT_ROOT, production_env

log = logging.getLogger("apps.core.tests.logging")


def _logging_view(request: HttpRequest) -> JsonResponse:
    log.warning("inside the view")
    if request.GET.get("deny"):
        raise PermissionDenied("no")
    return JsonResponse({"ok": True}, status=int(request.GET.get("status", 200)))


urlpatterns = [path("logging-probe/", _logging_view)]


def _formatter(name: str) -> logging.Formatter:
    config: dict[str, Any] = dict(base.LOGGING["formatters"][name])
    factory = config.pop("()", None)
    if factory is None:
        return logging.Formatter(config["format"])
    formatter: logging.Formatter = import_string(factory)(**config)
    return formatter


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Root log lines, formatted with the project's formatter (``request.param``: json or readable) and filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_formatter(request.param))
    handler.addFilter(import_string(base.LOGGING["filters"]["request_id"]["()"])())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("captured", ["json"], indirect=True)
def test_json_lines_carry_the_request_id(client, captured) -> None:
    response = client.get("/logging-probe/?deny=1")
    assert response.status_code == 403
    request_id = response["X-Request-ID"]
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    by_logger = {line["logger"]: line for line in lines}
    assert by_logger["apps.core.tests.logging"]["message"] == "inside the view"
    assert by_logger["django.request"]["message"].startswith("Forbidden")
    assert by_logger["django.request"]["message"].endswith("/logging-probe/")
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line), line
        assert line["request_id"] == request_id, line


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("captured", ["json"], indirect=True)
def test_request_log_written_after_the_middleware_has_the_request_id(client, captured) -> None:
    """Django logs a 4xx returned (not raised) by a view once the response has left every middleware."""
    response = client.get("/logging-probe/?status=409")
    assert response.status_code == 409
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("apps.core.tests.logging", "inside the view"),
        ("django.request", "Conflict: /logging-probe/"),
    ]
    assert {line["request_id"] for line in lines} == {response["X-Request-ID"]}


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("captured", ["json"], indirect=True)
def test_an_incoming_request_id_is_used_on_log_lines(client, captured) -> None:
    response = client.get("/logging-probe/", HTTP_X_REQUEST_ID="edge-proxy-42")
    assert response["X-Request-ID"] == "edge-proxy-42"
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["edge-proxy-42"]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("captured", ["readable"], indirect=True)
def test_readable_lines_carry_the_request_id(client, captured) -> None:
    response = client.get("/logging-probe/")
    line = captured.getvalue().strip()
    assert f"[{response['X-Request-ID']}] apps.core.tests.logging: inside the view" in line
    assert "WARNING" in line


@pytest.mark.parametrize("captured", ["readable"], indirect=True)
def test_lines_outside_a_request_have_a_placeholder(captured) -> None:
    log.warning("from a task or command")
    assert "[-] apps.core.tests.logging: from a task or command" in captured.getvalue()


def test_production_logs_json_and_development_readable() -> None:
    code = (
        "import django; from django.conf import settings as s; django.setup(); "
        "print(s.LOGGING['handlers']['console']['formatter'], s.LOGGING['handlers']['console']['filters'])"
    )
    run = [sys.executable, "-c", code]
    production = subprocess.run(run, cwd=PROJECT_ROOT, env=production_env(), capture_output=True, text=True)
    assert production.returncode == 0, production.stderr
    assert production.stdout.strip() == "json ['request_id']"
    development = subprocess.run(
        run, cwd=PROJECT_ROOT, env=production_env(DJANGO_ENV="dev"), capture_output=True, text=True
    )
    assert development.returncode == 0, development.stderr
    assert development.stdout.strip() == "readable ['request_id']"


@pytest.mark.django_db
def test_an_eager_task_keeps_the_request_context() -> None:
    """Without Redis, tasks run inside the request: they log under its id, and the request keeps its context."""
    from aistack.celery import app
    from tests.core.test_celery import report_context

    assert app.conf.task_always_eager
    context.begin(RequestFactory().post("/api/v1/erp/products/", HTTP_X_REQUEST_ID="req-eager-1"))
    try:
        assert report_context.delay().get() == {"request_id": "req-eager-1", "source": "api"}
        assert context.current().request_id == "req-eager-1"
        assert context.current().path == "/api/v1/erp/products/"
    finally:
        context.clear()
