"""Prometheus metrics of the chat centre: event counters and latency in the process doing the work. (Quota gauges,
the daily token quota included, are the resources system's: resources_quota_usage_ratio and
resources_users_over_quota.)"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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


GATEWAY_CALLS = Counter(
    "ai_gateway_calls_total",
    "Calls through the AI gateway by purpose and outcome (ok or the error code)",
    ["purpose", "outcome"],
)
GATEWAY_TOKENS = Counter(
    "ai_gateway_tokens_total",
    "Tokens through the AI gateway by purpose and direction (in, out)",
    ["purpose", "direction"],
)
GATEWAY_LATENCY = Histogram(
    "ai_gateway_call_seconds",
    "Latency of one upstream call through the AI gateway",
    ["purpose", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
