"""Writes on documents: upload (validated and deduplicated by content), processing (extract, chunk, embed, index in
one transaction), re-processing, deletion, and the consistency job."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any, cast

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.queueing import enqueue_on_commit
from apps.core.services import audit_record, model_snapshot, snapshot_diff
from apps.resources.choices import Meter
from apps.resources.services.metering import usage_report
from apps.resources.services.quotas import quota_reserve, quota_settle

from .. import conf, metrics
from ..choices import DocumentSource, DocumentStatus
from ..fetching import fetch_url
from ..models import Document, KnowledgeBase
from . import hnsw, index
from .files import file_check, file_delete_on_commit, safe_name
from .ingestion import documents_process

logger = logging.getLogger(__name__)


@dataclass
class UploadResult:
    document: Document
    created: bool
    message: str


def document_upload(
    *,
    kb: KnowledgeBase,
    filename: str,
    data: bytes,
    uploaded_by: Any = None,
    title: str = "",
    tags: list[str] | None = None,
    source: str = DocumentSource.UPLOAD,
    metadata: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> UploadResult:
    """Store a file as a new pending document and enqueue its ingestion. The file is checked first (size, type,
    readable text), so a bad file is a 400 and nothing is stored. Identical content already in the base is a no-op
    that returns the existing document."""
    mime = file_check(filename=filename, data=data)
    return _document_store(
        kb=kb,
        filename=filename,
        data=data,
        mime=mime,
        uploaded_by=uploaded_by,
        title=title,
        tags=tags,
        source=source,
        metadata=metadata,
        enqueue=enqueue,
    )


def documents_upload(
    *,
    kb: KnowledgeBase,
    files: Sequence[tuple[str, bytes | IO[bytes]]],
    uploaded_by: Any = None,
    tags: list[str] | None = None,
    source: str = DocumentSource.UPLOAD,
) -> list[UploadResult]:
    """Several files at once, all or nothing: every file is checked before any is stored, so one bad file refuses
    the whole request (a 400 naming the file) and nothing is stored or queued. Then each file becomes a pending
    document (or, for content already in the base or earlier in the request, returns the existing one) in one
    transaction, and the new documents are queued for ingestion once it commits. A file may be given as bytes or as
    a seekable file object (an upload), read once to check it and once to store it, so that the files of a large
    request are never all in memory together."""
    mimes = []
    for filename, source_file in files:
        try:
            mimes.append(file_check(filename=filename, data=_read(source_file)))
        except ValidationFailed as exc:
            if len(files) == 1:
                raise
            details = exc.details if isinstance(exc.details, dict) else {}
            raise ValidationFailed(
                gettext("%(filename)s: %(message)s No file of this request was stored.")
                % {"filename": filename, "message": exc.message},
                code=exc.code,
                details={**details, "file": filename},
            ) from exc
    stored: list[str] = []
    try:
        with transaction.atomic():
            results = []
            for (filename, source_file), mime in zip(files, mimes, strict=True):
                result = _document_store(
                    kb=kb,
                    filename=filename,
                    data=_read(source_file),
                    mime=mime,
                    uploaded_by=uploaded_by,
                    tags=tags,
                    source=source,
                )
                if result.created:
                    stored.append(cast(str, result.document.file.name))  # set when the file was saved
                results.append(result)
    except BaseException:
        for name in stored:  # the rows were rolled back: their files go too
            default_storage.delete(name)
        raise
    return results


def _read(source: bytes | IO[bytes]) -> bytes:
    if isinstance(source, bytes):
        return source
    source.seek(0)
    return source.read()


def _document_store(
    *,
    kb: KnowledgeBase,
    filename: str,
    data: bytes,
    mime: str,
    uploaded_by: Any = None,
    title: str = "",
    tags: list[str] | None = None,
    source: str = DocumentSource.UPLOAD,
    metadata: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> UploadResult:
    digest = hashlib.sha256(data).hexdigest()
    existing = Document.objects.filter(knowledge_base=kb, sha256=digest).first()
    if existing is not None:
        return UploadResult(existing, False, f"Identical content is already in this knowledge base as '{existing}'.")
    tags = sorted({str(tag).strip() for tag in (tags or []) if str(tag).strip()})
    with transaction.atomic():
        # the knowledge base's owner holds the storage: a document that does not fit their plan is refused (429)
        storage: dict[str, int] = {Meter.STORAGE_DOCUMENTS: 1, Meter.STORAGE_BYTES: len(data)}
        hold = quota_reserve(user=kb.owner_id, amounts=storage, purpose="rag.ingest")
        document = Document(
            knowledge_base=kb,
            title=(title or os.path.splitext(os.path.basename(filename))[0] or "Untitled")[:300],
            source=source,
            original_name=os.path.basename(filename)[:255],
            mime_type=mime,
            size=len(data),
            sha256=digest,
            tags=tags,
            metadata=metadata or {},
            uploaded_by=uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None,
        )
        document.file.save(safe_name(filename), ContentFile(data), save=False)
        file_name = cast(str, document.file.name)  # set by file.save()
        try:
            document.full_clean(exclude=["file"])
            with transaction.atomic():
                document.save()
        except IntegrityError:  # the same content arrived concurrently
            default_storage.delete(file_name)
            existing = Document.objects.get(knowledge_base=kb, sha256=digest)
            return UploadResult(
                existing, False, f"Identical content is already in this knowledge base as '{existing}'."
            )
        except Exception:
            default_storage.delete(file_name)
            raise
        KnowledgeBase.objects.filter(pk=kb.pk).update(document_count=F("document_count") + 1)
        quota_settle(hold=hold, amounts=storage)
        audit_record(
            action=AuditAction.CREATE,
            actor=uploaded_by,
            target=document,
            changes=snapshot_diff({}, model_snapshot(document)),
        )
        if enqueue:
            document_enqueue(document=document)
    metrics.DOCUMENTS_UPLOADED.inc()
    return UploadResult(document, True, "Queued for ingestion.")


def storage_of(*, documents: int, size: int, chunks: int, sign: int = 1) -> dict[str, int]:
    """The storage levels a number of documents hold (negative, ``sign=-1``, when they go)."""
    return {
        Meter.STORAGE_DOCUMENTS: sign * documents,
        Meter.STORAGE_BYTES: sign * size,
        Meter.STORAGE_CHUNKS: sign * chunks,
    }


def document_create_text(
    *,
    kb: KnowledgeBase,
    title: str,
    text: str,
    uploaded_by: Any = None,
    tags: list[str] | None = None,
    source: str = DocumentSource.API,
    metadata: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> UploadResult:
    if not (title or "").strip():
        raise ValidationFailed(gettext("A title is required."), details={"title": [gettext("This field is required.")]})
    if not (text or "").strip():
        raise ValidationFailed(
            gettext("The text is empty."), code="empty_document", details={"text": [gettext("The text is empty.")]}
        )
    return document_upload(
        kb=kb,
        filename=f"{safe_name(title)[:60]}.txt",
        data=text.encode("utf-8"),
        uploaded_by=uploaded_by,
        title=title.strip(),
        tags=tags,
        source=source,
        metadata=metadata,
        enqueue=enqueue,
    )


def document_add_url(
    *,
    kb: KnowledgeBase,
    url: str,
    uploaded_by: Any = None,
    title: str = "",
    tags: list[str] | None = None,
    enqueue: bool = True,
) -> UploadResult:
    """Fetch a URL (fetching.py: public addresses only unless allowed, redirects and size limited, the content type
    choosing the extractor) and add the content like an upload: checked, deduplicated by content hash, stored and
    queued. The requested and final URL, the fetch time and the HTTP details go to the document's metadata; the
    title defaults to the page's <title> or the file name. A URL that cannot be fetched or used raises a
    ValidationFailed with a readable message and stores nothing."""
    fetched = fetch_url(url)
    return document_upload(
        kb=kb,
        filename=fetched.filename,
        data=fetched.data,
        uploaded_by=uploaded_by,
        title=(title or "").strip() or fetched.title,
        tags=tags,
        source=DocumentSource.URL,
        metadata=fetched.metadata(),
        enqueue=enqueue,
    )


def document_enqueue(*, document: Document) -> None:
    """Queue the ingestion of ``document`` once the current transaction commits (the task calls document_process)."""
    enqueue_on_commit("rag.ingest_document", document.pk)


def document_process(*, document_id: int) -> Document:
    """Extract, chunk, embed and index one document. Chunks replace the previous ones in one transaction; on any
    failure the document is marked failed with a readable reason and its previous index state is left intact."""
    documents = documents_process(document_ids=[document_id])
    if not documents:
        raise Document.DoesNotExist(f"Document {document_id} does not exist.")
    return documents[0]


def document_reprocess(*, document: Document, actor: Any = None) -> Document:
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        document.status = DocumentStatus.PENDING
        document.error = ""
        document.chunks_done = 0
        document.save(update_fields=["status", "error", "chunks_done", "updated_at"])
        audit_record(action=AuditAction.ACTION, actor=actor, target=document, message="Re-processing requested")
        document_enqueue(document=document)
    return document


def document_delete(*, document: Document, actor: Any = None) -> None:
    with transaction.atomic():
        # the base row first, as knowledge_base_delete does: deleting a base and one of its documents at the same
        # time then queue up instead of deadlocking on the index tables
        base = KnowledgeBase.objects.select_for_update().filter(pk=document.knowledge_base_id).only("pk").first()
        locked = Document.objects.select_for_update().filter(pk=document.pk).first() if base else None
        if locked is None:
            raise NotFound(gettext("The document no longer exists."))
        document = locked
        before, pk, name = model_snapshot(document), document.pk, document.file.name
        chunks = index.chunks_delete(kb_id=document.knowledge_base_id, document_id=pk)
        document.delete()
        document.pk = pk
        KnowledgeBase.objects.filter(pk=document.knowledge_base_id).update(document_count=F("document_count") - 1)
        usage_report(
            amounts=storage_of(documents=1, size=document.size, chunks=chunks, sign=-1),
            user=KnowledgeBase.objects.filter(pk=document.knowledge_base_id).values_list("owner_id", flat=True).first(),
        )
        file_delete_on_commit(name)
        audit_record(
            action=AuditAction.DELETE, actor=actor, target=document, changes={k: [v, None] for k, v in before.items()}
        )


def documents_sweep_stuck(*, now: Any = None) -> dict[str, int]:
    """Documents stuck in processing (no progress for RAG_STUCK_MINUTES) are queued again, or failed after
    RAG_MAX_ATTEMPTS. Run by the core stuck-job sweep (registered in RagConfig.ready) and by the nightly consistency
    check. Pending documents are left alone: a bulk load (``rag_ingest``) processes its pending documents itself, and
    a second task for a queued document would only process it twice."""
    cutoff = (now or timezone.now()) - timedelta(minutes=conf.stuck_minutes())
    retried = failed = 0
    for document in Document.objects.filter(status=DocumentStatus.PROCESSING, updated_at__lt=cutoff).order_by("id"):
        with transaction.atomic():
            if document.attempts >= conf.max_attempts():
                Document.objects.filter(pk=document.pk).update(
                    status=DocumentStatus.FAILED,
                    error=f"Processing did not finish after {document.attempts} attempts.",
                    updated_at=timezone.now(),
                )
                metrics.INGESTION_FAILURES.inc()
                failed += 1
            else:
                Document.objects.filter(pk=document.pk).update(status=DocumentStatus.PENDING, updated_at=timezone.now())
                document_enqueue(document=document)
                retried += 1
    return {"retried": retried, "failed": failed}


def documents_check_consistency() -> dict[str, int]:
    """Nightly: documents stuck in processing are queued again (or failed after too many attempts); files under
    the knowledge-base folder that no document references are removed; a base left without its HNSW index (a bulk
    load killed before it built the index again) gets it built."""
    swept = documents_sweep_stuck()
    retried, failed = swept["retried"], swept["failed"]
    referenced = set(Document.objects.values_list("file", flat=True))
    removed = 0
    for name in _stored_files("rag"):
        if name not in referenced:
            default_storage.delete(name)
            removed += 1
    built = hnsw.hnsw_repair()
    if retried or failed or removed or built:
        audit_record(
            action=AuditAction.ACTION,
            target_type="rag.document",
            message=(
                f"Consistency check: {retried} retried, {failed} failed, {removed} orphan files removed, "
                f"{built} HNSW indexes built"
            ),
        )
    return {"retried": retried, "failed": failed, "orphans_removed": removed, "indexes_built": built}


def _stored_files(folder: str) -> list[str]:
    if not default_storage.exists(folder):
        return []
    directories, files = default_storage.listdir(folder)
    names = [f"{folder}/{name}" for name in files]
    for directory in directories:
        names.extend(_stored_files(f"{folder}/{directory}"))
    return names
