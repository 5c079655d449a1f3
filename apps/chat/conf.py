"""Chat-centre settings with their defaults; each may be overridden in the Django settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def retry_attempts() -> int:
    """How many times one upstream call is tried (timeouts, connection errors, 5xx, 429)."""
    return max(1, int(setting("CHAT_RETRY_ATTEMPTS", 3)))


def retry_backoff() -> float:
    """Base of the exponential backoff between attempts, seconds (0.5, 1, 2, ...)."""
    return float(setting("CHAT_RETRY_BACKOFF", 0.5))


def request_budget() -> float:
    """Seconds one upstream call may take in total, retries and backoff included."""
    return float(setting("CHAT_REQUEST_BUDGET_SECONDS", 120.0))


def max_tool_rounds() -> int:
    return max(1, int(setting("CHAT_MAX_TOOL_ROUNDS", 4)))


def log_api_conversations() -> bool:
    """Record every /v1/chat/completions call as a conversation of the caller."""
    return bool(setting("CHAT_LOG_API_CONVERSATIONS", True))


def knowledge_top_k() -> int:
    return int(setting("CHAT_KNOWLEDGE_TOP_K", 5))


def history_reserve_tokens() -> int:
    """Tokens kept free for the answer when a conversation's history is fitted into the model's context window and
    the model sets no max tokens."""
    return max(0, int(setting("CHAT_HISTORY_RESERVE_TOKENS", 1024)))
