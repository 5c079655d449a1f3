"""Each knowledge base's own HNSW (cosine) index, and bulk loads that drop it and build it again afterwards.

Inserting a vector into an HNSW graph costs a search of the graph (about 1 ms per vector at m 16, ef_construction 64
on a quiet 2-core machine, several times that under load), while building the graph from scratch after the rows are
in costs a fraction of that per vector. A load that is large relative to the base (``rebuild_pays``) therefore drops
the base's index first and builds it again when the load ends, whatever happened during the load:

- Outside a transaction (``rag_ingest``, ``rag_reindex``, Celery tasks), the index is dropped and built with
  ``DROP/CREATE INDEX CONCURRENTLY``: searches and inserts go on meanwhile; a search of that base scans its vectors
  exactly until the index is ready (correct, slower); other bases are not affected. A failed concurrent build falls
  back to a plain ``CREATE INDEX``.
- Inside a transaction (the caller's ``atomic`` block, the tests, ``rag_eval``) the drop and the build are ordinary
  transactional DDL: a rollback brings the index back.
- A session-level advisory lock per base keeps two bulk loads of one base from dropping and building its index over
  each other (the second one inserts incrementally); the nightly consistency job builds the index of any base left
  without a valid one (a process killed between the drop and the build) and skips bases whose lock is held.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DatabaseError, connection

from .. import conf
from ..models import KnowledgeBase

logger = logging.getLogger(__name__)

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
# Advisory-lock namespace ("RAGH"): the second key is the base's id.
LOCK_CLASS = 0x52414748


def _create_sql(kb: KnowledgeBase, *, concurrently: bool = False) -> str:
    dim, pk = int(kb.embedding_dimension), int(kb.pk)
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {kb.hnsw_index_name} ON rag_chunk "
        f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE knowledge_base_id = {pk}"
    )


def _execute_ddl(sql: str) -> None:
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # Deferred foreign-key checks pending in this transaction would block index DDL: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(sql)
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            cursor.execute(sql)


def hnsw_create(kb: KnowledgeBase) -> None:
    """The base's index: a partial index on the embedding cast to the base's dimension (for a new, empty base)."""
    _execute_ddl(_create_sql(kb))


def hnsw_drop(kb: KnowledgeBase) -> None:
    """Drop the base's index; concurrently (without blocking searches of other bases) outside a transaction."""
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY "
    _execute_ddl(f"DROP INDEX {concurrently}IF EXISTS {kb.hnsw_index_name}")


def hnsw_status(kbs: Iterable[KnowledgeBase]) -> dict[int, str]:
    """Per base id: 'ok', 'missing', 'invalid' (an interrupted concurrent build) or 'stale' (built for another
    dimension)."""
    kbs = list(kbs)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ANY(%s)",
            [[kb.hnsw_index_name for kb in kbs]],
        )
        found = {name: (valid, definition) for name, valid, definition in cursor.fetchall()}
    status = {}
    for kb in kbs:
        valid, definition = found.get(kb.hnsw_index_name, (None, ""))
        if valid is None:
            status[kb.pk] = "missing"
        elif not valid:
            status[kb.pk] = "invalid"
        elif f"vector({int(kb.embedding_dimension)})" not in definition:
            status[kb.pk] = "stale"
        else:
            status[kb.pk] = "ok"
    return status


def hnsw_build(kb: KnowledgeBase) -> bool:
    """Build the base's index unless it has a valid one for its dimension (an invalid or stale one is dropped
    first), with ``RAG_HNSW_BUILD_MEMORY`` of maintenance memory so the graph is built in memory. Concurrent outside
    a transaction, with a plain build as the fallback. Returns whether it built."""
    status = hnsw_status([kb])[kb.pk]
    if status == "ok":
        return False
    if status != "missing":
        hnsw_drop(kb)
    local = connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, %s)", [conf.hnsw_build_memory(), local])
        try:
            if local:
                _execute_ddl(_create_sql(kb))
            else:
                try:
                    cursor.execute(_create_sql(kb, concurrently=True))
                except DatabaseError:
                    logger.warning("Concurrent build of %s failed; plain build", kb.hnsw_index_name, exc_info=True)
                    hnsw_drop(kb)
                    cursor.execute(_create_sql(kb))
        finally:
            if not local:
                cursor.execute("RESET maintenance_work_mem")
    return True


