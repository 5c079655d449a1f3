"""The knowledge base as seen from chat: every read goes through the RAG app's public functions.

- ``knowledge_search`` -> ``apps.rag.retrieval.search(user=, query=, knowledge_base_ids=, k=)`` (bases the user may
  read only; hybrid ranking).
- ``knowledge_answer`` -> ``apps.rag.services.ask(user=, question=, knowledge_base_ids=, k=)`` (the extractive or
  generated answer with numbered citations).
"""

from __future__ import annotations

from typing import Any

from . import conf


def readable_ids(*, user: Any, knowledge_base_ids: list[int]) -> list[int]:
    """The subset of ``knowledge_base_ids`` the user may read (a model's knowledge never widens a user's access)."""
    from apps.rag.selectors import knowledge_bases_readable

    if not knowledge_base_ids:
        return []
    return sorted(knowledge_bases_readable(user).filter(pk__in=knowledge_base_ids).values_list("pk", flat=True))


def knowledge_search(*, user: Any, query: str, knowledge_base_ids: list[int] | None, k: int | None = None) -> list[Any]:
    from apps.rag.retrieval import search

    return search(user=user, query=query, knowledge_base_ids=knowledge_base_ids, k=k or conf.knowledge_top_k())


def knowledge_answer(*, user: Any, question: str, knowledge_base_ids: list[int]) -> tuple[str, list[dict[str, Any]]]:
    from apps.rag.services import ask

    answer = ask(user=user, question=question, knowledge_base_ids=knowledge_base_ids, k=conf.knowledge_top_k())
    return answer.text, list(answer.citations)


def hit_citation(number: int, hit: Any) -> dict[str, Any]:
    return {
        "number": number,
        "chunk_id": hit.chunk_id,
        "document_id": hit.document_id,
        "document_title": hit.document_title,
        "knowledge_base_id": hit.knowledge_base_id,
        "page": hit.page,
        "heading": hit.heading,
        "snippet": hit.snippet,
    }


def sources_block(citations: list[dict[str, Any]]) -> str:
    """The "Sources" list appended to knowledge-backed answers: title and location of each cited passage."""
    if not citations:
        return ""
    lines = []
    for c in citations:
        where = ", ".join(str(x) for x in (f"page {c['page']}" if c.get("page") else "", c.get("heading")) if x)
        lines.append(f"[{c['number']}] {c.get('document_title', '')}" + (f" ({where})" if where else ""))
    return "\n\nSources:\n" + "\n".join(lines)


def context_prompt(hits: list[Any]) -> str:
    parts = []
    for number, hit in enumerate(hits, start=1):
        where = ", ".join(x for x in (hit.document_title, f"page {hit.page}" if hit.page else "", hit.heading) if x)
        parts.append(f"[{number}] ({where})\n{hit.text}")
    return (
        "Answer using the numbered sources below when they are relevant and cite them as [1], [2]. If they do not "
        "contain the answer, say so.\n\n" + "\n\n".join(parts)
    )
