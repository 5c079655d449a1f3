"""SQL that keeps the search structures of a knowledge base: chunk rows with their tsvector, the postings and term
document frequencies BM25 reads, and the base's chunk statistics (the HNSW index is in hnsw.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import F

from apps.core import caching

from ..chunking import ChunkPiece
from ..lexical import lexical_text
from ..models import Chunk, KnowledgeBase
from ..vectors import vector_literal
from .hnsw import hnsw_drop

_INSERT = """
WITH input AS (
    SELECT t.document_id, t.ordinal, t.text, t.token_count, t.heading, t.page, t.embedding,
           to_tsvector(%(config)s::regconfig, t.lex) AS tsv
    FROM unnest(%(documents)s::bigint[], %(ordinals)s::int[], %(texts)s::text[], %(tokens)s::int[],
                %(headings)s::text[], %(pages)s::int[], %(embeddings)s::text[], %(lex)s::text[])
         AS t(document_id, ordinal, text, token_count, heading, page, embedding, lex)
), inserted AS (
    INSERT INTO rag_chunk (knowledge_base_id, document_id, ordinal, text, token_count, heading, page, embedding,
                           search_vector, lexeme_count)
    SELECT %(kb)s, document_id, ordinal, text, token_count, heading, page, embedding::vector, tsv,
           (SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0) FROM unnest(tsv) u)
    FROM input
    RETURNING id, search_vector, lexeme_count
), postings AS (
    INSERT INTO rag_posting (knowledge_base_id, chunk_id, lexeme, tf, chunk_length)
    SELECT %(kb)s, i.id, u.lexeme, coalesce(array_length(u.positions, 1), 1), i.lexeme_count
    FROM inserted i, unnest(i.search_vector) u
    RETURNING lexeme
), terms AS (
    INSERT INTO rag_term (knowledge_base_id, lexeme, df)
    SELECT %(kb)s, lexeme, count(*) FROM postings GROUP BY lexeme ORDER BY lexeme
    ON CONFLICT (knowledge_base_id, lexeme) DO UPDATE SET df = rag_term.df + EXCLUDED.df
)
UPDATE rag_knowledgebase
SET chunk_count = chunk_count + (SELECT count(*) FROM inserted),
    lexeme_total = lexeme_total + (SELECT coalesce(sum(lexeme_count), 0) FROM inserted)
WHERE id = %(kb)s
"""


def chunks_insert_many(
    *, kb: KnowledgeBase, documents: Sequence[tuple[int, Sequence[ChunkPiece]]], vectors: np.ndarray
) -> None:
    """Insert the chunks of several documents of one base (``vectors`` holds their embeddings in the same order)
    with their postings, term frequencies and the base's statistics, all in one statement. Call inside a
    transaction."""
    rows = [(document_id, ordinal, piece) for document_id, pieces in documents for ordinal, piece in enumerate(pieces)]
    if not rows:
        return
    params: dict[str, Any] = {
        "config": kb.text_search_config,
        "kb": kb.pk,
        "documents": [document_id for document_id, _, _ in rows],
        "ordinals": [ordinal for _, ordinal, _ in rows],
        "texts": [p.text for _, _, p in rows],
        "tokens": [p.token_count for _, _, p in rows],
        "headings": [p.heading[:500] for _, _, p in rows],
        "pages": [p.page for _, _, p in rows],
        "embeddings": [vector_literal(v) for v in vectors],
        "lex": [lexical_text(p.text, kb.language) for _, _, p in rows],
    }
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, params)
    caching.bump_models(Chunk)  # cached searches see the new chunks


def chunks_insert(*, kb: KnowledgeBase, document_id: int, pieces: Sequence[ChunkPiece], vectors: np.ndarray) -> None:
    """Insert one document's chunks (see chunks_insert_many)."""
    chunks_insert_many(kb=kb, documents=[(document_id, pieces)], vectors=vectors)


def chunks_delete(*, kb_id: int, document_id: int) -> int:
    """Remove a document's chunks and postings and take them out of the statistics; returns chunks removed.
    Every statement goes through an index (postings by chunk, terms by lexeme), so the cost follows the document,
    not the size of the base."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH gone AS (
                DELETE FROM rag_posting
                WHERE chunk_id IN (SELECT id FROM rag_chunk WHERE document_id = %(doc)s)
                RETURNING lexeme
            ), counts AS (SELECT lexeme, count(*) AS n FROM gone GROUP BY lexeme)
            UPDATE rag_term t SET df = t.df - counts.n FROM counts
            WHERE t.knowledge_base_id = %(kb)s AND t.lexeme = counts.lexeme
            RETURNING t.lexeme, t.df
            """,
            {"doc": document_id, "kb": kb_id},
        )
        emptied = [lexeme for lexeme, df in cursor.fetchall() if df <= 0]
        if emptied:
            cursor.execute(
                "DELETE FROM rag_term WHERE knowledge_base_id = %s AND lexeme = ANY(%s) AND df <= 0", [kb_id, emptied]
            )
        cursor.execute(
            "WITH gone AS (DELETE FROM rag_chunk WHERE document_id = %s RETURNING lexeme_count) "
            "SELECT count(*), coalesce(sum(lexeme_count), 0) FROM gone",
            [document_id],
        )
        removed, total = cursor.fetchone()
    if removed:
        caching.bump_models(Chunk)
        KnowledgeBase.objects.filter(pk=kb_id).update(
            chunk_count=F("chunk_count") - removed, lexeme_total=F("lexeme_total") - total
        )
    return int(removed)


def knowledge_base_purge(*, kb: KnowledgeBase) -> None:
    """Remove every chunk, posting and term of a base (before the base itself is deleted)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM rag_posting WHERE knowledge_base_id = %s", [kb.pk])
        cursor.execute("DELETE FROM rag_term WHERE knowledge_base_id = %s", [kb.pk])
        cursor.execute("DELETE FROM rag_chunk WHERE knowledge_base_id = %s", [kb.pk])
    caching.bump_models(Chunk)
    hnsw_drop(kb)


def embeddings_update(*, chunk_ids: Sequence[int], vectors: np.ndarray) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE rag_chunk c SET embedding = v.embedding::vector "
            "FROM unnest(%s::bigint[], %s::text[]) AS v(id, embedding) WHERE c.id = v.id",
            [list(chunk_ids), [vector_literal(v) for v in vectors]],
        )
    caching.bump_models(Chunk)
