"""Reads of the chat centre: which models a user may use, conversations, usage summaries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDay
from django.utils.translation import gettext

from apps.core.exceptions import NotFound

from .choices import MessageRole
from .models import ChatModel, Feedback, Message, Provider

MONEY = Decimal("0.000001")


def models_usable_by(user: Any) -> QuerySet[ChatModel]:
    """Enabled models of enabled providers that are open to every chat user or to one of the user's groups."""
    queryset = ChatModel.objects.filter(enabled=True, provider__enabled=True).select_related("provider")
    if not user or not user.is_authenticated:
        return queryset.none()
    if user.is_superuser:
        return queryset.order_by("slug")
    through = ChatModel.visible_to_groups.through
    restricted = through.objects.filter(chatmodel_id=OuterRef("pk"))
    allowed = through.objects.filter(chatmodel_id=OuterRef("pk"), group_id__in=user.groups.values("pk"))
    return queryset.filter(~Q(Exists(restricted)) | Q(Exists(allowed))).order_by("slug")


def chat_model_for(*, user: Any, slug: str) -> ChatModel:
    model = models_usable_by(user).filter(slug=str(slug or "")).first()
    if model is None:
        raise NotFound(
            gettext("The model '%(slug)s' does not exist or you do not have access to it.") % {"slug": slug},
            code="model_not_found",
        )
    return model


def enabled_chat_model(*, slug: str) -> ChatModel | None:
    """An enabled model of an enabled provider by slug, whoever asks (for system uses such as the knowledge base's
    configured answer model; per-group visibility applies to people, through ``models_usable_by``)."""
    return ChatModel.objects.select_related("provider").filter(slug=slug, enabled=True, provider__enabled=True).first()


def enabled_provider(*, name: str) -> Provider | None:
    """An enabled provider with a base URL, by name (e.g. the one serving the knowledge base's embeddings)."""
    return Provider.objects.filter(name=name, enabled=True).exclude(base_url="").first()


def usage_summary(
    *, user: Any = None, date_from: dt.date | None = None, date_to: dt.date | None = None, group_by: str = "model"
) -> list[dict[str, Any]]:
    """Tokens and cost of assistant messages, grouped by ``model``, ``user``, ``day``, ``user_model`` or
    ``day_user_model`` (``user`` None: everyone)."""
    queryset = Message.objects.filter(role=MessageRole.ASSISTANT)
    if user is not None:
        queryset = queryset.filter(conversation__owner=user)
    if date_from:
        queryset = queryset.filter(created_at__date__gte=date_from)
    if date_to:
        queryset = queryset.filter(created_at__date__lte=date_to)
    keys = {
        "model": ("model__slug",),
        "user": ("conversation__owner__username",),
        "day": ("day",),
        "user_model": ("conversation__owner__username", "model__slug"),
        "day_user_model": ("day", "conversation__owner__username", "model__slug"),
    }[group_by]
    if "day" in keys:
        queryset = queryset.annotate(day=TruncDay("created_at"))
    rows = (
        queryset.values(*keys)
        .annotate(
            messages=Count("id"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cost=Sum("cost"),
            errors=Count("id", filter=~Q(error="")),
        )
        .order_by(*keys)
    )
    names = {"model__slug": "model", "conversation__owner__username": "user", "day": "day"}
    result = []
    for row in rows:
        item = {names[k]: row[k] for k in keys}
        if "day" in item and item["day"] is not None:
            item["day"] = item["day"].date()
        item.update(
            messages=row["messages"],
            prompt_tokens=row["prompt_tokens"] or 0,
            completion_tokens=row["completion_tokens"] or 0,
            total_tokens=(row["prompt_tokens"] or 0) + (row["completion_tokens"] or 0),
            cost=(row["cost"] or Decimal("0")).quantize(MONEY),
            errors=row["errors"],
        )
        result.append(item)
    return result


def feedback_for_learning(*, since: dt.datetime | None = None, rating: str | None = None) -> QuerySet[Feedback]:
    """Feedback on answers with what the learning system needs in the same query: the rated answer, its model and
    the conversation; ``question_of(feedback)`` gives the user turn it answered."""
    queryset = Feedback.objects.select_related("message", "message__model", "message__conversation", "user")
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if rating:
        queryset = queryset.filter(rating=rating)
    return queryset.order_by("created_at", "id")


def question_of(feedback: Feedback) -> str:
    """The user turn the rated answer replied to (the last user message before it)."""
    message = feedback.message
    question = (
        Message.objects.filter(conversation_id=message.conversation_id, role=MessageRole.USER)
        .filter(Q(created_at__lt=message.created_at) | Q(created_at=message.created_at, id__lt=message.id))
        .order_by("-created_at", "-id")
        .values_list("content", flat=True)
        .first()
    )
    return question or ""
