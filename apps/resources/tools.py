"""The resource management system's tools: ``resources_my_quota`` (how much of each limit the caller has left, and
when it resets or runs out: an agent checks its budget before a long job) and ``resources_usage_summary`` (metered
usage over recent days by meter, user or model, for resources.manage)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from apps.core.tools import ToolContext, register_tool

from .selectors.quotas import plan_of, quota_status
from .selectors.usage import usage_rows, usage_summary

MY_QUOTA = "resources_my_quota"
USAGE_SUMMARY = "resources_usage_summary"


def _plain(value: Any) -> Any:
    return format(value.normalize(), "f") if hasattr(value, "normalize") else value


def resources_my_quota(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    plan = plan_of(user_id=ctx.user.pk)
    return {
        "plan": plan.code if plan else None,
        "quotas": [
            {
                "meter": line.meter,
                "period": line.period,
                "limit": _plain(line.limit),
                "used": _plain(line.used),
                "remaining": _plain(line.remaining),
                "resets_at": line.resets_at.isoformat() if line.resets_at else None,
                "exhausted_on": line.exhausted_on.isoformat() if line.exhausted_on else None,
            }
            for line in quota_status(user_id=ctx.user.pk)
        ],
    }


def resources_usage_summary(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    days = arguments.get("days", 7)
    today = timezone.now().date()
    start = today - dt.timedelta(days=days - 1)
    rows = usage_rows(start=start, end=today, meters=[arguments["meter"]] if arguments.get("meter") else None)
    result = usage_summary(rows=rows, by=[arguments.get("by", "meter")])[:50]
    return {
        "from": start.isoformat(),
        "to": today.isoformat(),
        "rows": [{k: _plain(v) for k, v in r.items()} for r in result],
    }


def register_tools() -> None:
    register_tool(
        name=MY_QUOTA,
        description="The caller's plan and, per limited meter (tokens, AI calls, API calls, storage, CPU), the limit, "
        "what is used and left this period, when it resets and the day it runs out at the current rate.",
        parameters={"type": "object", "properties": {}, "additionalProperties": False},
        permission="chat.use",
        handler=resources_my_quota,
    )
    register_tool(
        name=USAGE_SUMMARY,
        description="Metered usage of the whole suite over the last days, added up by meter, user, group, API key or "
        "dimension (the model, for LLM meters), largest first.",
        parameters={
            "type": "object",
            "properties": {
                "days": {"type": "integer", "minimum": 1, "maximum": 366, "default": 7},
                "by": {
                    "type": "string",
                    "enum": ["meter", "user", "group", "api_key", "dimension"],
                    "default": "meter",
                },
                "meter": {
                    "type": "string",
                    "description": "Only this meter, e.g. llm.tokens (see /api/v1/resources/meters/).",
                },
            },
            "additionalProperties": False,
        },
        permission="resources.manage",
        handler=resources_usage_summary,
    )
