"""Prometheus metrics of the chat centre: event counters and latency in the process doing the work; the daily token
quota gauges computed by the platform's refresh job (apps.core.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from apps.core.metrics import business_gauge

REQUESTS = Counter("chat_requests_total", "Chat completions requested", ["model", "outcome"])
TOKENS_IN = Counter("chat_prompt_tokens_total", "Prompt tokens consumed", ["model"])
TOKENS_OUT = Counter("chat_completion_tokens_total", "Completion tokens produced", ["model"])
LATENCY = Histogram(
    "chat_completion_seconds",
    "Latency of a chat completion (all tool rounds)",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
UPSTREAM_ERRORS = Counter("chat_upstream_errors_total", "Failed upstream calls", ["provider", "model", "code"])
TOOL_CALLS = Counter("chat_tool_calls_total", "Tool calls run for models", ["tool", "outcome"])


def _tokens_today_per_user() -> list[int]:
    """Prompt plus completion tokens of each user's answers since midnight UTC (the quota's accounting)."""
    import datetime as dt

    from django.db.models import Sum

    from .choices import MessageRole
    from .models import Message

    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        Message.objects.filter(role=MessageRole.ASSISTANT, created_at__gte=midnight)
        .order_by()
        .values("conversation__owner")
        .annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    )
    return [(row["prompt"] or 0) + (row["completion"] or 0) for row in rows]


@business_gauge(
    "chat_token_quota_usage_ratio",
    "Largest share of the daily per-user token quota (CHAT_USER_DAILY_TOKEN_QUOTA) used today; 0 without a quota",
)
def _token_quota_usage_ratio() -> float:
    from . import conf

    quota = conf.user_daily_token_quota()
    if not quota:
        return 0.0
    return max(_tokens_today_per_user(), default=0) / quota


@business_gauge("chat_users_over_token_quota", "Users who have used their whole daily token quota today")
def _users_over_token_quota() -> float:
    from . import conf

    quota = conf.user_daily_token_quota()
    if not quota:
        return 0
    return sum(1 for used in _tokens_today_per_user() if used >= quota)
