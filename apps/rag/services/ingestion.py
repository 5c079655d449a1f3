"""Batch ingestion: many files stored as documents in one transaction, and many documents extracted, chunked,
embedded and indexed together. The number of SQL statements follows the batch, not the number of documents or
chunks (the per-document work left is writing the stored file and its audit entry)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import ApplicationError, Conflict
from apps.core.services import audit_record, model_snapshot, snapshot_diff
from apps.resources.choices import Meter
from apps.resources.services.metering import meter_record
from apps.resources.services.quotas import quota_reserve, quota_settle

from .. import conf, metrics
from ..choices import DocumentSource, DocumentStatus
from ..chunking import ChunkPiece, chunk_sections
from ..embeddings import get_embedder
from ..extraction import ExtractionError, extract
from ..models import Document, KnowledgeBase
from . import hnsw, index
from .files import file_check, safe_name

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A document whose text is chunked and waiting for its embeddings."""

    document: Document
    pieces: list[ChunkPiece]
    metadata: dict[str, Any] = field(default_factory=dict)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    logger.exception("Ingestion failed")
    return f"Unexpected error: {exc.__class__.__name__}: {exc}"


def _fail(documents: Sequence[Document], reason: str) -> None:
    Document.objects.filter(pk__in=[d.pk for d in documents]).update(
        status=DocumentStatus.FAILED, error=reason[:2000], updated_at=timezone.now()
    )
    for document in documents:
        metrics.INGESTION_FAILURES.inc()
        audit_record(action=AuditAction.ACTION, target=document, message=f"Ingestion failed: {reason}"[:2000])


def _claim(document_ids: Sequence[int]) -> list[Document]:
    """Mark the documents processing (one statement) and return them; a document another worker is processing
    (and not stuck) is left alone."""
    now = timezone.now()
    with transaction.atomic():
        documents = list(
            Document.objects.select_for_update(of=("self",))
            .select_related("knowledge_base")
            .filter(pk__in=list(document_ids))
            .order_by("pk")
        )
        stale = now - timedelta(minutes=conf.stuck_minutes())
        todo = [d for d in documents if not (d.status == DocumentStatus.PROCESSING and d.updated_at > stale)]
        if todo:
            Document.objects.filter(pk__in=[d.pk for d in todo]).update(
                status=DocumentStatus.PROCESSING, error="", chunks_done=0, attempts=F("attempts") + 1, updated_at=now
            )
    return todo


