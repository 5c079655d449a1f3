"""Prometheus metrics of the chat centre (exported at /metrics with the rest of the process)."""

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
