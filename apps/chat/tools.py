"""Tools models may call through the OpenAI ``tools`` protocol, each run with the calling user's permissions.

Other apps add theirs without touching the chat code: ``register_tool(Tool(...))`` from their ``AppConfig.ready()``.
A handler receives the ``ToolContext`` and the parsed arguments and returns JSON-safe data; domain errors it raises
(not found, invalid) become an error result the model sees, never a failed request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.core.exceptions import ApplicationError
from apps.core.models import ApiKey


@dataclass
class ToolContext:
    """Who is calling: the user and, for API-key calls, the key (whose scopes narrow the user's permissions)."""

    user: Any
    api_key: ApiKey | None = None

    def has_perm(self, perm: str) -> bool:
        user = self.user
        if not user or not user.is_authenticated or not user.is_active:
            return False
        if self.api_key is not None and self.api_key.scopes and perm not in self.api_key.scopes:
            return False
        return bool(user.has_perm(perm))


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[[ToolContext, dict[str, Any]], Any]
    permissions: tuple[str, ...] = field(default_factory=tuple)

    def allowed(self, ctx: ToolContext) -> bool:
        return all(ctx.has_perm(perm) for perm in self.permissions)

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


_REGISTRY: dict[str, Tool] = {}


def register_tool(tool: Tool) -> Tool:
    _REGISTRY[tool.name] = tool
    return tool


def registered_names() -> list[str]:
    return sorted(_REGISTRY)


def get_tool(name: str) -> Tool | None:
    return _REGISTRY.get(name)


def tools_for(names: list[str], ctx: ToolContext) -> list[Tool]:
    """The registered tools among ``names`` the caller may use (a tool the caller lacks permission for is simply
    not offered to the model)."""
    return [tool for name in names if (tool := _REGISTRY.get(name)) is not None and tool.allowed(ctx)]


def tool_run(*, name: str, arguments: str, ctx: ToolContext) -> dict[str, Any]:
    """Run one call; the result is what the model gets back (``{"result": ...}`` or ``{"error": ...}``)."""
    tool = _REGISTRY.get(name)
    if tool is None:
        return {"error": f"Unknown tool '{name}'."}
    if not tool.allowed(ctx):
        return {"error": f"Permission denied: '{name}' needs {', '.join(tool.permissions)}."}
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return {"error": "The arguments are not valid JSON."}
    if not isinstance(parsed, dict):
        return {"error": "The arguments must be a JSON object."}
    try:
        return {"result": tool.handler(ctx, parsed)}
    except ApplicationError as exc:
        return {"error": exc.message, "code": exc.code}


# --- the tools of the suite ---------------------------------------------------------------------------------------


def _search_knowledge(ctx: ToolContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    from .knowledge import knowledge_search

    query = str(args.get("query") or "")
    try:
        k = min(max(int(args.get("k") or 5), 1), 20)
    except (TypeError, ValueError):
        k = 5
    hits = knowledge_search(user=ctx.user, query=query, knowledge_base_ids=None, k=k)
    return [
        {"title": h.document_title, "knowledge_base": h.knowledge_base, "page": h.page, "text": h.text[:1500]}
        for h in hits
    ]


def _stock_quote(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    from apps.stock.selectors import bar_list, instrument_by_symbol

    instrument = instrument_by_symbol(symbol=str(args.get("symbol") or ""), exchange=args.get("exchange") or None)
    bars = list(bar_list(symbol=instrument.symbol).filter(instrument=instrument, timeframe="1d").order_by("-ts")[:2])
    if not bars:
        return {"symbol": instrument.symbol, "exchange": instrument.exchange, "price": None, "note": "No prices yet."}
    last = bars[0]
    previous = bars[1].close if len(bars) > 1 else None
    change = last.close - previous if previous is not None else None
    return {
        "symbol": instrument.symbol,
        "exchange": instrument.exchange,
        "currency": instrument.currency,
        "price": last.close,
        "as_of": last.ts.isoformat(),
        "change": round(change, 6) if change is not None else None,
        "change_percent": round(change / previous * 100, 4) if change is not None and previous else None,
    }


def _erp_lookup(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    from apps.erp.selectors.lookup import erp_lookup

    return erp_lookup(kind=str(args.get("kind") or ""), code=str(args.get("code") or ""))


def register_builtin_tools() -> None:
    register_tool(
        Tool(
            name="search_knowledge",
            description="Search the company knowledge bases the user may read; returns the best passages.",
            parameters={
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look for."},
                    "k": {"type": "integer", "description": "How many passages (1-20).", "default": 5},
                },
                "required": ["query"],
            },
            handler=_search_knowledge,
            permissions=("rag.read",),
        )
    )
    register_tool(
        Tool(
            name="stock_quote",
            description="Latest daily close of an instrument and its change against the previous close.",
            parameters={
                "type": "object",
                "properties": {
                    "symbol": {"type": "string", "description": "Ticker, e.g. AAPL."},
                    "exchange": {"type": "string", "description": "Exchange code (optional), e.g. XNAS."},
                },
                "required": ["symbol"],
            },
            handler=_stock_quote,
            permissions=("stock.read",),
        )
    )
    register_tool(
        Tool(
            name="erp_lookup",
            description=(
                "Read-only ERP look-up: a sales order by number, a customer by code, or a product or its stock by SKU."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["order", "customer", "product", "stock"]},
                    "code": {"type": "string", "description": "Order number, customer code or SKU."},
                },
                "required": ["kind", "code"],
            },
            handler=_erp_lookup,
            permissions=("erp.read",),
        )
    )
