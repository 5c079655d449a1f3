"""An OpenAI-compatible HTTP client (httpx, synchronous): chat completions plain or streamed (SSE), model listing.

Timeouts, connection errors, 5xx and 429 are retried with exponential backoff while the request budget lasts; what
is left is raised as one of the upstream errors below, which the APIs map to 504, 429 or 502.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from apps.core.exceptions import ApplicationError

from . import conf

RETRY_STATUSES = {429, 500, 502, 503, 504}


class UpstreamError(ApplicationError):
    """The upstream failed or answered something unusable (502)."""

    status_code = 502
    default_code = "upstream_error"
    openai_type = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status_code = 504
    default_code = "upstream_timeout"
    openai_type = "timeout"


class UpstreamRateLimited(UpstreamError):
    status_code = 429
    default_code = "rate_limited"
    openai_type = "rate_limit_exceeded"


class UpstreamRejected(UpstreamError):
    """The upstream refused the request itself (4xx other than 429): retrying will not help."""

    default_code = "upstream_rejected"

    def __init__(self, message: str, *, upstream_status: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.upstream_status = upstream_status


@dataclass
class StreamResult:
    """What a streamed completion added up to (filled in while the stream is consumed)."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    complete: bool = False


class OpenAIClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
        attempts: int | None = None,
        backoff: float | None = None,
        budget: float | None = None,
        label: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts if attempts is not None else conf.retry_attempts()
        self.backoff = backoff if backoff is not None else conf.retry_backoff()
        self.budget = budget if budget is not None else conf.request_budget()
        self.label = label or self.base_url
        self.headers = {"Accept": "application/json", **(headers or {})}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    @classmethod
    def for_provider(cls, provider: Any) -> OpenAIClient:
        return cls(
            base_url=provider.base_url,
            api_key=provider.api_key or "",
            headers=dict(provider.extra_headers or {}),
            timeout=provider.timeout,
            label=provider.name,
        )

    # --- requests with retries --------------------------------------------------------------------------------------

    def _wait_before_retry(self, attempt: int, deadline: float, retry_after: float | None) -> bool:
        """Sleep before the next attempt; False when no attempt is left or the budget would be exceeded."""
        if attempt + 1 >= self.attempts:
            return False
        delay = retry_after if retry_after is not None else self.backoff * (2**attempt)
        if time.monotonic() + delay + min(self.timeout, 0.05) > deadline:
            return False
        if delay > 0:
            time.sleep(delay)
        return True

    def _open(self, client: httpx.Client, method: str, path: str, payload: dict[str, Any] | None) -> httpx.Response:
        """Send with retries; returns a 2xx response whose body has not been read yet (the caller closes it)."""
        deadline = time.monotonic() + self.budget
        url = f"{self.base_url}/{path.lstrip('/')}"
        last: UpstreamError | None = None
        for attempt in range(self.attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            timeout = httpx.Timeout(min(self.timeout, remaining))
            retry_after: float | None = None
            try:
                request = client.build_request(method, url, json=payload, headers=self.headers, timeout=timeout)
                response = client.send(request, stream=True)
            except UnicodeEncodeError as exc:  # a header (API key, extra header) that HTTP cannot carry
                raise UpstreamError(
                    f"{self.label} has a header that cannot be sent (non-ASCII API key or extra header).",
                    code="provider_misconfigured",
                ) from exc
            except httpx.TimeoutException:
                last = UpstreamTimeout(f"{self.label} did not answer within {self.timeout:g} s.")
            except httpx.HTTPError as exc:
                last = UpstreamError(f"{self.label} is unreachable: {exc.__class__.__name__}.", code="upstream_down")
            else:
                if response.status_code < 400:
                    return response
                try:
                    response.read()
                finally:
                    response.close()
                message = _error_message(response)
                if response.status_code == 429:
                    last = UpstreamRateLimited(f"{self.label} is rate limiting: {message}")
                    retry_after = _retry_after(response)
                elif response.status_code >= 500:
                    last = UpstreamError(f"{self.label} failed with {response.status_code}: {message}")
                else:
                    raise UpstreamRejected(
                        f"{self.label} refused the request ({response.status_code}): {message}",
                        upstream_status=response.status_code,
                    )
            if not self._wait_before_retry(attempt, deadline, retry_after):
                break
        raise last or UpstreamTimeout(f"{self.label}: the request budget of {self.budget:g} s is used up.")

    def _json(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        with httpx.Client() as client:
            response = self._open(client, method, path, payload)
            try:
                try:
                    response.read()
                except httpx.TimeoutException as exc:
                    raise UpstreamTimeout(f"{self.label} stopped answering mid-response.") from exc
                except httpx.HTTPError as exc:
                    raise UpstreamError(f"{self.label} broke off the response.") from exc
            finally:
                response.close()
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError(f"{self.label} answered with something that is not JSON.") from exc
        if not isinstance(body, dict):
            raise UpstreamError(f"{self.label} answered with unexpected JSON.")
        return body

    # --- API --------------------------------------------------------------------------------------------------------

    def list_models(self) -> list[str]:
        body = self._json("GET", "models")
        return sorted(str(item.get("id")) for item in body.get("data", []) if isinstance(item, dict))

    def chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = self._json("POST", "chat/completions", {**payload, "stream": False})
        if not isinstance(body.get("choices"), list) or not body["choices"]:
            raise UpstreamError(f"{self.label} answered without choices.")
        return body

    def chat_stream(self, payload: dict[str, Any], result: StreamResult) -> Iterator[str]:
        """Yield content deltas as they arrive; ``result`` collects content, tool calls, usage and the finish reason.

        A stream that ends without ``[DONE]`` or a finish reason leaves ``result.complete`` False and raises."""
        body = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        calls: dict[int, dict[str, Any]] = {}
        with httpx.Client() as client:
            response = self._open(client, "POST", "chat/completions", body)
            try:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        result.complete = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise UpstreamError(f"{self.label} sent a malformed stream event.") from exc
                    if isinstance(chunk.get("error"), dict):
                        raise UpstreamError(f"{self.label}: {chunk['error'].get('message', 'stream error')}")
                    if chunk.get("usage"):
                        result.usage = _usage(chunk["usage"])
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        text = delta.get("content")
                        if text:
                            result.content += text
                            yield text
                        for call in delta.get("tool_calls") or []:
                            _merge_tool_call(calls, call)
                        if choice.get("finish_reason"):
                            result.finish_reason = choice["finish_reason"]
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(f"{self.label} stopped streaming.") from exc
            except httpx.HTTPError as exc:
                raise UpstreamError(f"{self.label} broke off the stream.", code="stream_broken") from exc
            finally:
                response.close()
        result.tool_calls = [calls[i] for i in sorted(calls)]
        if not result.complete and result.finish_reason is None:
            raise UpstreamError(f"{self.label} ended the stream before it was finished.", code="stream_broken")
        result.complete = True


def _merge_tool_call(calls: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
    index = int(delta.get("index", len(calls)))
    call = calls.setdefault(index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    if delta.get("id"):
        call["id"] = delta["id"]
    function = delta.get("function") or {}
    if function.get("name"):
        call["function"]["name"] += function["name"]
    if function.get("arguments"):
        call["function"]["arguments"] += function["arguments"]


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    return {
        "prompt_tokens": int(raw.get("prompt_tokens") or 0),
        "completion_tokens": int(raw.get("completion_tokens") or 0),
    }


def usage_of(body: dict[str, Any]) -> dict[str, int]:
    return _usage(body.get("usage"))


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:500]
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:500]
    return str(body)[:200]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
