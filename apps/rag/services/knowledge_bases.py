"""Writes on knowledge bases: create (with its HNSW index), update, delete, share, re-index."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext

from apps.core.choices import AuditAction
from apps.core.exceptions import ValidationFailed
from apps.core.services import audit_record, model_snapshot, object_share, object_unshare, snapshot_diff
from apps.resources.services.metering import usage_report

from .. import conf
from ..choices import Visibility
from ..embeddings import get_embedder
from ..models import Chunk, Document, KnowledgeBase
from . import hnsw, index
from .documents import storage_of
from .files import file_delete_on_commit

EDITABLE = (
    "name",
    "description",
    "visibility",
    "chunk_size",
    "chunk_overlap",
    "bm25_k1",
    "bm25_b",
    "rrf_k",
    "lexical_weight",
    "vector_weight",
)
FIXED_AT_CREATION = ("language", "embedding_backend", "embedding_model", "embedding_dimension")


@transaction.atomic
def knowledge_base_create(*, owner: Any, name: str, actor: Any = None, **fields: Any) -> KnowledgeBase:
    unknown = sorted(set(fields) - set(EDITABLE) - set(FIXED_AT_CREATION))
    if unknown:
        raise ValidationFailed(gettext("Unknown fields."), details={name: ["Unknown field."] for name in unknown})
    backend, model, dimension = conf.default_embedding()
    fields.setdefault("embedding_backend", backend)
    fields.setdefault("embedding_model", model)
    fields.setdefault("embedding_dimension", dimension)
    get_embedder(fields["embedding_backend"], fields["embedding_model"], int(fields["embedding_dimension"]))
    kb = KnowledgeBase(owner=owner, name=(name or "").strip(), **fields)
    kb.full_clean()
    kb.save()
    hnsw.hnsw_create(kb)
    audit_record(
        action=AuditAction.CREATE, actor=actor or owner, target=kb, changes=snapshot_diff({}, model_snapshot(kb))
    )
    return kb


@transaction.atomic
def knowledge_base_update(*, kb: KnowledgeBase, actor: Any = None, **fields: Any) -> KnowledgeBase:
    fixed = sorted(set(fields) & set(FIXED_AT_CREATION))
    fixed = [name for name in fixed if fields[name] != getattr(kb, name)]
    if fixed:
        raise ValidationFailed(
            gettext("Language and embedding settings are fixed at creation; re-index to change the embedding model."),
            details={name: ["Fixed at creation."] for name in fixed},
        )
    unknown = sorted(set(fields) - set(EDITABLE) - set(FIXED_AT_CREATION))
    if unknown:
        raise ValidationFailed(gettext("Unknown fields."), details={name: ["Unknown field."] for name in unknown})
    kb = KnowledgeBase.objects.select_for_update().get(pk=kb.pk)
    before = model_snapshot(kb)
    for name, value in fields.items():
        setattr(kb, name, value)
    kb.full_clean()
    kb.save()
    changes = snapshot_diff(before, model_snapshot(kb))
    if changes:
        audit_record(action=AuditAction.UPDATE, actor=actor, target=kb, changes=changes)
    return kb


def knowledge_base_delete(*, kb: KnowledgeBase, actor: Any = None) -> None:
    with transaction.atomic():
        KnowledgeBase.objects.select_for_update().filter(pk=kb.pk).only("pk").first()  # see document_delete
        before, pk = model_snapshot(kb), kb.pk
        names = list(Document.objects.filter(knowledge_base=kb).values_list("file", flat=True))
        held = Document.objects.filter(knowledge_base=kb).aggregate(size=Sum("size"), chunks=Sum("chunks_total"))
        index.knowledge_base_purge(kb=kb)
        kb.delete()
        kb.pk = pk
        for name in names:
            file_delete_on_commit(name)
        usage_report(
            amounts=storage_of(documents=len(names), size=held["size"] or 0, chunks=held["chunks"] or 0, sign=-1),
            user=kb.owner_id,
        )
        audit_record(
            action=AuditAction.DELETE, actor=actor, target=kb, changes={k: [v, None] for k, v in before.items()}
        )


def knowledge_base_share(*, kb: KnowledgeBase, to: Any, level: str = "view", actor: Any = None) -> KnowledgeBase:
    with transaction.atomic():
        object_share(obj=kb, to=to, level=level, actor=actor)
        if kb.visibility == Visibility.PRIVATE:
            KnowledgeBase.objects.filter(pk=kb.pk).update(visibility=Visibility.SHARED)
            kb.visibility = Visibility.SHARED
    return kb


def knowledge_base_unshare(*, kb: KnowledgeBase, to: Any, actor: Any = None) -> KnowledgeBase:
    object_unshare(obj=kb, to=to, actor=actor)
    return kb


def knowledge_base_reindex(
    *,
    kb: KnowledgeBase,
    actor: Any = None,
    embedding_backend: str | None = None,
    embedding_model: str | None = None,
    embedding_dimension: int | None = None,
    progress: Any = None,
) -> int:
    """Re-embed every chunk of the base (after a model change) and build its HNSW index for the new dimension.
    The embeddings and the model change are written in one transaction, so searches see either the old or the new
    embeddings. The index is dropped before (concurrently, outside a transaction) and built again after it, also
    when re-embedding fails; meanwhile searches of this base scan its vectors exactly. Returns chunks re-embedded."""
    backend = embedding_backend or kb.embedding_backend
    model = embedding_model or kb.embedding_model
    dimension = int(embedding_dimension or kb.embedding_dimension)
    embedder = get_embedder(backend, model, dimension)
    with hnsw.hnsw_bulk_load(kb, force=True), transaction.atomic():
        kb = KnowledgeBase.objects.select_for_update().get(pk=kb.pk)
        before = model_snapshot(kb)
        ids_texts = list(Chunk.objects.filter(knowledge_base=kb).order_by("id").values_list("id", "text"))
        size = conf.embed_batch_size() if backend != "hashing" else max(conf.embed_batch_size(), 4096)
        for start in range(0, len(ids_texts), size):
            batch = ids_texts[start : start + size]
            vectors = embedder.embed([text for _, text in batch])
            index.embeddings_update(chunk_ids=[pk for pk, _ in batch], vectors=vectors)
            if progress is not None:
                progress(min(start + size, len(ids_texts)), len(ids_texts))
        kb.embedding_backend, kb.embedding_model, kb.embedding_dimension = backend, model, dimension
        kb.full_clean()
        kb.save(update_fields=["embedding_backend", "embedding_model", "embedding_dimension", "updated_at"])
        audit_record(
            action=AuditAction.ACTION,
            actor=actor,
            target=kb,
            changes=snapshot_diff(before, model_snapshot(kb)),
            message=f"Re-indexed {len(ids_texts)} chunks",
        )
    return len(ids_texts)
