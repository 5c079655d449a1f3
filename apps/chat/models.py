"""Providers (upstream LLM servers), the models clients see, conversations, messages and feedback."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django_cryptography.fields import encrypt

from apps.core.models import OwnedModel, PermissionHolder, TimeStampedModel
from apps.core.roles import app_permissions

from .choices import ConversationOrigin, MessageRole, ProviderKind, Rating, UsageKind

MONEY = Decimal("0.000001")


class ChatPermission(PermissionHolder):
    """Holds the Chat centre system's role permissions (see apps.core.roles)."""

    class Meta(PermissionHolder.Meta):
        permissions = app_permissions("chat")


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _header_value_ok(value: str) -> bool:
    return value.isascii() and value.isprintable()


class Provider(TimeStampedModel):
    """An upstream speaking the OpenAI API (OpenAI, Ollama, vLLM, LM Studio, ...) or the built-in engine."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=ProviderKind.choices, default=ProviderKind.OPENAI_COMPATIBLE)
    base_url = models.URLField(max_length=500, blank=True, help_text="e.g. https://api.openai.com/v1")
    api_key = encrypt(models.CharField(max_length=500, blank=True, default=""))
    extra_headers = models.JSONField(default=dict, blank=True, help_text="Sent with every upstream request.")
    timeout = models.FloatField(
        default=60.0, validators=[MinValueValidator(0.05), MaxValueValidator(600.0)], help_text="Seconds per attempt."
    )
    enabled = models.BooleanField(default=True)
    allow_private_network = models.BooleanField(
        default=False,
        help_text=(
            "Allow a base URL at a loopback, private or link-local address (a model server on this host or the "
            "internal network). Only administrators may set it."
        ),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind=ProviderKind.OPENAI_COMPATIBLE) | ~models.Q(base_url=""),
                name="chat_provider_url_required",
            )
        ]

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

    slug = models.SlugField(max_length=100, unique=True, help_text="The model id clients send.")
    display_name = models.CharField(max_length=200)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    upstream_model = models.CharField(max_length=200, blank=True, help_text="The model name at the provider.")
    system_prompt = models.TextField(blank=True)
    temperature = models.FloatField(default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_tokens = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    context_window = models.PositiveIntegerField(default=8192, validators=[MinValueValidator(256)])
    knowledge_bases = models.ManyToManyField("rag.KnowledgeBase", blank=True, related_name="chat_models")
    tools = models.JSONField(default=list, blank=True, help_text="Names of registered tools the model may call.")
    price_input_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    price_output_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    visible_to_groups = models.ManyToManyField(
        Group, blank=True, related_name="chat_models", help_text="Empty: every holder of chat.use."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "chat model"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_input_per_1k__gte=0, price_output_per_1k__gte=0),
                name="chat_model_prices_not_negative",
            )
        ]

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
    title = models.CharField(max_length=200, blank=True)
    model = models.ForeignKey(ChatModel, on_delete=models.PROTECT, related_name="conversations")
    origin = models.CharField(max_length=8, choices=ConversationOrigin.choices, default=ConversationOrigin.CHAT)
    thread_key = models.CharField(max_length=64, blank=True, db_index=True, help_text="Groups API calls of one chat.")
    archived = models.BooleanField(default=False)

    class Meta(OwnedModel.Meta):
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(TimeStampedModel):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    model = models.ForeignKey(ChatModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    citations = models.JSONField(default=list, blank=True)
    tool_calls = models.JSONField(default=list, blank=True, help_text="Every tool call and its result.")
    error = models.TextField(blank=True)
    incomplete = models.BooleanField(default=False, help_text="The answer broke off; the content is partial.")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["model", "created_at"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Feedback(TimeStampedModel):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "feedback"
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="chat_feedback_one_per_user")]

    def __str__(self) -> str:
        return f"{self.rating} on message {self.message_id}"


class Usage(Message):
    """The usage dashboard in the admin (tokens and cost by day, user and model)."""

    class Meta:
        proxy = True
        verbose_name = "usage"
        verbose_name_plural = "usage"
        default_permissions = ("view",)


class UsageRecord(models.Model):
    """The AI gateway's ledger: one row per upstream call (a completion round, a stream, an embedding request) or
    per answer of the built-in engine, whoever made it and whether it worked. Quotas, metrics and metering read it."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("core.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.ForeignKey(ChatModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_name = models.CharField(max_length=200, help_text="The chat model's slug, or the upstream model's name.")
    purpose = models.CharField(max_length=64, help_text='What the call was for: "chat", "rag.ask", "rag.embed", ...')
    kind = models.CharField(max_length=16, choices=UsageKind.choices, default=UsageKind.COMPLETION)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False, help_text="The upstream reported no usage.")
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=64, default="ok", help_text='"ok", or the error code of the failure.')

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "usage record"
        indexes = [
            models.Index(fields=["user", "created_at"], name="chat_usage_user_day"),
            models.Index(fields=["purpose", "created_at"], name="chat_usage_purpose_day"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(cost__gte=0), name="chat_usage_cost_not_negative")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.model_name}: {self.total_tokens} tokens ({self.outcome})"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
