"""The knowledge base's tools: ``search_knowledge`` searches the bases the calling user may read."""

from __future__ import annotations

from typing import Any

from apps.core.tools import ToolContext, register_tool

from .retrieval import search

SEARCH_KNOWLEDGE = "search_knowledge"
PASSAGE_CHARS = 1500


def search_knowledge(ctx: ToolContext, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    hits = search(user=ctx.user, query=arguments["query"], knowledge_base_ids=None, k=arguments.get("k", 5))
    return [
        {"title": h.document_title, "knowledge_base": h.knowledge_base, "page": h.page, "text": h.text[:PASSAGE_CHARS]}
        for h in hits
    ]


def register_tools() -> None:
    register_tool(
        name=SEARCH_KNOWLEDGE,
        description="Search the company knowledge bases the user may read; returns the best passages.",
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "description": "What to look for."},
                "k": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 20,
                    "default": 5,
                    "description": "How many passages.",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        permission="rag.read",
        handler=search_knowledge,
    )
