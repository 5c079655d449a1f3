"""Relay from Alertmanager's webhook to a WeCom (企业微信) group robot.

Alertmanager posts its JSON to ``POST /alertmanager``; the relay turns the alerts into one WeCom markdown message and
posts it to the robot's webhook URL. The URL carries the robot key, so it is read from a file
(``WECOM_WEBHOOK_URL_FILE``, default ``/run/secrets/wecom_webhook_url``) and never appears in Alertmanager's
configuration. Standard library only: the monitoring compose file runs it in a stock Python image.

Environment: ``RELAY_HOST`` (default 0.0.0.0), ``RELAY_PORT`` (default 9099), ``WECOM_WEBHOOK_URL_FILE``,
``WECOM_TIMEOUT_SECONDS`` (default 10).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("wecom-relay")

# WeCom refuses markdown messages longer than 4096 bytes.
MAX_CONTENT_BYTES = 4096
MAX_BODY_BYTES = 1024 * 1024
SEVERITY_COLOURS = {"critical": "warning", "warning": "comment", "info": "info"}


def render_markdown(payload: dict[str, Any]) -> str:
    """One WeCom markdown message for an Alertmanager notification (a group of alerts)."""
    status = str(payload.get("status", "firing"))
    common = payload.get("commonLabels") or {}
    alerts = payload.get("alerts") or []
    title = common.get("alertname") or "AI Stack alerts"
    severity = str(common.get("severity", ""))
    colour = "info" if status == "resolved" else SEVERITY_COLOURS.get(severity, "comment")
    lines = [f'## <font color="{colour}">[{status.upper()}] {title}</font>']
    if common.get("system"):
        lines.append(f"> system: {common['system']}  severity: {severity or '-'}")
    for alert in alerts:
        labels = alert.get("labels") or {}
        annotations = alert.get("annotations") or {}
        summary = annotations.get("summary") or labels.get("alertname", "alert")
        lines.append("")
        lines.append(f"**{summary}**")
        if annotations.get("description"):
            lines.append(str(annotations["description"]))
        if alert.get("startsAt"):
            lines.append(f"> since {alert['startsAt']}")
        if annotations.get("runbook_url"):
            lines.append(f"[runbook]({annotations['runbook_url']})")
    return truncate_utf8("\n".join(lines), MAX_CONTENT_BYTES)


def truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    marker = "\n…"
    cut = encoded[: limit - len(marker.encode("utf-8"))].decode("utf-8", errors="ignore")
    return cut + marker


def read_webhook_url(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        url = handle.read().strip()
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{path} does not contain a webhook URL")
    return url


def post_to_wecom(url: str, content: str, timeout: float) -> None:
    body = json.dumps({"msgtype": "markdown", "markdown": {"content": content}}, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310 - the URL comes from the operator's file
        answer = json.loads(response.read() or b"{}")
    # The robot answers 200 with {"errcode": 0} on success and a non-zero errcode otherwise.
    if answer.get("errcode", 0) != 0:
        raise RuntimeError(f"WeCom refused the message: {answer}")


class RelayHandler(BaseHTTPRequestHandler):
    server_version = "aistack-wecom-relay"

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(HTTPStatus.OK, "ok")
        else:
            self._reply(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self) -> None:
        if self.path != "/alertmanager":
            self._reply(HTTPStatus.NOT_FOUND, "not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY_BYTES:
            self._reply(HTTPStatus.BAD_REQUEST, "missing or oversized body")
            return
        try:
            payload = json.loads(self.rfile.read(length))
            if not isinstance(payload, dict):
                raise ValueError("payload is not an object")
        except ValueError:
            self._reply(HTTPStatus.BAD_REQUEST, "body is not an Alertmanager JSON payload")
            return
        settings = self.server.relay_settings  # type: ignore[attr-defined]
        try:
            url = read_webhook_url(settings["url_file"])
            post_to_wecom(url, render_markdown(payload), settings["timeout"])
        except Exception as exc:  # any failure is reported to Alertmanager, which retries and counts it
            log.warning("delivery to WeCom failed: %s", exc)
            self._reply(HTTPStatus.BAD_GATEWAY, "delivery to WeCom failed")
            return
        self._reply(HTTPStatus.OK, "sent")

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _reply(self, status: HTTPStatus, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def make_server(host: str, port: int, *, url_file: str, timeout: float = 10.0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), RelayHandler)
    server.relay_settings = {"url_file": url_file, "timeout": timeout}  # type: ignore[attr-defined]
    return server


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = make_server(
        os.environ.get("RELAY_HOST", "0.0.0.0"),  # nosec B104 - a container on its own network
        int(os.environ.get("RELAY_PORT", "9099")),
        url_file=os.environ.get("WECOM_WEBHOOK_URL_FILE", "/run/secrets/wecom_webhook_url"),
        timeout=float(os.environ.get("WECOM_TIMEOUT_SECONDS", "10")),
    )
    log.info("listening on %s:%s", *server.server_address[:2])
    server.serve_forever()


if __name__ == "__main__":
    main()
