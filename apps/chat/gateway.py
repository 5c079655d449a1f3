"""The AI gateway: the one way any app asks for a completion (plain, streamed, with tools) or for embeddings.

Each call

1. reserves the call against the caller's quotas BEFORE anything is sent: every registered quota policy
   (``register_quota_policy``), then the limits of the resources system (apps.resources: the user's plan, group plan
   or default plan, whose daily ``llm.tokens`` limit is ``CHAT_USER_DAILY_TOKEN_QUOTA`` unless a plan sets one);
2. calls the upstream through the OpenAI client (apps.core.http retries and budget, apps.core.net SSRF guard);
3. records what it used in one place, the ledger (``UsageRecord``: user, API key, model, purpose, tokens in and out,
   cost from the model's prices, latency, outcome ``ok`` or the error code), also when the call failed and, for
   streams, when the stream ends or is abandoned; counts it in the Prometheus metrics by purpose and outcome; and
   reports it to metering, which settles the reservation with the actual tokens and cost.

Which chat model a user may use: ``model_for(user=, slug=)`` / ``models_for(user)`` (the chat selectors).

    from apps.chat import gateway

    result = gateway.complete(user=request.user, model=gateway.model_for(user=request.user, slug="gpt-4o"),
                              messages=[{"role": "user", "content": "Hello"}], purpose="content.generate")
    result.content, result.prompt_tokens, result.cost

Higher layers with rules of their own register a policy from their ``AppConfig.ready()``::

    gateway.register_quota_policy("content.guests", my_policy)  # my_policy(*, user, purpose, model) -> None
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext

from apps.core.exceptions import ApplicationError, QuotaExceeded, ValidationFailed
from apps.resources.choices import Meter
from apps.resources.services import quotas as resource_quotas

from . import metrics
from .choices import ProviderKind, UsageKind
from .client import OpenAIClient, StreamResult, UpstreamError, private_upstreams_allowed, usage_of
from .models import MONEY, ChatModel, Provider, UsageRecord
from .selectors import chat_model_for, models_usable_by

PURPOSE_CHAT = "chat"

QuotaPolicy = Callable[..., None]
"""``policy(*, user, purpose, model)``: raise ``QuotaExceeded`` to refuse the call (``model`` may be None)."""

_QUOTA_POLICIES: dict[str, QuotaPolicy] = {}


# --- quota policies ---------------------------------------------------------------------------------------------------


def register_quota_policy(name: str, policy: QuotaPolicy) -> None:
    """Add (or replace, by name) a policy every gateway call must pass."""
    _QUOTA_POLICIES[name] = policy


def unregister_quota_policy(name: str) -> None:
    _QUOTA_POLICIES.pop(name, None)


def quota_policies() -> list[str]:
    return list(_QUOTA_POLICIES)


@contextmanager
def _refusals_counted(purpose: str) -> Iterator[None]:
    """A refusal (``QuotaExceeded``) is counted in ``ai_gateway_calls_total`` under its code, then raised."""
    try:
        yield
    except QuotaExceeded as exc:
        metrics.GATEWAY_CALLS.labels(purpose, exc.code).inc()
        raise


def _policies_check(*, user: Any, purpose: str, model: ChatModel | None) -> None:
    with _refusals_counted(purpose):
        for policy in list(_QUOTA_POLICIES.values()):
            policy(user=user, purpose=purpose, model=model)


def quota_check(*, user: Any, purpose: str = PURPOSE_CHAT, model: ChatModel | None = None) -> None:
    """An early answer, before a request does other work: the registered policies, then the user's quotas (a call
    and a token must still fit). Nothing is reserved; ``complete``/``stream``/``embed`` reserve when they call."""
    _policies_check(user=user, purpose=purpose, model=model)
    with _refusals_counted(purpose):
        resource_quotas.quota_check(user=user, amounts={Meter.AI_CALLS: 1, Meter.LLM_TOKENS: 1})


def quota_reserve(
    *,
    user: Any,
    purpose: str,
    model: ChatModel | None,
    prompt_tokens: int,
    api_key: Any = None,
    completion: bool = True,
) -> resource_quotas.Hold:
    """Before a call: the policies, then a reservation of the estimated prompt tokens, the call itself (an AI call,
    for completions) and its estimated cost against the user's limits (apps.resources); 429 when they do not fit."""
    _policies_check(user=user, purpose=purpose, model=model)
    amounts: dict[str, Any] = {Meter.LLM_TOKENS: max(1, prompt_tokens)}
    if completion:
        amounts[Meter.AI_CALLS] = 1
    if model is not None:
        amounts[Meter.LLM_COST] = model.cost(prompt_tokens, 0)
    with _refusals_counted(purpose):
        return resource_quotas.quota_reserve(
            user=user,
            amounts=amounts,
            api_key=api_key,
            purpose=purpose,
            estimates=(Meter.LLM_TOKENS, Meter.LLM_COST),  # guesses: the call may start while any is left
        )


