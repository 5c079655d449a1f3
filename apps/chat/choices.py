"""Choices of the chat centre."""

from django.db import models


class ProviderKind(models.TextChoices):
    OPENAI_COMPATIBLE = "openai-compatible", "OpenAI-compatible server"
    BUILTIN = "builtin", "Built-in (no upstream)"


class MessageRole(models.TextChoices):
    SYSTEM = "system", "System"
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    TOOL = "tool", "Tool"


class ConversationOrigin(models.TextChoices):
    CHAT = "chat", "Back-office chat"
    API = "api", "OpenAI-compatible API"


class Rating(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class UsageKind(models.TextChoices):
    COMPLETION = "completion", "Completion"
    STREAM = "stream", "Streamed completion"
    EMBEDDING = "embedding", "Embeddings"
    BUILTIN = "builtin", "Built-in engine"


BUILTIN_EXTRACTIVE = "aistack-extractive"
