"""The ERP's tools: ``erp_lookup``, a read-only look-up of one order, customer, product or stock level by code."""

from __future__ import annotations

from typing import Any

from apps.core.tools import ToolContext, register_tool

from .selectors.lookup import LOOKUP_KINDS, erp_lookup

ERP_LOOKUP = "erp_lookup"


def erp_lookup_tool(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    # ERP records are company-wide: everyone holding erp.read (checked by the registry) sees the same data.
    return erp_lookup(kind=arguments["kind"], code=arguments["code"])


def register_tools() -> None:
    register_tool(
        name=ERP_LOOKUP,
        description=(
            "Read-only ERP look-up: a sales order by number, a customer by code, or a product or its stock by SKU."
        ),
        parameters={
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": list(LOOKUP_KINDS)},
                "code": {"type": "string", "minLength": 1, "description": "Order number, customer code or SKU."},
            },
            "required": ["kind", "code"],
            "additionalProperties": False,
        },
        permission="erp.read",
        handler=erp_lookup_tool,
    )
