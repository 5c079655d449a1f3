"""An OpenAI-compatible HTTP client (httpx, synchronous): chat completions plain or streamed (SSE), embeddings, model
listing. Only the AI gateway (gateway.py) and the providers' connection test use it.

Requests go through the platform's retry helper (apps.core.http: connection errors, timeouts, 5xx and 429 retried
with jittered exponential backoff while the request budget lasts) and its SSRF guard (apps.core.net: a provider at a
loopback, private or link-local address is refused unless ``allow_private``); what is left is raised as one of the
upstream errors below, which the APIs map to 504, 429 or 502.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext

from apps.core import http, net
from apps.core.exceptions import ApplicationError


class UpstreamError(ApplicationError):
    """The upstream failed or answered something unusable (502); ``upstream_status`` is the HTTP status it answered,
    if it answered one."""

    status_code = 502
    default_code = "upstream_error"
    openai_type = "upstream_error"

    def __init__(self, message: str, *, upstream_status: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.upstream_status = upstream_status


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


class UpstreamRefused(UpstreamError):
    """The provider's address is not allowed (loopback, private, link-local ...) or its URL is unusable."""

    default_code = "upstream_address_refused"


def private_upstreams_allowed() -> bool:
    """``AI_ALLOW_PRIVATE_UPSTREAMS``: every provider may be at a private address."""
    return bool(getattr(settings, "AI_ALLOW_PRIVATE_UPSTREAMS", False))


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
        allow_private: bool | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.policy = http.RetryPolicy.from_settings(attempts=attempts, backoff=backoff, budget=budget)
        self.label = label or self.base_url
        self.guard = net.Guard(allow_private=private_upstreams_allowed() if allow_private is None else allow_private)
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
            allow_private=bool(provider.allow_private_network) or private_upstreams_allowed(),
        )

    # --- requests with retries --------------------------------------------------------------------------------------

    def _open(self, client: httpx.Client, method: str, path: str, payload: dict[str, Any] | None) -> httpx.Response:
        """Send with retries; returns a 2xx response whose body has not been read yet (the caller closes it)."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = http.send(
                client,
                method,
                url,
                json=payload,
                headers=self.headers,
                timeout=self.timeout,
                policy=self.policy,
                guard=self.guard,
                stream=True,
            )
        except UnicodeEncodeError as exc:  # a header (API key, extra header) that HTTP cannot carry
            raise UpstreamError(
                gettext("%(label)s has a header that cannot be sent (non-ASCII API key or extra header).")
                % {"label": self.label},
                code="provider_misconfigured",
            ) from exc
        except net.URLRefused as exc:
            if exc.code == "url_unreachable":
                raise UpstreamError(
                    gettext("%(label)s is unreachable: %(error)s") % {"label": self.label, "error": exc.message},
                    code="upstream_down",
                ) from exc
            raise UpstreamRefused(
                gettext("%(label)s: %(error)s") % {"label": self.label, "error": exc.message}
            ) from exc
        except http.RequestFailed as exc:
            if exc.timed_out:
                raise UpstreamTimeout(
                    gettext("%(label)s did not answer within %(timeout)s s (%(attempts)s attempts).")
                    % {"label": self.label, "timeout": f"{self.timeout:g}", "attempts": exc.attempts}
                ) from exc
            reason = exc.cause.__class__.__name__ if exc.cause is not None else gettext("no connection")
            raise UpstreamError(
                gettext("%(label)s is unreachable: %(reason)s after %(attempts)s attempts.")
                % {"label": self.label, "reason": reason, "attempts": exc.attempts},
                code="upstream_down",
            ) from exc
        if response.status_code < 400:
            return response
        try:
            response.read()
        finally:
            response.close()
        message = _error_message(response)
        if response.status_code == 429:
            raise UpstreamRateLimited(
                gettext("%(label)s is rate limiting: %(error)s") % {"label": self.label, "error": message},
                upstream_status=429,
            )
        if response.status_code >= 500:
            raise UpstreamError(
                gettext("%(label)s failed with %(status)s: %(error)s")
                % {"label": self.label, "status": response.status_code, "error": message},
                upstream_status=response.status_code,
            )
        raise UpstreamRejected(
            gettext("%(label)s refused the request (%(status)s): %(error)s")
            % {"label": self.label, "status": response.status_code, "error": message},
            upstream_status=response.status_code,
        )

    def _json(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        with net.guarded_client() as client:
            response = self._open(client, method, path, payload)
            try:
                try:
                    response.read()
                except httpx.TimeoutException as exc:
                    raise UpstreamTimeout(
                        gettext("%(label)s stopped answering mid-response.") % {"label": self.label}
                    ) from exc
                except httpx.HTTPError as exc:
                    raise UpstreamError(gettext("%(label)s broke off the response.") % {"label": self.label}) from exc
            finally:
                response.close()
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError(
                gettext("%(label)s answered with something that is not JSON.") % {"label": self.label}
            ) from exc
        if not isinstance(body, dict):
            raise UpstreamError(gettext("%(label)s answered with unexpected JSON.") % {"label": self.label})
        return body

    # --- API --------------------------------------------------------------------------------------------------------

    def list_models(self) -> list[str]:
        body = self._json("GET", "models")
        return sorted(str(item.get("id")) for item in body.get("data", []) if isinstance(item, dict))

    def chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = self._json("POST", "chat/completions", {**payload, "stream": False})
        if not isinstance(body.get("choices"), list) or not body["choices"]:
            raise UpstreamError(gettext("%(label)s answered without choices.") % {"label": self.label})
        return body

    def embeddings(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = self._json("POST", "embeddings", payload)
        if not isinstance(body.get("data"), list):
            raise UpstreamError(
                gettext("%(label)s answered without a 'data' list of embeddings.") % {"label": self.label}
            )
        return body

    def chat_stream(self, payload: dict[str, Any], result: StreamResult) -> Iterator[str]:
        """Yield content deltas as they arrive; ``result`` collects content, tool calls, usage and the finish reason.

        A stream that ends without ``[DONE]`` or a finish reason leaves ``result.complete`` False and raises."""
        body = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        calls: dict[int, dict[str, Any]] = {}
        with net.guarded_client() as client:
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
                        raise UpstreamError(
                            gettext("%(label)s sent a malformed stream event.") % {"label": self.label}
                        ) from exc
                    if isinstance(chunk.get("error"), dict):
                        raise UpstreamError(
                            gettext("%(label)s: %(error)s")
                            % {"label": self.label, "error": chunk["error"].get("message", gettext("stream error"))}
                        )
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
                raise UpstreamTimeout(gettext("%(label)s stopped streaming.") % {"label": self.label}) from exc
            except httpx.HTTPError as exc:
                raise UpstreamError(
                    gettext("%(label)s broke off the stream.") % {"label": self.label}, code="stream_broken"
                ) from exc
            finally:
                response.close()
        result.tool_calls = [calls[i] for i in sorted(calls)]
        if not result.complete and result.finish_reason is None:
            raise UpstreamError(
                gettext("%(label)s ended the stream before it was finished.") % {"label": self.label},
                code="stream_broken",
            )
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
    """The error message of an OpenAI-style error body; anything else (an HTML page, say) is not echoed, only the
    status's reason phrase."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no error message"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"][:300]
    if isinstance(error, str):
        return error[:300]
    return response.reason_phrase or "no error message"
