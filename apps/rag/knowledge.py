"""What the knowledge base gives the chat centre: registered from ``RagConfig.ready()`` as chat's knowledge
provider (apps.chat.knowledge), so chat reaches the knowledge base without importing it."""

from __future__ import annotations

from typing import Any

from apps.chat.knowledge import KnowledgeProvider

from . import conf
from .demo import DEMO_NAME
from .embeddings import get_embedder
from .models import KnowledgeBase
from .retrieval import search
from .selectors import knowledge_bases_readable
from .services import ask

PURPOSE_API_EMBED = "api.embed"


def _readable_ids(*, user: Any, knowledge_base_ids: list[int]) -> list[int]:
    return list(knowledge_bases_readable(user).filter(pk__in=knowledge_base_ids).values_list("pk", flat=True))


def _search(*, user: Any, query: str, knowledge_base_ids: list[int] | None, k: int) -> list[Any]:
    return search(user=user, query=query, knowledge_base_ids=knowledge_base_ids, k=k)


def _answer(*, user: Any, question: str, knowledge_base_ids: list[int], k: int) -> tuple[str, list[dict[str, Any]]]:
    answer = ask(user=user, question=question, knowledge_base_ids=knowledge_base_ids, k=k)
    return answer.text, list(answer.citations)


def _embed(*, user: Any, texts: list[str]) -> tuple[list[list[float]], str, int]:
    backend, name, dimension = conf.default_embedding()
    vectors = get_embedder(backend, name, dimension).embed_for(texts, user=user, purpose=PURPOSE_API_EMBED)
    tokens = sum(len(t.split()) for t in texts)
    return [[float(x) for x in vector] for vector in vectors], name, tokens


provider = KnowledgeProvider(
    readable_ids=_readable_ids,
    search=_search,
    answer=_answer,
    embed=_embed,
    knowledge_bases=lambda: KnowledgeBase.objects.all(),
    demo_knowledge_bases=lambda: KnowledgeBase.objects.filter(name=DEMO_NAME),
)