def messages_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(text_of(m.get("content"))) for m in messages)


# --- models and upstreams ---------------------------------------------------------------------------------------------


def model_for(*, user: Any, slug: str) -> ChatModel:
    """The enabled chat model ``slug`` if ``user`` may use it, else 404 ``model_not_found``."""
    return chat_model_for(user=user, slug=slug)


def models_for(user: Any) -> QuerySet[ChatModel]:
    return models_usable_by(user)


@dataclass(frozen=True)
class Upstream:
    """Where a call goes: an OpenAI-compatible base URL (ending in /v1) with its key, headers and timeout."""

    base_url: str
    api_key: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    label: str = ""
    allow_private: bool = False

    @classmethod
    def of_provider(cls, provider: Provider) -> Upstream:
        if provider.kind == ProviderKind.BUILTIN or not provider.base_url:
            raise ValidationFailed(
                gettext("The provider '%(name)s' has no upstream.") % {"name": provider.name}, code="no_upstream"
            )
        return cls(
            base_url=provider.base_url,
            api_key=provider.api_key or "",
            headers=dict(provider.extra_headers or {}),
            timeout=float(provider.timeout),
            label=provider.name,
            allow_private=bool(provider.allow_private_network),
        )

    def client(self) -> OpenAIClient:
        return OpenAIClient(
            base_url=self.base_url,
            api_key=self.api_key,
            headers=self.headers,
            timeout=self.timeout,
            label=self.label,
            allow_private=self.allow_private or private_upstreams_allowed(),
        )


def _target(model: ChatModel | None, upstream: Upstream | None, upstream_model: str) -> tuple[Upstream, str, str]:
    """(upstream, model name sent, model name recorded)."""
    if model is not None:
        return (
            upstream or Upstream.of_provider(model.provider),
            upstream_model or model.upstream_model or model.slug,
            model.slug,
        )
    if upstream is None or not upstream_model:
        raise ValidationFailed(gettext("A gateway call needs a chat model, or an upstream and its model name."))
    return upstream, upstream_model, upstream_model


# --- results ----------------------------------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for upstreams and engines that report none."""
    return math.ceil(len(text) / 4) if text else 0


def text_of(content: Any) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


@dataclass
class CompletionResult:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_reported: bool = False
    latency_ms: int = 0
    cost: Decimal = Decimal("0")
    body: dict[str, Any] = field(default_factory=dict)
    record: UsageRecord | None = None


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]
    prompt_tokens: int = 0
    usage_reported: bool = False
    record: UsageRecord | None = None


def record_usage(
    *,
    user: Any,
    purpose: str,
    model_name: str,
    model: ChatModel | None = None,
    api_key: Any = None,
    kind: str = UsageKind.COMPLETION,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    estimated: bool = False,
    latency_ms: int = 0,
    outcome: str = "ok",
    hold: resource_quotas.Hold | None = None,
) -> UsageRecord:
    """Write one ledger row, count it in the metrics and report it to metering (apps.resources: tokens in and out,
    cost and one AI call, by model), settling the call's quota ``hold``; a call that failed having produced nothing
    gives its hold back. The only place usage is recorded; callers outside the gateway use it for answers that used
    no upstream (the built-in engine)."""
    cost = model.cost(prompt_tokens, completion_tokens) if model is not None else Decimal("0").quantize(MONEY)
    record = UsageRecord.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        api_key=api_key if getattr(api_key, "pk", None) else None,
        model=model,
        model_name=model_name[:200],
        purpose=purpose[:64],
        kind=kind,
        prompt_tokens=max(0, int(prompt_tokens)),
        completion_tokens=max(0, int(completion_tokens)),
        tokens_estimated=estimated,
        cost=cost,
        latency_ms=max(0, int(latency_ms)),
        outcome=(outcome or "error")[:64],
    )
    metrics.GATEWAY_CALLS.labels(purpose, "ok" if outcome == "ok" else outcome).inc()
    metrics.GATEWAY_TOKENS.labels(purpose, "in").inc(record.prompt_tokens)
    metrics.GATEWAY_TOKENS.labels(purpose, "out").inc(record.completion_tokens)
    metrics.GATEWAY_LATENCY.labels(purpose, "ok" if outcome == "ok" else "error").observe(latency_ms / 1000)
    tokens = record.prompt_tokens + record.completion_tokens
    if outcome != "ok" and not tokens:
        if hold is not None:
            resource_quotas.quota_release(hold=hold)
        return record
    amounts: dict[str, Any] = {
        Meter.LLM_TOKENS: tokens,
        Meter.LLM_TOKENS_IN: record.prompt_tokens,
        Meter.LLM_TOKENS_OUT: record.completion_tokens,
        Meter.LLM_COST: record.cost,
    }
    if kind != UsageKind.EMBEDDING:
        amounts[Meter.AI_CALLS] = 1
    if hold is None:
        hold = resource_quotas.Hold(user_id=record.user_id, api_key_id=record.api_key_id, purpose=purpose, amounts={})
    resource_quotas.quota_settle(
        hold=hold,
        amounts=amounts,
        dimension=record.model_name,
    )
    return record


