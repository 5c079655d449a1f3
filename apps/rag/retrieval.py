"""Search: BM25 over PostgreSQL lexemes (postings + term statistics, OR semantics), an exact mode with
web-search syntax, vector k-NN on each base's HNSW index, and hybrid reciprocal rank fusion. Only bases the caller
may read are searched: the base list comes from the permission query, never from filtering results afterwards."""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils.translation import gettext

from apps.core import caching
from apps.core.exceptions import NotFound, ValidationFailed

from . import conf, metrics
from .choices import SearchMode
from .embeddings import get_embedder
from .lexical import CJK, lexical_text, segment
from .models import Chunk, Document, KnowledgeBase
from .selectors import knowledge_bases_readable_list
from .vectors import vector_literal

# A cached search is used until something it depends on changes: rights (users, groups, object grants, keys), the
# bases' settings and statistics, their documents and their chunks.
SEARCH_DEPENDS_ON = [caching.AUTH, *(caching.model_namespace(m) for m in (KnowledgeBase, Document, Chunk))]


@dataclass
class Filters:
    document_ids: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    mime_types: list[str] = field(default_factory=list)
    created_after: datetime | None = None
    created_before: datetime | None = None

    def sql(self, alias: str = "c") -> tuple[str, dict[str, Any]]:
        """An SQL condition on chunk ``alias`` (empty when there is no filter)."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        doc_parts: list[str] = []
        if self.document_ids:
            parts.append(f"{alias}.document_id = ANY(%(f_docs)s)")
            params["f_docs"] = list(self.document_ids)
        if self.tags:
            doc_parts.append("d.tags ?| %(f_tags)s")
            params["f_tags"] = list(self.tags)
        if self.mime_types:
            doc_parts.append("d.mime_type = ANY(%(f_mimes)s)")
            params["f_mimes"] = list(self.mime_types)
        if self.created_after:
            doc_parts.append("d.created_at >= %(f_after)s")
            params["f_after"] = self.created_after
        if self.created_before:
            doc_parts.append("d.created_at < %(f_before)s")
            params["f_before"] = self.created_before
        if doc_parts:
            # Fixed SQL only; every filter value is a bound parameter (bandit B608 is a false positive here).
            parts.append(
                f"EXISTS (SELECT 1 FROM rag_document d WHERE d.id = {alias}.document_id AND {' AND '.join(doc_parts)})"  # nosec B608
            )
        return " AND ".join(parts), params

    @property
    def empty(self) -> bool:
        return not (self.document_ids or self.tags or self.mime_types or self.created_after or self.created_before)


@dataclass
class Hit:
    chunk_id: int
    score: float
    lexical_score: float | None = None
    vector_score: float | None = None
    fused_score: float | None = None
    lexical_rank: int | None = None
    vector_rank: int | None = None
    knowledge_base_id: int = 0
    knowledge_base: str = ""
    document_id: int = 0
    document_title: str = ""
    ordinal: int = 0
    heading: str = ""
    page: int | None = None
    text: str = ""
    snippet: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # every field is a scalar: no deep copy needed


# --- per-base rankers -----------------------------------------------------------------------------------------------

_QUERY_TERMS = """
SELECT t.lexeme, t.df
FROM (SELECT DISTINCT unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(query)s))) AS lexeme) q
JOIN rag_term t ON t.knowledge_base_id = %(kb)s AND t.lexeme = q.lexeme
ORDER BY t.df, t.lexeme
"""

_BM25 = """
WITH terms AS MATERIALIZED (SELECT * FROM unnest(%(lexemes)s::text[], %(idfs)s::float8[]) AS t(lexeme, idf))
SELECT p.chunk_id,
       sum(terms.idf * p.tf * (%(k1)s + 1)
           / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.chunk_length / %(avgdl)s))) AS score
FROM terms CROSS JOIN LATERAL (
    SELECT p.chunk_id, p.tf, p.chunk_length FROM rag_posting p
    WHERE p.knowledge_base_id = %(kb)s AND p.lexeme = terms.lexeme
) p
{restrict}
GROUP BY p.chunk_id
ORDER BY score DESC, p.chunk_id
LIMIT %(limit)s
"""

# The rest of the BM25 sum (the frequent terms) for a bounded set of candidate chunks, read from their tsvectors.
_BM25_REST = """
SELECT c.id,
       sum(t.idf * coalesce(array_length(u.positions, 1), 1) * (%(k1)s + 1)
           / (coalesce(array_length(u.positions, 1), 1)
              + %(k1)s * (1 - %(b)s + %(b)s * c.lexeme_count / %(avgdl)s)))
