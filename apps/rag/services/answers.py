"""ask: retrieve, then answer with numbered citations, through the configured language model or, without one,
extractively (the most relevant sentences of the top chunks, quoted)."""

from __future__ import annotations

import re
import time
from typing import Any

from django.db import transaction

from .. import llm, metrics
from ..choices import AnswerMode, SearchMode
from ..models import Answer, KnowledgeBase
from ..retrieval import Filters, Hit, search

EXTRACTIVE_LABEL = "Extractive answer (no language model configured); quoted from the sources:"
NOTHING_FOUND = "No passage in the knowledge base matches this question."
_SENTENCE = re.compile(r"[^.!?。\uff01\uff1f\n]+(?:[.!?。\uff01\uff1f]+|$)")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    "a an and are as at be by can do does for from has have how in is it its of on or that the this to was were "
    "what when where which who why with".split()
)

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources provided. Cite every statement with the number of its "
    "source in square brackets, e.g. [1] or [2][3]. If the sources do not contain the answer, say so plainly."
)


def _stem(word: str) -> str:
    return word[:6] if len(word) > 6 else word.rstrip("s")


def _terms(text: str) -> set[str]:
    from ..lexical import segment

    return {_stem(w) for w in _WORD.findall(segment(text).lower()) if w not in _STOP}


def extractive_answer(question: str, hits: list[Hit], *, max_sentences: int = 3) -> tuple[str, list[int]]:
    """The best-matching sentences of the top chunks with their citation numbers (1-based over ``hits``)."""
    wanted = _terms(question)
    scored = []
    for number, hit in enumerate(hits, start=1):
        for position, match in enumerate(_SENTENCE.finditer(hit.text)):
            sentence = " ".join(match.group(0).split())
            if len(sentence) < 3:
                continue
            overlap = len(wanted & _terms(sentence))
            if overlap:
                scored.append((overlap + 1.0 / (number + 1), number, position, sentence))
    if not scored:
        return NOTHING_FOUND, []
    best = sorted(scored, key=lambda item: (-item[0], item[1], item[2]))[:max_sentences]
    best.sort(key=lambda item: (item[1], item[2]))
    lines = [f"{sentence} [{number}]" for _, number, _, sentence in best]
    return EXTRACTIVE_LABEL + "\n" + "\n".join(lines), sorted({number for _, number, _, _ in best})


def _sources(hits: list[Hit]) -> str:
    parts = []
    for number, hit in enumerate(hits, start=1):
        where = ", ".join(x for x in (hit.document_title, f"page {hit.page}" if hit.page else "", hit.heading) if x)
        parts.append(f"[{number}] ({where})\n{hit.text}")
    return "\n\n".join(parts)


def ask(
    *,
    user: Any,
    question: str,
    knowledge_base_ids: list[int] | None = None,
    k: int = 5,
    filters: Filters | None = None,
) -> Answer:
    started = time.perf_counter()
    hits = search(
        user=user, query=question, knowledge_base_ids=knowledge_base_ids, mode=SearchMode.HYBRID, k=k, filters=filters
    )
    model_name = ""
    if not hits:
        text, cited, mode = NOTHING_FOUND, [], AnswerMode.EXTRACTIVE
    elif llm.configured():
        from .. import conf

        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Sources:\n\n{_sources(hits)}\n\nQuestion: {question.strip()}"},
        ]
        text = llm.chat(messages)
        numbers = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
        cited = sorted(n for n in numbers if 1 <= n <= len(hits)) or list(range(1, len(hits) + 1))
        mode, model_name = AnswerMode.LLM, str(conf.llm_model())
    else:
        text, cited = extractive_answer(question, hits)
        mode = AnswerMode.EXTRACTIVE
    citations = [
        {
            "number": n,
            "chunk_id": hits[n - 1].chunk_id,
            "document_id": hits[n - 1].document_id,
            "document_title": hits[n - 1].document_title,
            "knowledge_base_id": hits[n - 1].knowledge_base_id,
            "page": hits[n - 1].page,
            "heading": hits[n - 1].heading,
            "snippet": hits[n - 1].snippet,
        }
        for n in cited
    ]
    elapsed = time.perf_counter() - started
    with transaction.atomic():
        answer = Answer.objects.create(
            asked_by=user if getattr(user, "is_authenticated", False) else None,
            question=question.strip(),
            text=text,
            mode=mode,
            model=model_name,
            chunk_ids=[c["chunk_id"] for c in citations],
            citations=citations,
            latency_ms=int(elapsed * 1000),
        )
        kb_ids = {hit.knowledge_base_id for hit in hits} or set(knowledge_base_ids or [])
        answer.knowledge_bases.set(KnowledgeBase.objects.filter(pk__in=kb_ids))
    metrics.ASK_LATENCY.labels(mode=mode).observe(elapsed)
    answer.hits = hits  # type: ignore[attr-defined]
    return answer
