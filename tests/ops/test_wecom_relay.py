"""The WeCom relay turns an Alertmanager notification into a WeCom markdown message (real servers on loopback)."""

from __future__ import annotations

import importlib.util
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

RELAY_PATH = Path(__file__).resolve().parents[2] / "monitoring" / "wecom" / "relay.py"
spec = importlib.util.spec_from_file_location("wecom_relay", RELAY_PATH)
relay = importlib.util.module_from_spec(spec)
spec.loader.exec_module(relay)

PAYLOAD = {
    "status": "firing",
    "commonLabels": {"alertname": "RedisDown", "severity": "critical", "system": "cache"},
    "alerts": [
        {
            "labels": {"alertname": "RedisDown", "instance": "redis-exporter:9121"},
            "annotations": {
                "summary": "Redis redis-exporter:9121 is down",
                "description": "The Redis exporter cannot reach Redis (cache, Celery broker).",
                "runbook_url": "https://example.com/RUNBOOK.md#redisdown",
            },
            "startsAt": "2025-01-01T00:00:00Z",
        }
    ],
}


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def wecom():
    """A stand-in for the WeCom robot endpoint that records what it receives."""
    received: list[dict] = []
    answer = {"errcode": 0, "errmsg": "ok"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    _serve(server)
    yield server, received, answer
    server.shutdown()
    server.server_close()


@pytest.fixture
def relay_url(wecom, tmp_path):
    server, _, _ = wecom
    url_file = tmp_path / "wecom_webhook_url"
    url_file.write_text(f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=test\n")
    relay_server = relay.make_server("127.0.0.1", 0, url_file=str(url_file), timeout=5)
    _serve(relay_server)
    yield f"http://127.0.0.1:{relay_server.server_address[1]}"
    relay_server.shutdown()
    relay_server.server_close()


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_notification_is_sent_as_markdown(wecom, relay_url):
    _, received, _ = wecom
    assert _post(f"{relay_url}/alertmanager", json.dumps(PAYLOAD).encode()) == 200
    assert len(received) == 1
    message = received[0]
    assert message["msgtype"] == "markdown"
    content = message["markdown"]["content"]
    assert "[FIRING] RedisDown" in content
    assert "**Redis redis-exporter:9121 is down**" in content
    assert "[runbook](https://example.com/RUNBOOK.md#redisdown)" in content


def test_wecom_refusal_is_reported_as_bad_gateway(wecom, relay_url):
    _, _, answer = wecom
    answer.update(errcode=93000, errmsg="invalid webhook url")
    assert _post(f"{relay_url}/alertmanager", json.dumps(PAYLOAD).encode()) == 502


def test_invalid_body_is_rejected(relay_url):
    assert _post(f"{relay_url}/alertmanager", b"not json") == 400
    assert _post(f"{relay_url}/other", b"{}") == 404


def test_long_messages_fit_the_wecom_limit():
    payload = dict(PAYLOAD, alerts=PAYLOAD["alerts"] * 200)
    content = relay.render_markdown(payload)
    assert len(content.encode("utf-8")) <= relay.MAX_CONTENT_BYTES
    assert content.endswith("…")