FROM rag_chunk c CROSS JOIN LATERAL unnest(c.search_vector) u
JOIN unnest(%(lexemes)s::text[], %(idfs)s::float8[]) AS t(lexeme, idf) ON t.lexeme = u.lexeme
WHERE c.id = ANY(%(ids)s)
GROUP BY c.id
"""


def _bm25(
    kb: KnowledgeBase, query: str, limit: int, filters: Filters, *, exact: bool = False
) -> list[tuple[int, float]]:
    """BM25 with OR semantics. Candidates come from the rarest query terms, walking their postings up to a budget
    (RAG_BM25_POSTINGS_BUDGET); the frequent terms, whose postings could cover most of the base, are then added to
    the candidates' scores from their own tsvectors. The scores returned are the full BM25 of every query term;
    a chunk matching only very frequent terms is found only when no rarer term matches enough chunks."""
    if kb.chunk_count <= 0:
        return []
    n = float(kb.chunk_count)
    text = lexical_text(query, kb.language)
    common: dict[str, Any] = {"kb": kb.pk, "config": kb.text_search_config, "query": text}
    with connection.cursor() as cursor:
        cursor.execute(_QUERY_TERMS, common)
        terms = [(lexeme, int(df)) for lexeme, df in cursor.fetchall()]
    if not terms:
        return []
    budget, used, split = conf.bm25_postings_budget(), 0, 0
    for _, df in terms:
        if split and used + df > budget:
            break
        used += df
        split += 1
    idf = {lexeme: math.log(1 + (n - df + 0.5) / (df + 0.5)) for lexeme, df in terms}
    selective, frequent = terms[:split], terms[split:]
    condition, params = filters.sql("c")
    if exact:
        phrase = "c.search_vector @@ websearch_to_tsquery(%(config)s::regconfig, %(query)s)"
        condition = " AND ".join(part for part in (condition, phrase) if part)
    # ``condition`` is Filters.sql's fixed SQL with bound values, never user text (bandit B608 is a false positive).
    restrict = f"WHERE EXISTS (SELECT 1 FROM rag_chunk c WHERE c.id = p.chunk_id AND {condition})" if condition else ""  # nosec B608
    scoring = {
        "avgdl": max(kb.lexeme_total / kb.chunk_count, 1.0),
        "k1": float(kb.bm25_k1),
        "b": float(kb.bm25_b),
    }
    params.update(common, **scoring)
    params.update(
        lexemes=[lexeme for lexeme, _ in selective],
        idfs=[idf[lexeme] for lexeme, _ in selective],
        limit=limit if not frequent else max(limit * 4, 200),
    )
    with connection.cursor() as cursor:
        cursor.execute(_BM25.format(restrict=restrict), params)
        rows = {row[0]: float(row[1]) for row in cursor.fetchall()}
        if frequent and rows:
            cursor.execute(
                _BM25_REST,
                {
                    **scoring,
                    "ids": list(rows),
                    "lexemes": [lexeme for lexeme, _ in frequent],
                    "idfs": [idf[lexeme] for lexeme, _ in frequent],
                },
            )
            for chunk_id, extra in cursor.fetchall():
                rows[chunk_id] += float(extra)
    ranked = sorted(rows.items(), key=lambda row: (-row[1], row[0]))
    return ranked[:limit]


def _or_tsquery_sql() -> str:
    """SQL for an OR tsquery of the query's lexemes (natural-language queries match any of their words)."""
    return (
        "(SELECT to_tsquery('simple', coalesce(string_agg(quote_literal(lexeme), ' | '), '')) "
        "FROM unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(query)s))) AS lexeme)"
    )


