"""Choices of the chat centre."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ProviderKind(models.TextChoices):
    OPENAI_COMPATIBLE = "openai-compatible", _("OpenAI-compatible server")
    BUILTIN = "builtin", _("Built-in (no upstream)")


class MessageRole(models.TextChoices):
    SYSTEM = "system", _("System")
    USER = "user", _("User")
    ASSISTANT = "assistant", _("Assistant")
    TOOL = "tool", _("Tool")


class ConversationOrigin(models.TextChoices):
    CHAT = "chat", _("Back-office chat")
    API = "api", _("OpenAI-compatible API")


class Rating(models.TextChoices):
    UP = "up", _("Thumbs up")
    DOWN = "down", _("Thumbs down")


class UsageKind(models.TextChoices):
    COMPLETION = "completion", _("Completion")
    STREAM = "stream", _("Streamed completion")
    EMBEDDING = "embedding", _("Embeddings")
    BUILTIN = "builtin", _("Built-in engine")


BUILTIN_EXTRACTIVE = "aistack-extractive"
