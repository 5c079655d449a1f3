"""Providers (upstream LLM servers), the models clients see, conversations, messages and feedback."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_cryptography.fields import encrypt

from apps.core.models import OwnedModel, PermissionHolder, TimeStampedModel
from apps.core.roles import app_permissions

from .choices import ConversationOrigin, MessageRole, ProviderKind, Rating, UsageKind

MONEY = Decimal("0.000001")


class ChatPermission(PermissionHolder):
    """Holds the Chat centre system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("chat")
        verbose_name = _("chat permission")
        verbose_name_plural = _("chat permissions")


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _header_value_ok(value: str) -> bool:
    return value.isascii() and value.isprintable()


class Provider(TimeStampedModel):
    """An upstream speaking the OpenAI API (OpenAI, Ollama, vLLM, LM Studio, ...) or the built-in engine."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    kind = models.CharField(
        max_length=32, choices=ProviderKind.choices, default=ProviderKind.OPENAI_COMPATIBLE, verbose_name=_("kind")
    )
    base_url = models.URLField(
        max_length=500, blank=True, help_text=_("e.g. https://api.openai.com/v1"), verbose_name=_("base URL")
    )
    api_key = encrypt(models.CharField(max_length=500, blank=True, default="", verbose_name=_("API key")))
    extra_headers = models.JSONField(
        default=dict, blank=True, help_text=_("Sent with every upstream request."), verbose_name=_("extra headers")
    )
    timeout = models.FloatField(
        default=60.0,
        validators=[MinValueValidator(0.05), MaxValueValidator(600.0)],
        help_text=_("Seconds per attempt."),
        verbose_name=_("timeout"),
    )
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    allow_private_network = models.BooleanField(
        default=False,
        help_text=(
            _(
                "Allow a base URL at a loopback, private or link-local address (a model server on this host or the "
                "internal network). Only administrators may set it."
            )
        ),
        verbose_name=_("allow private network"),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind=ProviderKind.OPENAI_COMPATIBLE) | ~models.Q(base_url=""),
                name="chat_provider_url_required",
            )
        ]
        verbose_name = _("provider")
        verbose_name_plural = _("providers")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.kind == ProviderKind.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError({"base_url": "An OpenAI-compatible provider needs a base URL."})
        headers = self.extra_headers
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ValidationError({"extra_headers": "Use an object of header name to string value."})
        # both go out as HTTP headers: names are tokens, values printable ASCII
        if not all(_HEADER_NAME.fullmatch(k) and _header_value_ok(v) for k, v in headers.items()):
            raise ValidationError({"extra_headers": "Header names and values must be printable ASCII."})
        if self.api_key and not _header_value_ok(self.api_key):
            raise ValidationError({"api_key": "The API key must be printable ASCII."})


class ChatModel(TimeStampedModel):
    """What clients see in /v1/models: an upstream model with a system prompt, knowledge, tools and prices."""

    slug = models.SlugField(
        max_length=100, unique=True, help_text=_("The model id clients send."), verbose_name=_("slug")
    )
    display_name = models.CharField(max_length=200, verbose_name=_("display name"))
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models", verbose_name=_("provider"))
    upstream_model = models.CharField(
        max_length=200, blank=True, help_text=_("The model name at the provider."), verbose_name=_("upstream model")
    )
    system_prompt = models.TextField(blank=True, verbose_name=_("system prompt"))
    temperature = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)], verbose_name=_("temperature")
    )
    max_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], verbose_name=_("max tokens")
    )
    context_window = models.PositiveIntegerField(
        default=8192, validators=[MinValueValidator(256)], verbose_name=_("context window")
    )
    knowledge_bases = models.ManyToManyField(
        "rag.KnowledgeBase", blank=True, related_name="chat_models", verbose_name=_("knowledge bases")
    )
    tools = models.JSONField(
        default=list, blank=True, help_text=_("Names of registered tools the model may call."), verbose_name=_("tools")
    )
    price_input_per_1k = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), verbose_name=_("input price per 1K tokens")
    )
    price_output_per_1k = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), verbose_name=_("output price per 1K tokens")
    )
    visible_to_groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="chat_models",
        help_text=_("Empty: every holder of chat.use."),
        verbose_name=_("visible to groups"),
    )
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))

    class Meta:
        ordering = ["slug"]
        verbose_name = _("chat model")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_input_per_1k__gte=0, price_output_per_1k__gte=0),
                name="chat_model_prices_not_negative",
            )
        ]
        verbose_name_plural = _("chat models")

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .tools import registered_names

        if not isinstance(self.tools, list) or not all(isinstance(t, str) for t in self.tools):
            raise ValidationError({"tools": "Use a list of tool names."})
        unknown = sorted(set(self.tools) - set(registered_names()))
        if unknown:
            raise ValidationError({"tools": f"Unknown tools: {', '.join(unknown)}."})

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        raw = (
            Decimal(prompt_tokens) * self.price_input_per_1k + Decimal(completion_tokens) * self.price_output_per_1k
        ) / 1000
        return raw.quantize(MONEY)


class Conversation(OwnedModel):
    title = models.CharField(max_length=200, blank=True, verbose_name=_("title"))
    model = models.ForeignKey(
        ChatModel, on_delete=models.PROTECT, related_name="conversations", verbose_name=_("model")
    )
    origin = models.CharField(
        max_length=8, choices=ConversationOrigin.choices, default=ConversationOrigin.CHAT, verbose_name=_("origin")
    )
    thread_key = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_("Groups API calls of one chat."),
        verbose_name=_("thread key"),
    )
    archived = models.BooleanField(default=False, verbose_name=_("archived"))

    class Meta(OwnedModel.Meta):
        ordering = ["-updated_at", "-id"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(TimeStampedModel):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", verbose_name=_("conversation")
    )
    role = models.CharField(max_length=16, choices=MessageRole.choices, verbose_name=_("role"))
    content = models.TextField(blank=True, verbose_name=_("content"))
    model = models.ForeignKey(
        ChatModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("model")
    )
    prompt_tokens = models.PositiveIntegerField(default=0, verbose_name=_("prompt tokens"))
    completion_tokens = models.PositiveIntegerField(default=0, verbose_name=_("completion tokens"))
    latency_ms = models.PositiveIntegerField(default=0, verbose_name=_("latency (ms)"))
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"), verbose_name=_("cost"))
    citations = models.JSONField(default=list, blank=True, verbose_name=_("citations"))
    tool_calls = models.JSONField(
        default=list, blank=True, help_text=_("Every tool call and its result."), verbose_name=_("tool calls")
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    incomplete = models.BooleanField(
        default=False, help_text=_("The answer broke off; the content is partial."), verbose_name=_("incomplete")
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["model", "created_at"])]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Feedback(TimeStampedModel):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback", verbose_name=_("message"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    rating = models.CharField(max_length=4, choices=Rating.choices, verbose_name=_("rating"))
    comment = models.TextField(blank=True, verbose_name=_("comment"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("feedback")
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="chat_feedback_one_per_user")]
        verbose_name = _("feedback")

    def __str__(self) -> str:
        return f"{self.rating} on message {self.message_id}"


class Usage(Message):
    """The usage dashboard in the admin (tokens and cost by day, user and model)."""

    class Meta:
        proxy = True
        verbose_name = _("usage")
        verbose_name_plural = _("usage")
        default_permissions = ("view",)


class UsageRecord(models.Model):
    """The AI gateway's ledger: one row per upstream call (a completion round, a stream, an embedding request) or
    per answer of the built-in engine, whoever made it and whether it worked. Quotas, metrics and metering read it."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    api_key = models.ForeignKey(
        "core.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("API key")
    )
    model = models.ForeignKey(
        ChatModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("model")
    )
    model_name = models.CharField(
        max_length=200,
        help_text=_("The chat model's slug, or the upstream model's name."),
        verbose_name=_("model name"),
    )
    purpose = models.CharField(
        max_length=64,
        help_text=_('What the call was for: "chat", "rag.ask", "rag.embed", ...'),
        verbose_name=_("purpose"),
    )
    kind = models.CharField(
        max_length=16, choices=UsageKind.choices, default=UsageKind.COMPLETION, verbose_name=_("kind")
    )
    prompt_tokens = models.PositiveIntegerField(default=0, verbose_name=_("prompt tokens"))
    completion_tokens = models.PositiveIntegerField(default=0, verbose_name=_("completion tokens"))
    tokens_estimated = models.BooleanField(
        default=False, help_text=_("The upstream reported no usage."), verbose_name=_("tokens estimated")
    )
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"), verbose_name=_("cost"))
    latency_ms = models.PositiveIntegerField(default=0, verbose_name=_("latency (ms)"))
    outcome = models.CharField(
        max_length=64, default="ok", help_text=_('"ok", or the error code of the failure.'), verbose_name=_("outcome")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("usage record")
        indexes = [
            models.Index(fields=["user", "created_at"], name="chat_usage_user_day"),
            models.Index(fields=["purpose", "created_at"], name="chat_usage_purpose_day"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(cost__gte=0), name="chat_usage_cost_not_negative")]
        verbose_name_plural = _("usage records")

    def __str__(self) -> str:
        return f"{self.purpose} {self.model_name}: {self.total_tokens} tokens ({self.outcome})"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