def _ts_rank(kb: KnowledgeBase, query: str, limit: int, filters: Filters) -> list[tuple[int, float]]:
    condition, params = filters.sql("c")
    params.update(kb=kb.pk, config=kb.text_search_config, query=lexical_text(query, kb.language), limit=limit)
    # Fixed SQL plus Filters.sql's condition; the query and filter values are bound parameters (bandit B608).
    sql = (
        "SELECT c.id, ts_rank(c.search_vector, q.tsq) AS score "  # nosec B608
        f"FROM rag_chunk c, (SELECT {_or_tsquery_sql()} AS tsq) q "
        f"WHERE c.knowledge_base_id = %(kb)s AND c.search_vector @@ q.tsq {'AND ' + condition if condition else ''} "
        "ORDER BY score DESC, c.id LIMIT %(limit)s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def vector_sql(kb: KnowledgeBase, filters: Filters) -> tuple[str, dict[str, Any]]:
    """k-NN on the base's HNSW index. With filters, the filtered chunks are scanned exactly instead: an HNSW scan
    filters after the graph walk and could return fewer than k rows for a selective filter."""
    dim, pk = int(kb.embedding_dimension), int(kb.pk)
    condition, params = filters.sql("c")
    distance = f"c.embedding::vector({dim}) <=> %(vec)s::vector({dim})"
    # The base id is written as a literal so the planner matches the base's partial HNSW index.
    where = f"c.knowledge_base_id = {pk} AND c.embedding IS NOT NULL {'AND ' + condition if condition else ''}"
    # Only ints (dim, pk) and Filters.sql's fixed SQL are interpolated; values are bound (bandit B608: false positive).
    if condition:
        sql = (
            f"WITH c AS MATERIALIZED (SELECT c.id, c.embedding FROM rag_chunk c WHERE {where}) "  # nosec B608
            f"SELECT c.id, 1 - ({distance}) AS score FROM c ORDER BY {distance} LIMIT %(limit)s"
        )
    else:
        sql = (
            f"SELECT c.id, 1 - ({distance}) AS score FROM rag_chunk c WHERE {where} ORDER BY {distance} LIMIT %(limit)s"  # nosec B608
        )
    return sql, params


def _vector(kb: KnowledgeBase, query: str, limit: int, filters: Filters, ef_search: int) -> list[tuple[int, float]]:
    if kb.chunk_count <= 0:
        return []
    embedder = get_embedder(kb.embedding_backend, kb.embedding_model, kb.embedding_dimension)
    vector = embedder.embed_query(query)
    if not any(vector):  # nothing embeddable (only stop words, say): no direction, so no nearest neighbours
        return []
    sql, params = vector_sql(kb, filters)
    params.update(vec=vector_literal(vector), limit=limit)
    ef = min(max(int(ef_search), limit, 10), 1000)
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {ef}")
            cursor.execute(sql, params)
        else:
            # One round trip: outside a transaction the two statements of one query string run as one implicit
            # transaction, so SET LOCAL applies to the search and ends with it.
            cursor.execute(f"SET LOCAL hnsw.ef_search = {ef}; {sql}", params)
            cursor.nextset()
        # a chunk whose text embedded to the zero vector has no cosine similarity (NaN): it is not a neighbour
        rows = [(row[0], float(row[1])) for row in cursor.fetchall() if row[1] is not None and math.isfinite(row[1])]
    rows.sort(key=lambda row: (-row[1], row[0]))
    return rows


# --- search ---------------------------------------------------------------------------------------------------------


def _rrf(
    lexical: list[tuple[int, float]],
    vector: list[tuple[int, float]],
    kb_of: dict[int, int],
    weights: dict[int, KnowledgeBase],
) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranked, attr in ((lexical, "lexical_weight"), (vector, "vector_weight")):
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            kb = weights[kb_of[chunk_id]]
            fused[chunk_id] = fused.get(chunk_id, 0.0) + getattr(kb, attr) / (kb.rrf_k + rank)
    return fused


def rank(
    kbs: list[KnowledgeBase],
    query: str,
    *,
    mode: str = SearchMode.HYBRID,
    k: int = 10,
    filters: Filters | None = None,
    candidates: int | None = None,
    ef_search: int | None = None,
) -> list[Hit]:
    """Ranked hits (scores only, no text) over already-authorised bases."""
    filters = filters or Filters()
    pool = candidates or max(k * 4, 50)
    ef = ef_search or conf.hnsw_ef_search()
    lexical: list[tuple[int, float]] = []
    vector: list[tuple[int, float]] = []
    kb_of: dict[int, int] = {}
    by_id = {kb.pk: kb for kb in kbs}
    for kb in kbs:
        if mode in (SearchMode.HYBRID, SearchMode.LEXICAL, SearchMode.EXACT):
            rows = _bm25(kb, query, pool if mode == SearchMode.HYBRID else k, filters, exact=mode == SearchMode.EXACT)
        elif mode == SearchMode.TS_RANK:
            rows = _ts_rank(kb, query, k, filters)
        else:
            rows = []
        lexical.extend(rows)
        kb_of.update((chunk_id, kb.pk) for chunk_id, _ in rows)
        if mode in (SearchMode.HYBRID, SearchMode.VECTOR):
            rows = _vector(kb, query, pool if mode == SearchMode.HYBRID else k, filters, ef)
            vector.extend(rows)
            kb_of.update((chunk_id, kb.pk) for chunk_id, _ in rows)
    lexical.sort(key=lambda row: (-row[1], row[0]))
    vector.sort(key=lambda row: (-row[1], row[0]))
    lex_rank = {chunk_id: (i, score) for i, (chunk_id, score) in enumerate(lexical, start=1)}
    vec_rank = {chunk_id: (i, score) for i, (chunk_id, score) in enumerate(vector, start=1)}
    if mode == SearchMode.HYBRID:
        fused = _rrf(lexical, vector, kb_of, by_id)
        order = sorted(fused, key=lambda cid: (-fused[cid], lex_rank.get(cid, (10**9,))[0], cid))
        scores = fused
    elif mode == SearchMode.VECTOR:
        order, scores = [cid for cid, _ in vector], dict(vector)
    else:
        order, scores = [cid for cid, _ in lexical], dict(lexical)
    hits = []
    for chunk_id in order[:k]:
        lex, vec = lex_rank.get(chunk_id), vec_rank.get(chunk_id)
        hits.append(
            Hit(
                chunk_id=chunk_id,
                score=round(scores[chunk_id], 6),
                lexical_score=round(lex[1], 6) if lex else None,
                vector_score=round(vec[1], 6) if vec else None,
                fused_score=round(scores[chunk_id], 6) if mode == SearchMode.HYBRID else None,
                lexical_rank=lex[0] if lex else None,
                vector_rank=vec[0] if vec else None,
                knowledge_base_id=kb_of[chunk_id],
            )
        )
    return hits


_DETAILS = """
SELECT c.id, c.ordinal, c.heading, c.page, c.text, d.id, d.title, kb.name,
       CASE WHEN %(highlight)s THEN ts_headline(%(config)s::regconfig, c.text, q.tsq, %(headline)s) ELSE '' END
FROM rag_chunk c JOIN rag_document d ON d.id = c.document_id JOIN rag_knowledgebase kb ON kb.id = c.knowledge_base_id,
     (SELECT {tsq} AS tsq) q
WHERE c.id = ANY(%(ids)s)
"""

# ts_headline marks matches with two control characters, which text normalisation removes from every chunk, so the
# snippet can be HTML-escaped first and the marks turned into <mark> tags afterwards.
_START, _STOP = "\x02", "\x03"
_HEADLINE = f'StartSel={_START}, StopSel={_STOP}, MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'
_CJK_WORD = re.compile(f"[{CJK}]")


def _marked_html(text: str) -> str:
    """Snippet text HTML-escaped, with the match marks as <mark> tags: safe to render as HTML."""
    return html.escape(text, quote=False).replace(_START, "<mark>").replace(_STOP, "</mark>")


def cjk_snippet(text: str, query: str, width: int = 120) -> str:
    """A highlight snippet for Chinese text (ts_headline needs spaces between words): the query segmented with
    jieba, its words of two or more characters (or Latin words) marked, in a window around the first match."""
    words = {w for w in segment(query).split() if len(w) > 1 or not _CJK_WORD.match(w)}
    words = {w for w in words if any(ch.isalnum() for ch in w)}
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    first = pattern.search(text) if words else None
    start = max(0, first.start() - width // 5) if first else 0
    window = text[start : start + width]
    marked = pattern.sub(lambda m: f"{_START}{m.group(0)}{_STOP}", window) if words else window
    return ("… " if start else "") + _marked_html(marked) + (" …" if start + width < len(text) else "")


def _attach_details(hits: list[Hit], kbs: list[KnowledgeBase], query: str) -> None:
    by_kb: dict[int, list[Hit]] = {}
    for hit in hits:
        by_kb.setdefault(hit.knowledge_base_id, []).append(hit)
    kb_by_id = {kb.pk: kb for kb in kbs}
    for kb_id, group in by_kb.items():
        kb = kb_by_id[kb_id]
        params: dict[str, Any] = {
            "ids": [hit.chunk_id for hit in group],
            "config": kb.text_search_config,
            "query": lexical_text(query, kb.language),
            "highlight": kb.language != "zh",
            "headline": _HEADLINE,
        }
        with connection.cursor() as cursor:
            cursor.execute(_DETAILS.format(tsq=_or_tsquery_sql()), params)
            rows = {row[0]: row for row in cursor.fetchall()}
        for hit in group:
            row = rows[hit.chunk_id]
            hit.ordinal, hit.heading, hit.page, hit.text = row[1], row[2], row[3], row[4]
            hit.document_id, hit.document_title, hit.knowledge_base = row[5], row[6], row[7]
            hit.snippet = _marked_html(row[8]) if params["highlight"] else cjk_snippet(hit.text, query)


def search(
    *,
    user: Any,
    query: str,
    knowledge_base_ids: list[int] | None = None,
    mode: str = SearchMode.HYBRID,
    k: int = 10,
    filters: Filters | None = None,
    ef_search: int | None = None,
    max_k: int | None = None,
) -> list[Hit]:
    """Search the bases ``user`` may read (all of them, or the ones named). A named base the caller may not read
    is a 404, exactly like one that does not exist."""
    started = time.perf_counter()
    query = (query or "").strip()
    if not query:
        raise ValidationFailed(
            gettext("The query is empty."), code="empty_query", details={"query": [gettext("This field is required.")]}
        )
    limit = max_k or conf.max_k()
    if not 1 <= int(k) <= limit:
        raise ValidationFailed(
            gettext("k must be between 1 and %(limit)s.") % {"limit": limit},
            details={"k": [gettext("Must be between 1 and %(limit)s.") % {"limit": limit}]},
        )
    if mode not in SearchMode.values:
        raise ValidationFailed(
            gettext("Unknown search mode."),
            details={"mode": [gettext("Use one of %(values)s.") % {"values": SearchMode.values}]},
        )
    requested = sorted({int(pk) for pk in knowledge_base_ids}) if knowledge_base_ids else []
    key = (
        "rag:search:"
        + hashlib.sha256(
            json.dumps(
                [user.pk, query, requested, mode, int(k), asdict(filters) if filters else None, ef_search], default=str
            ).encode()
        ).hexdigest()
    )
    hits = caching.cached(
        key,
        SEARCH_DEPENDS_ON,
        lambda: _search(
            user=user, query=query, requested=requested, mode=mode, k=int(k), filters=filters, ef_search=ef_search
        ),
    )
    metrics.SEARCHES.labels(mode=mode).inc()
    metrics.SEARCH_LATENCY.observe(time.perf_counter() - started)
    return hits


def record_cached_search(mode: str | None, seconds: float) -> None:
    """Count a search answered from a cached response (the API's repeated searches) like one run here."""
    metrics.SEARCHES.labels(mode=mode if mode in SearchMode.values else SearchMode.HYBRID).inc()
    metrics.SEARCH_LATENCY.observe(seconds)


def _search(
    *, user: Any, query: str, requested: list[int], mode: str, k: int, filters: Filters | None, ef_search: int | None
) -> list[Hit]:
    kbs = knowledge_bases_readable_list(user)
    if requested:
        wanted = set(requested)
        kbs = [kb for kb in kbs if kb.pk in wanted]
        if len(kbs) != len(wanted):
            raise NotFound(
                gettext("Knowledge base not found."),
                details={"knowledge_bases": sorted(wanted - {kb.pk for kb in kbs})},
            )
    hits = rank(kbs, query, mode=mode, k=k, filters=filters, ef_search=ef_search)
    _attach_details(hits, kbs, query)
    return hits