def _prepare(document: Document) -> Prepared:
    kb = document.knowledge_base
    try:
        with document.file.open("rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise ExtractionError(gettext("The stored file is missing."), code="file_missing") from exc
    sections = extract(data, mime_type=document.mime_type, filename=document.original_name)
    pieces = chunk_sections(sections, size=kb.chunk_size, overlap=kb.chunk_overlap)
    pages = sorted({p.page for p in sections if p.page is not None})
    headings = sorted({s.heading for s in sections if s.heading})[:200]
    metadata = {
        **document.metadata,
        "pages": len(pages) or None,
        "sections": len(sections),
        "headings": headings,
        "characters": sum(len(s.text) for s in sections),
    }
    return Prepared(document, pieces, metadata)


def _set_counts(rows: Sequence[tuple[int, int]], column: str) -> None:
    """Set ``chunks_done`` or ``chunks_total`` of several documents in one statement."""
    if not rows:
        return
    with connection.cursor() as cursor:
        # ``column`` is one of two literal names passed by this module's callers (bandit B608: false positive).
        cursor.execute(
            f"UPDATE rag_document d SET {column} = v.n, updated_at = now() "  # nosec B608
            "FROM unnest(%s::bigint[], %s::int[]) AS v(id, n) WHERE d.id = v.id",
            [[pk for pk, _ in rows], [n for _, n in rows]],
        )


def _embed(kb: KnowledgeBase, prepared: Sequence[Prepared]) -> np.ndarray:
    """Embeddings of every chunk of the batch, in batches of RAG_EMBED_BATCH_SIZE texts; when there is more than
    one batch, the documents' progress (chunks done) is updated after each."""
    texts = [piece.text for item in prepared for piece in item.pieces]
    embedder = get_embedder(kb.embedding_backend, kb.embedding_model, kb.embedding_dimension)
    size = conf.embed_batch_size() if kb.embedding_backend != "hashing" else max(conf.embed_batch_size(), 4096)
    if len(texts) <= size:
        return embedder.embed(texts) if texts else np.zeros((0, kb.embedding_dimension), dtype=np.float32)
    ends, total = [], 0
    for item in prepared:
        ends.append((item.document.pk, total, total + len(item.pieces)))
        total += len(item.pieces)
    vectors = []
    for start in range(0, len(texts), size):
        vectors.append(embedder.embed(texts[start : start + size]))
        done = min(start + size, len(texts))
        _set_counts(
            [(pk, min(done, end) - first) for pk, first, end in ends if first < done and end > start], "chunks_done"
        )
    return np.vstack(vectors)


def _index(kb: KnowledgeBase, prepared: Sequence[Prepared], vectors: np.ndarray) -> None:
    """Replace the documents' chunks and mark them ready, in one transaction."""
    ids = [item.document.pk for item in prepared]
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The base's embedding settings, held until commit: a re-index (which locks the row for update) waits
            # for this insert, or this insert sees that the vectors it brings are for the previous model.
            cursor.execute(
                "SELECT embedding_backend, embedding_model, embedding_dimension FROM rag_knowledgebase "
                "WHERE id = %s FOR KEY SHARE",
                [kb.pk],
            )
            current = cursor.fetchone()
            if current != (kb.embedding_backend, kb.embedding_model, kb.embedding_dimension):
                raise Conflict(
                    gettext(
                        "The knowledge base was deleted or re-indexed with another embedding model while this document "
                        "was being processed; re-process it."
                    ),
                    code="embedding_changed",
                )
            cursor.execute("SELECT DISTINCT document_id FROM rag_chunk WHERE document_id = ANY(%s)", [ids])
            indexed = [row[0] for row in cursor.fetchall()]
        removed = 0
        for document_id in indexed:  # re-processing: the previous chunks go first
            removed += index.chunks_delete(kb_id=kb.pk, document_id=document_id)
        index.chunks_insert_many(
            kb=kb, documents=[(item.document.pk, item.pieces) for item in prepared], vectors=vectors
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE rag_document d SET status = %s, chunks_done = v.n, chunks_total = v.n, processed_at = %s, "
                "updated_at = %s, metadata = v.metadata "
                "FROM unnest(%s::bigint[], %s::int[], %s::jsonb[]) AS v(id, n, metadata) WHERE d.id = v.id",
                [
                    DocumentStatus.READY,
                    now,
                    now,
                    ids,
                    [len(item.pieces) for item in prepared],
                    [json.dumps(item.metadata) for item in prepared],
                ],
            )
        # the chunks are storage the knowledge base's owner holds (a level: re-processing counts the difference)
        meter_record(
            meter=Meter.STORAGE_CHUNKS, quantity=sum(len(item.pieces) for item in prepared) - removed, user=kb.owner_id
        )


def documents_process(
    *, document_ids: Sequence[int], load: hnsw.BulkLoad | None = None, remaining_documents: int = 0
) -> list[Document]:
    """Extract, chunk, embed and index several documents together (one embedding pass and one index statement per
    knowledge base). A document whose file cannot be read or extracted fails alone with a readable reason; a
    failure while embedding or indexing fails the documents of that base, and leaves their previous chunks intact.

    ``load`` is a bulk load of one base spanning several calls (``rag_ingest``), with ``remaining_documents`` still
    to come after this call; without one, each base's documents are a load of their own. Either way a load large
    relative to its base is inserted with the base's HNSW index dropped and built again afterwards (hnsw.py); a
    small one (a single upload into a big base) updates the index incrementally.
    Returns the documents (refreshed) in the order asked."""
    claimed = _claim(document_ids)
    prepared_by_kb: dict[int, list[Prepared]] = {}
    for document in claimed:
        try:
            item = _prepare(document)
        except Exception as exc:
            _fail([document], _reason(exc))
        else:
            prepared_by_kb.setdefault(document.knowledge_base_id, []).append(item)
    for group in prepared_by_kb.values():
        kb = group[0].document.knowledge_base
        chunks = sum(len(item.pieces) for item in group)
        try:
            _set_counts([(item.document.pk, len(item.pieces)) for item in group], "chunks_total")
            vectors = _embed(kb, group)
            if load is not None and load.kb.pk == kb.pk:
                load.add(chunks=chunks, documents=len(group), remaining_documents=remaining_documents)
                _index(kb, group, vectors)
            else:
                with hnsw.hnsw_bulk_load(kb) as own:
                    own.add(chunks=chunks, documents=len(group))
                    _index(kb, group, vectors)
        except Exception as exc:
            _fail([item.document for item in group], _reason(exc))
        else:
            metrics.DOCUMENTS_INGESTED.inc(len(group))
            metrics.CHUNKS_INGESTED.inc(chunks)
    by_id = Document.objects.select_related("knowledge_base").in_bulk(list(document_ids))
    return [by_id[pk] for pk in document_ids if pk in by_id]


@dataclass
class BatchUpload:
    filename: str
    document: Document | None = None
    created: bool = False
    message: str = ""


def documents_upload_many(
    *,
    kb: KnowledgeBase,
    files: Sequence[tuple[str, bytes]],
    uploaded_by: Any = None,
    tags: list[str] | None = None,
    source: str = DocumentSource.UPLOAD,
) -> list[BatchUpload]:
    """Store several files as pending documents in one transaction (one insert for the rows, one audit entry per
    document) without enqueueing them; the caller processes them with ``documents_process``. Each file is checked
    as in ``document_upload``: a bad file gets a message and no document, identical content (already in the base
    or earlier in the batch) returns the existing document."""
    tags = sorted({str(tag).strip() for tag in (tags or []) if str(tag).strip()})
    results = [BatchUpload(filename) for filename, _ in files]
    digests: dict[str, int] = {}
    fresh: list[tuple[int, str, bytes, str]] = []
    for n, (filename, data) in enumerate(files):
        try:
            mime = file_check(filename=filename, data=data)
        except ApplicationError as exc:
            results[n].message = exc.message
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in digests:
            results[n].message = f"Identical content appears earlier in this batch ({files[digests[digest]][0]})."
            continue
        digests[digest] = n
        fresh.append((n, filename, data, mime))
    existing = {d.sha256: d for d in Document.objects.filter(knowledge_base=kb, sha256__in=list(digests))}
    user = uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None
    stored: list[str] = []
    try:
        with transaction.atomic():
            documents = []
            for n, filename, data, mime in fresh:
                digest = hashlib.sha256(data).hexdigest()
                if digest in existing:
                    results[n].document = existing[digest]
                    results[n].message = f"Identical content is already in this knowledge base as '{existing[digest]}'."
                    continue
                document = Document(
                    knowledge_base=kb,
                    title=(os.path.splitext(os.path.basename(filename))[0] or "Untitled")[:300],
                    source=source,
                    original_name=os.path.basename(filename)[:255],
                    mime_type=mime,
                    size=len(data),
                    sha256=digest,
                    tags=tags,
                    uploaded_by=user,
                )
                document.file.save(safe_name(filename), ContentFile(data), save=False)
                stored.append(cast(str, document.file.name))  # set by file.save()
                documents.append((n, document))
            storage: dict[str, int] = {
                Meter.STORAGE_DOCUMENTS: len(documents),
                Meter.STORAGE_BYTES: sum(document.size for _, document in documents),
            }
            hold = quota_reserve(user=kb.owner_id, amounts=storage, purpose="rag.ingest")  # the whole batch fits
            Document.objects.bulk_create([document for _, document in documents])
            if documents:
                KnowledgeBase.objects.filter(pk=kb.pk).update(document_count=F("document_count") + len(documents))
            quota_settle(hold=hold, amounts=storage)
            for n, document in documents:
                audit_record(
                    action=AuditAction.CREATE,
                    actor=uploaded_by,
                    target=document,
                    changes=snapshot_diff({}, model_snapshot(document)),
                )
                results[n].document, results[n].created, results[n].message = document, True, "Stored."
    except Exception:
        for name in stored:
            default_storage.delete(name)
        raise
    metrics.DOCUMENTS_UPLOADED.inc(sum(1 for r in results if r.created))
    return results