def _payload(
    upstream_model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, options: dict[str, Any]
) -> dict[str, Any]:
    payload: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    payload.update(model=upstream_model, messages=messages)
    if tools:
        payload["tools"] = tools
    else:
        payload.pop("tool_choice", None)
    return payload


def _calls_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(c.get("id") or f"call_{i}"),
            "type": "function",
            "function": {
                "name": str((c.get("function") or {}).get("name", "")),
                "arguments": str((c.get("function") or {}).get("arguments") or "{}"),
            },
        }
        for i, c in enumerate(message.get("tool_calls") or [])
        if isinstance(c, dict)
    ]


def _settle(result: CompletionResult, messages: list[dict[str, Any]], usage: dict[str, int], failed: bool) -> bool:
    """Fill in the tokens (reported, else estimated when something was produced); True when estimated."""
    if usage:
        result.usage_reported = True
        result.prompt_tokens = usage.get("prompt_tokens", 0)
        result.completion_tokens = usage.get("completion_tokens", 0)
        return False
    if failed and not result.content:
        return False
    result.prompt_tokens = messages_tokens(messages)
    result.completion_tokens = estimate_tokens(result.content)
    return True


# --- calls ------------------------------------------------------------------------------------------------------------


def complete(
    *,
    user: Any,
    messages: list[dict[str, Any]],
    purpose: str,
    model: ChatModel | None = None,
    upstream: Upstream | None = None,
    upstream_model: str = "",
    tools: list[dict[str, Any]] | None = None,
    api_key: Any = None,
    **options: Any,
) -> CompletionResult:
    """One chat completion (``options``: temperature, max_tokens, tool_choice, top_p, ... as the OpenAI API names
    them). Raises ``QuotaExceeded`` before the call, the upstream errors (502/504/429) after recording them."""
    target, sent_model, name = _target(model, upstream, upstream_model)
    hold = quota_reserve(
        user=user, purpose=purpose, model=model, prompt_tokens=messages_tokens(messages), api_key=api_key
    )
    result = CompletionResult()
    started = time.perf_counter()
    outcome, usage = "error", {}
    try:
        body = target.client().chat(_payload(sent_model, messages, tools, options))
        usage = usage_of(body)
        choice = body["choices"][0] if isinstance(body["choices"][0], dict) else {}
        message = choice.get("message") or {}
        result.body = body
        result.content = text_of(message.get("content"))
        result.tool_calls = _calls_of(message)
        result.finish_reason = choice.get("finish_reason")
        outcome = "ok"
        return result
    except ApplicationError as exc:
        outcome = exc.code
        raise
    finally:
        result.latency_ms = int((time.perf_counter() - started) * 1000)
        estimated = _settle(result, messages, usage, outcome != "ok")
        result.record = record_usage(
            user=user,
            purpose=purpose,
            model=model,
            model_name=name,
            api_key=api_key,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            estimated=estimated,
            latency_ms=result.latency_ms,
            outcome=outcome,
            hold=hold,
        )
        result.cost = result.record.cost


