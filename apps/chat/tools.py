"""Chat's view of the suite's tool registry (``apps.core.tools``): the tools a model may call through the OpenAI
``tools`` protocol, each run with the calling user's permissions.

Chat owns no tools: each app registers its own from its ``AppConfig.ready()``. Here a run's outcome becomes what the
model sees, ``{"result": ...}`` or ``{"error": ..., "code": ...}``, never a failed request.
"""

from __future__ import annotations

from typing import Any

from apps.core import tools as registry
from apps.core.exceptions import ApplicationError
from apps.core.tools import Tool, ToolContext

__all__ = ["Tool", "ToolContext", "get_tool", "registered_names", "tool_run", "tools_for"]


def registered_names() -> list[str]:
    return [tool.name for tool in registry.registered_tools()]


def get_tool(name: str) -> Tool | None:
    return registry.get_tool(name)


def tools_for(names: list[str], ctx: ToolContext) -> list[Tool]:
    """The registered tools among ``names`` the caller may use (a tool the caller lacks permission for is simply
    not offered to the model)."""
    return [tool for name in names if (tool := registry.get_tool(name)) is not None and tool.allowed(ctx)]


def tool_run(*, name: str, arguments: str, ctx: ToolContext) -> dict[str, Any]:
    """Run one call; the result is what the model gets back (``{"result": ...}`` or ``{"error": ...}``, with the
    error's code and, for arguments that do not match the schema, what is wrong with them)."""
    try:
        return {"result": registry.tool_run(name=name, arguments=arguments, user=ctx.user, api_key=ctx.api_key)}
    except ApplicationError as exc:
        output: dict[str, Any] = {"error": exc.message, "code": exc.code}
        if exc.details:
            output["details"] = exc.details
        return output
