"""One chat completion: the built-in extractive engine or an upstream, with knowledge, tools and metering.

``Completion(...).events()`` yields the answer's text as it is produced (one piece for plain calls, the upstream's
deltas for streamed ones); afterwards ``.result`` holds content, citations, tool calls, tokens, latency and any
error. Nothing is written here: the conversation services record the result, including failed calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError, ValidationFailed

from .. import conf, gateway, metrics
from ..choices import ProviderKind, UsageKind
from ..client import UpstreamError, UpstreamRejected
from ..gateway import PURPOSE_CHAT, estimate_tokens, text_of
from ..knowledge import context_prompt, hit_citation, knowledge_answer, knowledge_search, readable_ids, sources_block
from ..models import ChatModel
from ..tools import ToolContext, tool_run, tools_for

NO_KNOWLEDGE = _(
    "This model answers from knowledge bases, and none is attached to it (or none you may read). Ask an "
    "administrator to attach a knowledge base to the model."
)
TOOLS_SKIPPED = _("The upstream does not support tools; the answer was produced without them.")
TOOLS_IGNORED = _("The upstream asked for tools after the last tool round; those calls were not run.")
ROLES = {"system", "user", "assistant", "tool", "developer"}
PASSTHROUGH = ("top_p", "stop", "presence_penalty", "frequency_penalty", "seed", "response_format", "logit_bias")
"""Request options of the OpenAI API sent to the upstream as the client gave them."""


def quota_check(*, user: Any, model: ChatModel | None = None) -> None:
    """Refuse a chat completion the gateway's quota policies refuse (by default the daily token quota,
    ``CHAT_USER_DAILY_TOKEN_QUOTA``)."""
    gateway.quota_check(user=user, purpose=PURPOSE_CHAT, model=model)


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise ValidationFailed(
            gettext("messages must be a non-empty list."), details={"messages": [gettext("A non-empty list.")]}
        )
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise ValidationFailed(
                gettext("Each message needs a role (system, user, assistant or tool)."),
                details={"messages": {str(index): [gettext("Unknown or missing role.")]}},
            )
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise ValidationFailed(
                gettext("Message content must be text."), details={"messages": {str(index): [gettext("Not text.")]}}
            )
    return messages


@dataclass
class Result:
    content: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    tool_log: list[dict[str, Any]] = field(default_factory=list)
    client_tool_calls: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_reported: bool = False
    finish_reason: str = "stop"
    error: ApplicationError | None = None
    incomplete: bool = False
    latency_ms: int = 0


class Completion:
    def __init__(
        self,
        *,
        ctx: ToolContext,
        model: ChatModel,
        messages: list[dict[str, Any]],
        temperature: float | None = None,
        max_tokens: int | None = None,
        client_tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        stream: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.model = model
        self.messages = validate_messages(messages)
        self.temperature = model.temperature if temperature is None else float(temperature)
        self.max_tokens = max_tokens or model.max_tokens
        self.client_tools = list(client_tools or [])
        self.tool_choice = tool_choice
        self.stream = stream
        self.options = {k: v for k, v in (options or {}).items() if k in PASSTHROUGH and v is not None}
        self.result = Result()
        if not self.question:
            raise ValidationFailed(
                gettext("The conversation has no user message."), details={"messages": [gettext("No user turn.")]}
            )
        quota_check(user=ctx.user, model=model)

    @property
    def question(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return text_of(message.get("content")).strip()
        return ""

    # --- running ----------------------------------------------------------------------------------------------------

    def events(self) -> Iterator[str]:
        started = time.perf_counter()
        result = self.result
        try:
            if self.model.provider.kind == ProviderKind.BUILTIN:
                yield from self._builtin()
            else:
                yield from self._upstream()
        except ApplicationError as exc:
            result.error = exc
            result.finish_reason = "error"
            result.incomplete = bool(result.content)
            if isinstance(exc, UpstreamError):
                metrics.UPSTREAM_ERRORS.labels(self.model.provider.name, self.model.slug, exc.code).inc()
        finally:
            elapsed = time.perf_counter() - started
            result.latency_ms = int(elapsed * 1000)
            if not result.usage_reported and (result.content or result.error is None):
                result.prompt_tokens = result.prompt_tokens or self._prompt_estimate()
                result.completion_tokens = result.completion_tokens or estimate_tokens(result.content)
            slug = self.model.slug
            metrics.REQUESTS.labels(slug, "error" if result.error else "ok").inc()
            metrics.TOKENS_IN.labels(slug).inc(result.prompt_tokens)
            metrics.TOKENS_OUT.labels(slug).inc(result.completion_tokens)
            metrics.LATENCY.labels(slug).observe(elapsed)
            if self.model.provider.kind == ProviderKind.BUILTIN:
                gateway.record_usage(
                    user=self.ctx.user,
                    api_key=self.ctx.api_key,
                    purpose=PURPOSE_CHAT,
                    model=self.model,
                    model_name=slug,
                    kind=UsageKind.BUILTIN,
                    prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                    estimated=True,
                    latency_ms=result.latency_ms,
                    outcome=result.error.code if result.error else "ok",
                )

    def cancel(self) -> None:
        """The client went away before the answer was complete: what was produced is kept, marked incomplete."""
        result = self.result
        if result.error is None:
            result.error = ApplicationError(
                gettext("The client closed the connection before the answer was complete."), code="client_closed"
            )
            result.finish_reason = "error"
            result.incomplete = True

    def run(self) -> Result:
        for _event in self.events():
            pass
        return self.result

    def _prompt_estimate(self) -> int:
        return sum(estimate_tokens(text_of(m.get("content"))) for m in self.messages) + estimate_tokens(
            self.model.system_prompt
        )

    def _emit(self, text: str) -> Iterator[str]:
        if text:
            self.result.content += text
            yield text

    # --- built-in extractive engine ---------------------------------------------------------------------------------

    def _builtin(self) -> Iterator[str]:
        kb_ids = readable_ids(user=self.ctx.user, knowledge_base_ids=[kb.pk for kb in self.model.knowledge_bases.all()])
        if not kb_ids or not self.ctx.has_perm("rag.read"):
            yield from self._emit(str(NO_KNOWLEDGE))
            return
        text, citations = knowledge_answer(user=self.ctx.user, question=self.question, knowledge_base_ids=kb_ids)
        self.result.citations = citations
        yield from self._emit(text + sources_block(citations))

    # --- upstream ---------------------------------------------------------------------------------------------------

    def _knowledge_messages(self) -> list[dict[str, Any]]:
        kb_ids = readable_ids(user=self.ctx.user, knowledge_base_ids=[kb.pk for kb in self.model.knowledge_bases.all()])
        if not kb_ids or not self.ctx.has_perm("rag.read"):
            return []
        hits = knowledge_search(user=self.ctx.user, query=self.question, knowledge_base_ids=kb_ids)
        if not hits:
            return []
        self.result.citations = [hit_citation(n, hit) for n, hit in enumerate(hits, start=1)]
        return [{"role": "system", "content": context_prompt(hits)}]

    def _upstream(self) -> Iterator[str]:
        result = self.result
        conversation: list[dict[str, Any]] = []
        if self.model.system_prompt:
            conversation.append({"role": "system", "content": self.model.system_prompt})
        conversation += self._knowledge_messages()
        conversation += [dict(m) for m in self.messages]

        server_tools = {tool.name: tool for tool in tools_for(list(self.model.tools or []), self.ctx)}
        specs = [tool.spec() for tool in server_tools.values()] + [
            t for t in self.client_tools if t.get("function", {}).get("name") not in server_tools
        ]
        tools_on = bool(specs)
        rounds = conf.max_tool_rounds()
        round_no = 0
        while True:
            options: dict[str, Any] = {**self.options, "temperature": self.temperature}
            if self.max_tokens:
                options["max_tokens"] = self.max_tokens
            offer_tools = tools_on and round_no < rounds
            if offer_tools and self.tool_choice is not None:
                options["tool_choice"] = self.tool_choice
            try:
                content, calls, finish = yield from self._call(conversation, specs if offer_tools else None, options)
            except UpstreamRejected:
                if not offer_tools or result.content:
                    raise
                tools_on = False
                result.notes.append(str(TOOLS_SKIPPED))
                result.tool_log.append({"type": "note", "message": str(TOOLS_SKIPPED)})
                continue
            if not calls:
                result.finish_reason = finish or "stop"
                break
            if round_no >= rounds:
                # the tool rounds are used up (tools were not offered): an upstream calling them anyway is not obeyed
                result.notes.append(str(TOOLS_IGNORED))
                result.tool_log.append({"type": "note", "message": str(TOOLS_IGNORED), "calls": calls})
                result.finish_reason = "stop"
                break
            client_names = {t.get("function", {}).get("name") for t in self.client_tools} - set(server_tools)
            client_calls = [c for c in calls if c["function"]["name"] in client_names]
            if client_calls:
                result.client_tool_calls = client_calls
                result.finish_reason = "tool_calls"
                return
            conversation.append({"role": "assistant", "content": content or None, "tool_calls": calls})
            for call in calls:
                name, arguments = call["function"]["name"], call["function"]["arguments"]
                output = tool_run(name=name, arguments=arguments, ctx=self.ctx)
                metrics.TOOL_CALLS.labels(name, "error" if "error" in output else "ok").inc()
                result.tool_log.append(
                    {"type": "function", "id": call["id"], "name": name, "arguments": arguments, "output": output}
                )
                conversation.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(output, default=str)}
                )
            round_no += 1
            if round_no >= rounds:
                note = gettext("Stopped calling tools after %(rounds)s rounds.") % {"rounds": rounds}
                result.notes.append(note)
                result.tool_log.append({"type": "note", "message": note})
        if result.citations:
            yield from self._emit(sources_block(result.citations))

    def _call(
        self, conversation: list[dict[str, Any]], tools: list[dict[str, Any]] | None, options: dict[str, Any]
    ) -> Any:
        """One upstream round through the gateway; yields deltas and returns (content, tool calls, finish reason)."""
        call = {
            "user": self.ctx.user,
            "api_key": self.ctx.api_key,
            "model": self.model,
            "messages": conversation,
            "purpose": PURPOSE_CHAT,
            "tools": tools,
            **options,
        }
        if self.stream:
            stream = gateway.stream(**call)
            try:
                for delta in stream:
                    yield from self._emit(delta)
            finally:
                stream.close()
                self._add_usage(stream.result)
            return stream.result.content, stream.result.tool_calls, stream.result.finish_reason
        answer = gateway.complete(**call)
        self._add_usage(answer)
        yield from self._emit(answer.content)
        return answer.content, answer.tool_calls, answer.finish_reason

    def _add_usage(self, answer: gateway.CompletionResult) -> None:
        if answer.usage_reported:
            self.result.usage_reported = True
            self.result.prompt_tokens += answer.prompt_tokens
            self.result.completion_tokens += answer.completion_tokens