class CompletionStream:
    """A streamed completion: iterate for the content deltas; ``result`` is complete once the iteration ends. The
    usage is recorded when the stream finishes, fails or is closed before its end (outcome ``client_closed``)."""

    def __init__(
        self,
        *,
        user: Any,
        messages: list[dict[str, Any]],
        purpose: str,
        model: ChatModel | None,
        target: Upstream,
        sent_model: str,
        name: str,
        tools: list[dict[str, Any]] | None,
        api_key: Any,
        options: dict[str, Any],
        hold: resource_quotas.Hold | None = None,
    ) -> None:
        self.user, self.messages, self.purpose, self.model, self.hold = user, messages, purpose, model, hold
        self.name, self.api_key = name, api_key
        self.result = CompletionResult()
        self._client = target.client()
        self._payload = _payload(sent_model, messages, tools, options)
        self._iterator = self._run()

    def __iter__(self) -> Iterator[str]:
        return self._iterator

    def __next__(self) -> str:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()

    def _run(self) -> Generator[str, None, None]:
        result = self.result
        partial = StreamResult()
        started = time.perf_counter()
        outcome = "client_closed"
        try:
            for delta in self._client.chat_stream(self._payload, partial):
                result.content = partial.content
                yield delta
            outcome = "ok"
        except ApplicationError as exc:
            outcome = exc.code
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            result.content = partial.content
            result.tool_calls = partial.tool_calls
            result.finish_reason = partial.finish_reason
            result.latency_ms = int((time.perf_counter() - started) * 1000)
            estimated = _settle(result, self.messages, partial.usage, outcome != "ok")
            result.record = record_usage(
                user=self.user,
                purpose=self.purpose,
                model=self.model,
                model_name=self.name,
                api_key=self.api_key,
                kind=UsageKind.STREAM,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                estimated=estimated,
                latency_ms=result.latency_ms,
                outcome=outcome,
                hold=self.hold,
            )
            result.cost = result.record.cost


def stream(
    *,
    user: Any,
    messages: list[dict[str, Any]],
    purpose: str,
    model: ChatModel | None = None,
    upstream: Upstream | None = None,
    upstream_model: str = "",
    tools: list[dict[str, Any]] | None = None,
    api_key: Any = None,
    **options: Any,
) -> CompletionStream:
    """A streamed chat completion (see ``CompletionStream``); the quota is checked here, before anything is sent."""
    target, sent_model, name = _target(model, upstream, upstream_model)
    hold = quota_reserve(
        user=user, purpose=purpose, model=model, prompt_tokens=messages_tokens(messages), api_key=api_key
    )
    return CompletionStream(
        user=user,
        messages=messages,
        purpose=purpose,
        model=model,
        target=target,
        sent_model=sent_model,
        name=name,
        tools=tools,
        api_key=api_key,
        options=options,
        hold=hold,
    )


def embed(
    *,
    user: Any,
    texts: list[str],
    purpose: str,
    model: ChatModel | None = None,
    upstream: Upstream | None = None,
    upstream_model: str = "",
    api_key: Any = None,
    **options: Any,
) -> EmbeddingResult:
    """Embeddings of ``texts`` in their order (one request; the caller batches). ``options`` are sent as given
    (e.g. ``dimensions``)."""
    target, sent_model, name = _target(model, upstream, upstream_model)
    hold = quota_reserve(
        user=user,
        purpose=purpose,
        model=model,
        prompt_tokens=sum(estimate_tokens(t) for t in texts),
        api_key=api_key,
        completion=False,
    )
    started = time.perf_counter()
    outcome = "error"
    result = EmbeddingResult(vectors=[])
    try:
        body = target.client().embeddings(
            {**{k: v for k, v in options.items() if v is not None}, "model": sent_model, "input": list(texts)}
        )
        try:
            data = sorted(body["data"], key=lambda item: item.get("index", 0))
            result.vectors = [[float(x) for x in item["embedding"]] for item in data]
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise UpstreamError(
                gettext("%(label)s answered without usable embeddings.") % {"label": target.label or target.base_url}
            ) from exc
        raw_usage = body.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        if usage.get("prompt_tokens") is not None:
            result.prompt_tokens, result.usage_reported = int(usage.get("prompt_tokens") or 0), True
        else:
            result.prompt_tokens = sum(estimate_tokens(t) for t in texts)
        outcome = "ok"
        return result
    except ApplicationError as exc:
        outcome = exc.code
        raise
    finally:
        result.record = record_usage(
            user=user,
            purpose=purpose,
            model=model,
            model_name=name,
            api_key=api_key,
            kind=UsageKind.EMBEDDING,
            prompt_tokens=result.prompt_tokens,
            estimated=not result.usage_reported and outcome == "ok",
            latency_ms=int((time.perf_counter() - started) * 1000),
            outcome=outcome,
            hold=hold,
        )


def list_upstream_models(*, provider: Provider) -> list[str]:
    """The model ids the provider's upstream offers (for the connection test; not metered)."""
    return Upstream.of_provider(provider).client().list_models()


__all__ = [
    "PURPOSE_CHAT",
    "CompletionResult",
    "CompletionStream",
    "EmbeddingResult",
    "Upstream",
    "complete",
    "embed",
    "estimate_tokens",
    "model_for",
    "models_for",
    "quota_check",
    "quota_reserve",
    "record_usage",
    "register_quota_policy",
    "stream",
    "text_of",
]
