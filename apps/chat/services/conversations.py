"""Writes of conversations: create, change, send a turn (plain or streamed), record API calls, feedback."""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.core.services import audit_record, model_snapshot, snapshot_diff

from .. import conf
from ..choices import ConversationOrigin, MessageRole, Rating
from ..models import ChatModel, Conversation, Feedback, Message
from ..tools import ToolContext
from .engine import Completion, Result, estimate_tokens, text_of

TITLE_LENGTH = 80


def _title_from(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= TITLE_LENGTH else words[: TITLE_LENGTH - 1].rstrip() + "…"


def conversation_create(*, owner: Any, model: ChatModel, title: str = "", actor: Any = None) -> Conversation:
    conversation = Conversation(owner=owner, model=model, title=title.strip()[:200])
    conversation.full_clean()
    conversation.save()
    audit_record(
        action=AuditAction.CREATE,
        actor=actor or owner,
        target=conversation,
        changes=snapshot_diff({}, model_snapshot(conversation)),
    )
    return conversation


def conversation_update(*, conversation: Conversation, actor: Any, **fields: Any) -> Conversation:
    before = model_snapshot(conversation)
    for name in ("title", "archived", "model"):
        if name in fields:
            setattr(conversation, name, fields[name])
    conversation.full_clean()
    conversation.save()
    audit_record(
        action=AuditAction.UPDATE,
        actor=actor,
        target=conversation,
        changes=snapshot_diff(before, model_snapshot(conversation)),
    )
    return conversation


def conversation_delete(*, conversation: Conversation, actor: Any) -> None:
    before, pk = model_snapshot(conversation), conversation.pk
    with transaction.atomic():
        conversation.delete()
        conversation.pk = pk
        audit_record(
            action=AuditAction.DELETE,
            actor=actor,
            target=conversation,
            changes=snapshot_diff(before, {k: None for k in before}),
        )


def _history(conversation: Conversation) -> list[dict[str, Any]]:
    """The stored turns as OpenAI messages (failed assistant turns are left out)."""
    messages = []
    for role, content, error in conversation.messages.order_by("created_at", "id").values_list(
        "role", "content", "error"
    ):
        if role in (MessageRole.USER, MessageRole.ASSISTANT) and not (role == MessageRole.ASSISTANT and error):
            messages.append({"role": role, "content": content})
    return messages


def history_fit(*, model: ChatModel, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest turns that fit the model's context window, leaving room for the system prompt and the answer
    (``max_tokens`` of the model, or ``CHAT_HISTORY_RESERVE_TOKENS``). The last turn is always kept; the history
    never starts with an assistant turn."""
    budget = (
        model.context_window
        - estimate_tokens(model.system_prompt)
        - (model.max_tokens or conf.history_reserve_tokens())
    )
    kept: list[dict[str, Any]] = []
    used = 0
    for message in reversed(messages):
        cost = estimate_tokens(text_of(message.get("content"))) + 4  # a few tokens of framing per message
        if kept and used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    while len(kept) > 1 and kept[0].get("role") != MessageRole.USER:
        kept.pop(0)
    return kept


def record_turn(
    *, conversation: Conversation, user_text: str, completion: Completion, origin_note: str = ""
) -> Message:
    """Store the user's turn and the assistant's answer with its metering (also for failed calls)."""
    result: Result = completion.result
    model = completion.model
    with transaction.atomic():
        Message.objects.create(conversation=conversation, role=MessageRole.USER, content=user_text)
        error = ""
        if result.error is not None:
            error = f"{result.error.code}: {result.error.message}"
        assistant = Message.objects.create(
            conversation=conversation,
            role=MessageRole.ASSISTANT,
            content=result.content,
            model=model,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_ms=result.latency_ms,
            cost=model.cost(result.prompt_tokens, result.completion_tokens),
            citations=result.citations,
            tool_calls=result.tool_log + [{"type": "client_call", **c} for c in result.client_tool_calls],
            error=error[:2000],
            incomplete=result.incomplete,
        )
        changed = ["updated_at"]
        if not conversation.title:
            conversation.title = _title_from(user_text) or f"Conversation {conversation.pk}"
            changed.append("title")
        conversation.save(update_fields=changed)
    return assistant


def conversation_send(
    *, conversation: Conversation, ctx: ToolContext, content: str, stream: bool = False
) -> tuple[Completion, Generator[str, None, None]]:
    """Send a turn in a back-office conversation. Returns the completion and the iterator of text pieces; the turn
    is recorded when the iterator is exhausted (read ``completion.recorded`` for the assistant message)."""
    if conversation.owner_id != ctx.user.pk:
        raise Forbidden(gettext("Only the owner can write in a conversation."))
    if conversation.archived:
        raise ValidationFailed(gettext("The conversation is archived."), code="archived")
    content = (content or "").strip()
    if not content:
        raise ValidationFailed(
            gettext("The message is empty."), details={"content": [gettext("This field is required.")]}
        )
    model = conversation.model
    messages = history_fit(model=model, messages=[*_history(conversation), {"role": "user", "content": content}])
    completion = Completion(ctx=ctx, model=model, messages=messages, stream=stream)

    def run() -> Generator[str, None, None]:
        try:
            yield from completion.events()
        finally:
            completion.recorded = record_turn(  # type: ignore[attr-defined]
                conversation=conversation, user_text=content, completion=completion
            )

    return completion, run()


def _thread_key(model: ChatModel, messages: list[dict[str, Any]]) -> str:
    first = next((text_of(m.get("content")) for m in messages if m.get("role") == "user"), "")
    return hashlib.sha256(f"{model.slug}\n{first}".encode()).hexdigest()


def api_call_record(*, completion: Completion) -> Message | None:
    """Log a /v1 call as a turn of the caller: calls whose history starts with the same first user message (what
    a chat client resends every turn) are grouped into one conversation."""
    if not conf.log_api_conversations():
        return None
    user = completion.ctx.user
    key = _thread_key(completion.model, completion.messages)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update()
            .filter(owner=user, model=completion.model, origin=ConversationOrigin.API, thread_key=key, archived=False)
            .order_by("-updated_at")
            .first()
        )
        if conversation is None:
            conversation = Conversation(
                owner=user, model=completion.model, origin=ConversationOrigin.API, thread_key=key
            )
            conversation.full_clean()
            conversation.save()
            audit_record(
                action=AuditAction.CREATE,
                actor=user,
                api_key=completion.ctx.api_key,
                target=conversation,
                changes=snapshot_diff({}, model_snapshot(conversation)),
                message="logged from the OpenAI-compatible API",
            )
        return record_turn(conversation=conversation, user_text=completion.question, completion=completion)


def feedback_set(*, message: Message, user: Any, rating: str, comment: str = "") -> Feedback:
    """One feedback per user and assistant message; giving it again replaces it."""
    if message.role != MessageRole.ASSISTANT:
        raise ValidationFailed(gettext("Feedback is given on assistant messages."), code="not_assistant_message")
    if rating not in Rating.values:
        raise ValidationFailed(
            gettext("Rating must be up or down."),
            details={"rating": [gettext("Use one of %(values)s.") % {"values": Rating.values}]},
        )
    with transaction.atomic():
        feedback = Feedback.objects.select_for_update().filter(message=message, user=user).first()
        before = model_snapshot(feedback)
        action = AuditAction.UPDATE if feedback else AuditAction.CREATE
        feedback = feedback or Feedback(message=message, user=user)
        feedback.rating, feedback.comment = rating, (comment or "").strip()
        feedback.full_clean()
        feedback.save()
        audit_record(
            action=action, actor=user, target=feedback, changes=snapshot_diff(before, model_snapshot(feedback))
        )
    return feedback
