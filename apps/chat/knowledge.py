"""The knowledge base as seen from chat, through a hook the knowledge app fills.

Chat sits below the knowledge base (RAG) and never imports it: RAG registers a ``KnowledgeProvider`` from its
``AppConfig.ready()`` (``register_knowledge_provider``), and chat's knowledge features call it:

- ``readable_ids(user=, knowledge_base_ids=)``: the subset of the bases the user may read;
- ``search(user=, query=, knowledge_base_ids=, k=)``: ranked passages (objects with ``text``, ``document_title``,
  ``page``, ``heading``, ``snippet``, ``chunk_id``, ``document_id``, ``knowledge_base_id``, ``knowledge_base``);
- ``answer(user=, question=, knowledge_base_ids=, k=)``: ``(text, citations)`` with numbered citations;
- ``embed(user=, texts=)``: ``(vectors, model name, tokens)`` with the default embedding backend (for /v1/embeddings);
- ``knowledge_bases()``: the queryset models may be attached to; ``demo_knowledge_bases()`` the demo data's.

Without a provider (RAG not installed) models simply have no knowledge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from apps.core.exceptions import Unavailable

from . import conf


@dataclass(frozen=True)
class KnowledgeProvider:
    readable_ids: Callable[..., list[int]]
    search: Callable[..., list[Any]]
    answer: Callable[..., tuple[str, list[dict[str, Any]]]]
    embed: Callable[..., tuple[list[list[float]], str, int]]
    knowledge_bases: Callable[[], Any]
    demo_knowledge_bases: Callable[[], Any] = list


_PROVIDER: list[KnowledgeProvider] = []


def register_knowledge_provider(provider: KnowledgeProvider) -> None:
    """Install the knowledge provider (the last registration wins)."""
    _PROVIDER[:] = [provider]


def knowledge_provider() -> KnowledgeProvider | None:
    return _PROVIDER[0] if _PROVIDER else None


def _required() -> KnowledgeProvider:
    provider = knowledge_provider()
    if provider is None:
        raise Unavailable(gettext("No knowledge base is installed."), code="knowledge_unavailable")
    return provider


def readable_ids(*, user: Any, knowledge_base_ids: list[int]) -> list[int]:
    """The subset of ``knowledge_base_ids`` the user may read (a model's knowledge never widens a user's access)."""
    provider = knowledge_provider()
    if not knowledge_base_ids or provider is None:
        return []
    return sorted(provider.readable_ids(user=user, knowledge_base_ids=knowledge_base_ids))


def knowledge_search(*, user: Any, query: str, knowledge_base_ids: list[int] | None, k: int | None = None) -> list[Any]:
    provider = knowledge_provider()
    if provider is None:
        return []
    return provider.search(user=user, query=query, knowledge_base_ids=knowledge_base_ids, k=k or conf.knowledge_top_k())


def knowledge_answer(*, user: Any, question: str, knowledge_base_ids: list[int]) -> tuple[str, list[dict[str, Any]]]:
    text, citations = _required().answer(
        user=user, question=question, knowledge_base_ids=knowledge_base_ids, k=conf.knowledge_top_k()
    )
    return text, list(citations)


def knowledge_embed(*, user: Any, texts: list[str]) -> tuple[list[list[float]], str, int]:
    """Embeddings of ``texts`` with the knowledge base's default embedder: (vectors, model name, tokens)."""
    return _required().embed(user=user, texts=texts)


def knowledge_bases() -> Any:
    """The knowledge bases chat models may be attached to (an empty list without a provider)."""
    provider = knowledge_provider()
    return provider.knowledge_bases() if provider is not None else []


def demo_knowledge_bases() -> Any:
    provider = knowledge_provider()
    return provider.demo_knowledge_bases() if provider is not None else []


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
        (
            "Answer using the numbered sources below when they are relevant and cite them as [1], [2]. If they do not "
            "contain the answer, say so."
        )
        + "\n\n"
        + "\n\n".join(parts)
    )