def rebuild_pays(*, base_chunks: int, new_chunks: int) -> bool:
    """Whether loading ``new_chunks`` into a base holding ``base_chunks`` is cheaper with its HNSW index dropped
    and built again afterwards: at least ``RAG_HNSW_REBUILD_MIN_CHUNKS`` new chunks, and at least
    ``RAG_HNSW_REBUILD_FRACTION`` of the chunks already there (see conf.py for the measurements behind both)."""
    return new_chunks >= conf.hnsw_rebuild_min_chunks() and new_chunks >= conf.hnsw_rebuild_fraction() * base_chunks


def _try_lock(kb: KnowledgeBase, *, wait: bool) -> bool:
    """The base's bulk-load lock: for the session outside a transaction, until the transaction ends inside one."""
    scope = "_xact" if connection.in_atomic_block else ""
    function = f"pg{'' if wait else '_try'}_advisory{scope}_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [LOCK_CLASS, int(kb.pk)])
        acquired = cursor.fetchone()[0]
    return wait or bool(acquired)  # the waiting variants return void once they have the lock


def _unlock(kb: KnowledgeBase) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, int(kb.pk)])
    except DatabaseError:  # the session is gone, and its lock with it
        logger.warning("Could not release the bulk-load lock of knowledge base %s", kb.pk, exc_info=True)


@dataclass
class BulkLoad:
    """A load of chunks into one base. ``add`` is called before each insert; the first time the load's chunks make
    ``rebuild_pays`` true the base's index is dropped, and it is built again when the load ends."""

    kb: KnowledgeBase
    base_chunks: int
    force: bool = False
    chunks: int = 0
    documents: int = 0
    suspended: bool = False
    in_transaction: bool = False

    def add(self, *, chunks: int, documents: int = 1, remaining_documents: int = 0) -> None:
        """``chunks`` chunks of ``documents`` documents are about to be inserted, and ``remaining_documents`` more
        documents are expected in this load (their chunks are projected from the documents seen so far)."""
        self.chunks += chunks
        self.documents += documents
        projected = self.chunks + self.chunks * remaining_documents // max(1, self.documents)
        if not self.suspended and (self.force or rebuild_pays(base_chunks=self.base_chunks, new_chunks=projected)):
            self.suspend()

    def suspend(self) -> None:
        if self.suspended:
            return
        self.in_transaction = connection.in_atomic_block
        if not _try_lock(self.kb, wait=self.force):
            logger.info("Knowledge base %s is already being bulk-loaded; inserting incrementally", self.kb.pk)
            return
        try:
            hnsw_drop(self.kb)
        except BaseException:
            if not self.in_transaction:
                _unlock(self.kb)
            raise
        self.suspended = True

    def finish(self, failed: bool) -> None:
        if not self.suspended:
            return
        if self.in_transaction and connection.needs_rollback:
            return  # the enclosing transaction is being rolled back, and the drop with it
        try:
            self.kb.refresh_from_db(fields=["embedding_dimension"])
            hnsw_build(self.kb)
        except KnowledgeBase.DoesNotExist:
            pass  # the base was deleted meanwhile (its index with it)
        except DatabaseError:
            if not failed:
                raise
            # The load's own error is the one to report. Inside a transaction that error rolls everything back,
            # index included; outside one, the nightly consistency job builds the missing index.
            logger.exception("Could not build the HNSW index of knowledge base %s after a failed load", self.kb.pk)
        finally:
            if not self.in_transaction:
                _unlock(self.kb)
            self.suspended = False


@contextmanager
def hnsw_bulk_load(kb: KnowledgeBase, *, force: bool = False) -> Iterator[BulkLoad]:
    """A bulk load into ``kb`` (whose ``chunk_count`` is the base's size before the load): the caller reports each
    insert with ``load.add(...)``; if the index was dropped, it is built again on exit, also when the load fails.
    ``force`` drops the index whatever the size (re-embedding every chunk) and waits for another load's lock."""
    load = BulkLoad(kb=kb, base_chunks=int(kb.chunk_count), force=force)
    if force:
        load.suspend()
    try:
        yield load
    except BaseException:
        load.finish(failed=True)
        raise
    load.finish(failed=False)


def hnsw_repair() -> int:
    """Build the index of every base without a valid one (the nightly consistency job). A base being bulk-loaded
    right now is skipped: its load builds the index when it ends. Returns the number of indexes built."""
    kbs = list(KnowledgeBase.objects.order_by("pk"))
    status = hnsw_status(kbs)
    built = 0
    for kb in kbs:
        if status[kb.pk] == "ok" or not _try_lock(kb, wait=False):
            continue
        try:
            if hnsw_build(kb):
                built += 1
                logger.warning("Built the HNSW index of knowledge base %s (it was %s)", kb.pk, status[kb.pk])
        finally:
            if not connection.in_atomic_block:
                _unlock(kb)
    return built
