"""Outbound HTTP with retries: the one retry and backoff loop of the suite (httpx, synchronous).

``send(...)`` sends one request and retries it on connection errors, timeouts, 429 and 5xx with exponential backoff
and full jitter, honouring ``Retry-After``, while a total time budget lasts. It returns the first response that is
not worth retrying (a 2xx, a redirect or a 4xx other than 429), or the last retryable one when the attempts or the
budget are used up; it raises ``RequestFailed`` when no attempt got a response. What a status means is the caller's
business (each client maps it to its own errors).

One set of settings (``HTTP_RETRY_ATTEMPTS``, ``HTTP_RETRY_BACKOFF``, ``HTTP_RETRY_MAX_DELAY``,
``HTTP_RETRY_BUDGET_SECONDS``); a client may narrow them with its own ``RetryPolicy``. With ``guard`` (see
``apps.core.net``) every attempt resolves the host again, refuses private addresses unless allowed and connects to
the address it checked.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings

from . import net

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one request is tried: ``attempts`` in all, the n-th retry after a random delay of up
    to ``backoff * 2**n`` seconds (capped at ``max_delay``; a ``Retry-After`` header replaces it), everything within
    ``budget`` seconds."""

    attempts: int = 3
    backoff: float = 0.5
    max_delay: float = 30.0
    budget: float = 120.0
    jitter: bool = True

    @classmethod
    def from_settings(cls, **overrides: Any) -> RetryPolicy:
        policy = cls(
            attempts=max(1, int(getattr(settings, "HTTP_RETRY_ATTEMPTS", 3))),
            backoff=max(0.0, float(getattr(settings, "HTTP_RETRY_BACKOFF", 0.5))),
            max_delay=max(0.0, float(getattr(settings, "HTTP_RETRY_MAX_DELAY", 30.0))),
            budget=max(0.0, float(getattr(settings, "HTTP_RETRY_BUDGET_SECONDS", 120.0))),
        )
        return replace(policy, **{k: v for k, v in overrides.items() if v is not None})

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first)."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.max_delay, self.backoff * (2**retry))
        return random.uniform(0, ceiling) if self.jitter else ceiling  # nosec B311


class RequestFailed(Exception):
    """No attempt got a response: the last one failed to connect or timed out (``timed_out``), or the budget was
    used up before it could be made."""

    def __init__(self, message: str, *, attempts: int, timed_out: bool, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.timed_out = timed_out
        self.cause = cause


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (a number or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def attempts_of(response: httpx.Response) -> int:
    """How many attempts ``send`` made to get ``response``."""
    return int(response.extensions.get("attempts", 1))


def client(*, guarded: bool = False) -> httpx.Client:
    """An httpx client for ``send``; a guarded one uses no proxy from the environment, since the connection must go
    to the address that was checked."""
    return httpx.Client(follow_redirects=False, trust_env=not guarded)


def send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    policy: RetryPolicy | None = None,
    guard: net.Guard | None = None,
    stream: bool = False,
) -> httpx.Response:
    """Send with retries (see the module). With ``stream`` the returned response's body is not read yet and the
    caller closes it; retryable responses that are given up on are read and closed here. ``net.AddressRefused``
    (from ``guard``) and ``UnicodeEncodeError`` (a header HTTP cannot carry) are raised at once."""
    policy = policy or RetryPolicy.from_settings()
    deadline = time.monotonic() + policy.budget
    last_error: httpx.HTTPError | None = None
    attempt = 0
    while attempt < policy.attempts:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempt += 1
        target, extra_headers, extensions = guard.pin(url) if guard is not None else (httpx.URL(url), {}, {})
        try:
            request = http.build_request(
                method,
                target,
                json=json,
                headers={**(headers or {}), **extra_headers},
                timeout=httpx.Timeout(min(timeout, remaining)),
                extensions=extensions,
            )
            response = http.send(request, stream=True)
        except httpx.HTTPError as exc:
            last_error = exc
        else:
            response.extensions = {**response.extensions, "attempts": attempt}
            if response.status_code not in RETRY_STATUSES or attempt >= policy.attempts:
                if not stream:
                    _read(response)
                return response
            delay = policy.delay(attempt - 1, retry_after(response))
            _read(response)
            if time.monotonic() + delay >= deadline:
                return response
            if delay > 0:
                time.sleep(delay)
            continue
        delay = policy.delay(attempt - 1, None)
        if attempt >= policy.attempts or time.monotonic() + delay >= deadline:
            break
        if delay > 0:
            time.sleep(delay)
    timed_out = last_error is None or isinstance(last_error, httpx.TimeoutException)
    reason = f"{last_error.__class__.__name__}" if last_error is not None else f"the {policy.budget:g} s budget"
    raise RequestFailed(
        f"no response after {attempt} attempt{'s' if attempt != 1 else ''} ({reason})",
        attempts=attempt,
        timed_out=timed_out,
        cause=last_error,
    )


def _read(response: httpx.Response) -> None:
    try:
        response.read()
    except httpx.HTTPError:
        pass
    finally:
        response.close()
