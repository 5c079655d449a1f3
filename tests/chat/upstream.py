"""A fake OpenAI-compatible upstream on loopback: real HTTP, scripted replies, every request recorded."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def completion(
    content: str | None = "Hello from upstream.",
    *,
    prompt: int = 12,
    completion_tokens: int = 5,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": "cmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": "up-model",
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish or ("tool_calls" if tool_calls else "stop")}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        },
    }
    return {"status": 200, "json": body}


def tool_call(name: str, arguments: dict[str, Any], call_id: str = "call_1", **kwargs: Any) -> dict[str, Any]:
    calls = [{"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]
    return completion(None, tool_calls=calls, **kwargs)


def streamed(
    pieces: list[str],
    *,
    prompt: int = 9,
    completion_tokens: int = 4,
    broken: bool = False,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    events: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
    events += [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    if broken:
        return {"status": 200, "stream": events, "broken": True}
    for i, call in enumerate(tool_calls or []):
        events.append(
            {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, **call}]}, "finish_reason": None}]}
        )
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if tool_calls else "stop"}]})
    events.append({"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens}})
    return {"status": 200, "stream": events}


def error(status: int, message: str = "upstream trouble", headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"status": status, "json": {"error": {"message": message, "type": "server_error"}}, "headers": headers or {}}


SLOW = {"slow": True}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up on purpose (timeouts) are not errors here


class FakeUpstream:
    def __init__(self) -> None:
        self.replies: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.models = ["up-model", "other-model"]
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                upstream.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                if self.path.endswith("/models"):
                    self._send_json(
                        200, {"object": "list", "data": [{"id": m, "object": "model"} for m in upstream.models]}
                    )
                else:
                    self._send_json(404, {"error": {"message": "no such path"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                upstream.requests.append(
                    {"method": "POST", "path": self.path, "headers": dict(self.headers), "json": body}
                )
                reply = upstream.replies.popleft() if upstream.replies else completion()
                if reply.get("slow"):
                    upstream.release.wait(5)
                    self.close_connection = True
                    return
                if "stream" in reply:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    if reply.get("broken"):
                        self.send_header("Content-Length", "100000")
                    else:
                        self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for event in reply["stream"]:
                        self._write(f"data: {json.dumps(event)}\n\n".encode(), chunked=not reply.get("broken"))
                    if reply.get("broken"):
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self._write(b"data: [DONE]\n\n", chunked=True)
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self._send_json(reply["status"], reply["json"], reply.get("headers"))

            def _write(self, data: bytes, *, chunked: bool) -> None:
                if chunked:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                else:
                    self.wfile.write(data)
                self.wfile.flush()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, *replies: dict[str, Any]) -> None:
        self.replies.extend(replies)

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    def start(self) -> FakeUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
