"""A fake OpenAI-compatible LLM server for the tests of every app: real HTTP on 127.0.0.1 (a random port, one thread
per connection), scripted replies, every request recorded.

- ``POST /v1/chat/completions``: the next scripted reply (``completion``, ``tool_call``, ``streamed`` for
  ``stream=true`` server-sent events, ``error`` for 4xx/5xx and 429 with ``Retry-After``, ``SLOW`` for a reply that
  never comes until the client gives up); without a script, ``completion()``. Replies carry ``usage``.
- ``POST /v1/embeddings``: deterministic vectors (``FakeLLM.vector(text, dimension)``), in the request's order
  unless ``reverse_embeddings``; ``script_embeddings(...)`` queues replies (``error(...)``, ``SLOW``, ``EMBED`` for
  the normal answer) in front of them.
- ``GET /v1/models``: ``FakeLLM.models`` (or ``models_reply``, e.g. ``raw(404, b"<html>...")``).

The ``fake_llm`` pytest fixture (tests/conftest.py) starts one per test and allows private upstreams, since it
listens on loopback::

    def test_answer(fake_llm):
        fake_llm.script(completion("Hi.", prompt=3, completion_tokens=1))
        ...
        assert fake_llm.chat_requests[0]["json"]["model"] == "up-model"
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW: dict[str, Any] = {"slow": True}
EMBED: dict[str, Any] = {"embed": True}


def completion(
    content: str | None = "Hello from upstream.",
    *,
    prompt: int = 12,
    completion_tokens: int = 5,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
    usage: bool = True,
) -> dict[str, Any]:
    """A plain chat completion reply (``usage=False``: the body reports no token usage)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "cmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": "up-model",
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish or ("tool_calls" if tool_calls else "stop")}
        ],
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        }
    return {"status": 200, "json": body}


def tool_call(name: str, arguments: dict[str, Any], call_id: str = "call_1", **kwargs: Any) -> dict[str, Any]:
    """A completion asking for one function call."""
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
    """A streamed completion: one event per piece, then tool calls, the finish reason, usage and ``[DONE]``
    (``broken``: the connection drops after the pieces)."""
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
    """An error reply in OpenAI's shape, e.g. ``error(429, headers={"Retry-After": "0"})``."""
    return {"status": status, "json": {"error": {"message": message, "type": "server_error"}}, "headers": headers or {}}


def raw(status: int, body: bytes, content_type: str = "text/html") -> dict[str, Any]:
    """A reply that is not JSON (an HTML error page, say)."""
    return {"status": status, "body": body, "content_type": content_type}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up on purpose (timeouts) are not errors here


class FakeLLM:
    def __init__(self, *, dimension: int = 8) -> None:
        self.replies: deque[dict[str, Any]] = deque()
        self.embedding_replies: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.models = ["up-model", "other-model"]
        self.models_reply: dict[str, Any] | None = None  # e.g. raw(404, b"<html>...") instead of the model list
        self.dimension = dimension
        self.reverse_embeddings = False
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, raw_body: bytes, content_type: str, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw_body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw_body)

            def _reply(self, reply: dict[str, Any]) -> None:
                if "body" in reply:
                    self._send(reply["status"], reply["body"], reply["content_type"], {})
                else:
                    raw_body = json.dumps(reply["json"]).encode()
                    self._send(reply["status"], raw_body, "application/json", reply.get("headers") or {})

            def _record(self, body: Any = None) -> None:
                with fake._lock:
                    fake.requests.append(
                        {"method": self.command, "path": self.path, "headers": dict(self.headers), "json": body}
                    )

            def do_GET(self) -> None:
                self._record()
                if self.path.split("?")[0].endswith("/models") and fake.models_reply is not None:
                    self._reply(fake.models_reply)
                elif self.path.split("?")[0].endswith("/models"):
                    data = [{"id": m, "object": "model", "owned_by": "fake"} for m in fake.models]
                    self._reply({"status": 200, "json": {"object": "list", "data": data}})
                else:
                    self._reply(error(404, "no such path"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = None
                self._record(body)
                path = self.path.split("?")[0]
                if path.endswith("/embeddings"):
                    reply = fake._next(fake.embedding_replies) or EMBED
                    if reply.get("embed"):
                        reply = fake.embedding_reply(body if isinstance(body, dict) else {})
                elif path.endswith("/chat/completions"):
                    reply = fake._next(fake.replies) or completion()
                else:
                    reply = error(404, "no such path")
                if reply.get("slow"):
                    fake.release.wait(10)
                    self.close_connection = True
                    return
                if "stream" in reply:
                    self._stream(reply)
                    return
                self._reply(reply)

            def _stream(self, reply: dict[str, Any]) -> None:
                broken = bool(reply.get("broken"))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                if broken:
                    self.send_header("Content-Length", "100000")
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in reply["stream"]:
                    self._write(f"data: {json.dumps(event)}\n\n".encode(), chunked=not broken)
                if broken:
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._write(b"data: [DONE]\n\n", chunked=True)
                self.wfile.write(b"0\r\n\r\n")

            def _write(self, data: bytes, *, chunked: bool) -> None:
                if chunked:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                else:
                    self.wfile.write(data)
                self.wfile.flush()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # --- scripting --------------------------------------------------------------------------------------------------

    def script(self, *replies: dict[str, Any]) -> None:
        """Queue replies for the next chat completion requests."""
        with self._lock:
            self.replies.extend(replies)

    def script_embeddings(self, *replies: dict[str, Any]) -> None:
        """Queue replies for the next embedding requests (``EMBED``: the normal answer)."""
        with self._lock:
            self.embedding_replies.extend(replies)

    def _next(self, queue: deque[dict[str, Any]]) -> dict[str, Any] | None:
        with self._lock:
            return queue.popleft() if queue else None

    @staticmethod
    def vector(text: str, dimension: int) -> list[float]:
        """The deterministic (not normalised) embedding the fake gives ``text``."""
        digest = b""
        counter = 0
        while len(digest) < dimension:
            digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
            counter += 1
        return [(byte - 127.5) / 127.5 for byte in digest[:dimension]]

    def embedding_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        raw_input = body.get("input")
        texts = [raw_input] if isinstance(raw_input, str) else list(raw_input or [])
        dimension = int(body.get("dimensions") or self.dimension)
        data = [
            {"object": "embedding", "index": i, "embedding": self.vector(str(text), dimension)}
            for i, text in enumerate(texts)
        ]
        if self.reverse_embeddings:
            data.reverse()
        tokens = sum(len(str(text).split()) for text in texts)
        return {
            "status": 200,
            "json": {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        }

    # --- what was received ------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in /v1."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.posts if r["path"].split("?")[0].endswith("/chat/completions")]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.posts if r["path"].split("?")[0].endswith("/embeddings")]

    # --- life cycle -------------------------------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


__all__ = ["EMBED", "SLOW", "FakeLLM", "completion", "error", "raw", "streamed", "tool_call"]
