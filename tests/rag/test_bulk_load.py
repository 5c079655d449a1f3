"""Bulk loads: a load large relative to its base drops the base's HNSW index and builds it again afterwards, inside
the caller's transaction (plain DDL) or outside any (concurrent DDL, the production path of rag_ingest, rag_reindex
and the Celery task). The index is always back, valid and used; searches give the incremental path's results."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from apps.core.exceptions import Conflict
from apps.core.models import AuditLog
from apps.core.roles import USER
from apps.rag.models import Chunk, Document, KnowledgeBase, Posting, Term
from apps.rag.retrieval import Filters, rank, vector_sql
from apps.rag.services import ingestion, knowledge_base_delete, knowledge_base_reindex
from apps.rag.services.hnsw import LOCK_CLASS, hnsw_build, hnsw_bulk_load, hnsw_drop, hnsw_status, rebuild_pays
from apps.rag.tasks import check_consistency
from tests.rag.factories import KnowledgeBaseFactory

TOPICS = [
    "Wing flutter is an aeroelastic instability of lifting surfaces at high speed.",
    "Boundary layer transition on a flat plate depends on the Reynolds number.",
    "Heat conduction in composite slabs was solved with Laplace transforms.",
    "Shock waves form ahead of blunt bodies in supersonic flow.",
    "Buckling of thin cylindrical shells under axial compression.",
    "Turbulent skin friction on a cone at hypersonic Mach numbers.",
    "Panel flutter of a plate exposed to supersonic flow on one side.",
    "Stagnation point heat transfer for a sphere in hypersonic flow.",
]
QUERIES = ["flutter of plates", "supersonic flow", "heat transfer", "reynolds number transition", "shell buckling"]


@pytest.fixture
def bulk_always(settings):
    settings.RAG_HNSW_REBUILD_MIN_CHUNKS = 1
    settings.RAG_HNSW_REBUILD_FRACTION = 0.0


def write_corpus(folder, topics=TOPICS):
    folder.mkdir(exist_ok=True)
    for n, text in enumerate(topics):
        (folder / f"doc-{n:02d}.txt").write_text(f"{text}\n\n{text.split()[0]} notes number {n}.")
    return folder


def ingest_folder(kb, folder, *extra):
    out = io.StringIO()
    call_command("rag_ingest", str(folder), "--kb", kb.name, *extra, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def index_row(kb):
    """(oid, valid, definition) of the base's HNSW index, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [kb.hnsw_index_name],
        )
        return cursor.fetchone()


def assert_index_is_right_and_used(kb):
    _, valid, definition = index_row(kb)
    assert valid
    assert (
        f"ON public.rag_chunk USING hnsw (((embedding)::vector({kb.embedding_dimension})) vector_cosine_ops) "
        f"WITH (m='16', ef_construction='64') WHERE (knowledge_base_id = {kb.pk})"
    ) in definition, definition
    sql, params = vector_sql(kb, Filters())
    params.update(vec="[" + ",".join(["0.1"] * kb.embedding_dimension) + "]", limit=5)
    with transaction.atomic(), connection.cursor() as cursor:
        # On a handful of rows a scan plus a sort is cheaper: rule those out to see whether the index can serve.
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Scan using {kb.hnsw_index_name}" in plan, plan


def advisory_locks(kb):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s",
            [LOCK_CLASS, kb.pk],
        )
        return cursor.fetchone()[0]


def ranked(kb, query, mode, k=5):
    """(document title, chunk ordinal, score) of the top hits."""
    hits = rank([kb], query, mode=mode, k=k)
    where = {c.pk: (c.document.title, c.ordinal) for c in Chunk.objects.select_related("document")}
    return [(*where[hit.chunk_id], round(hit.score, 5)) for hit in hits]


def results(kb):
    kb.refresh_from_db()  # the chunk statistics the ranking reads
    return [ranked(kb, query, mode) for query in QUERIES for mode in ("vector", "hybrid", "lexical")]


@pytest.fixture
def cleanup():
    """Bases made in a transactional test are deleted through the service (which drops their HNSW index)."""
    made = []
    yield made.append
    for kb in made:
        knowledge_base_delete(kb=KnowledgeBase.objects.get(pk=kb.pk))


def test_rebuild_rule_defaults():
    assert not rebuild_pays(base_chunks=0, new_chunks=999)
    assert rebuild_pays(base_chunks=0, new_chunks=1000)
    assert not rebuild_pays(base_chunks=10_000, new_chunks=2_499)
    assert rebuild_pays(base_chunks=10_000, new_chunks=2_500)


@pytest.mark.django_db
def test_a_load_counts_the_documents_still_to_come(kb):
    kb.chunk_count = 10_000  # the size the load compares with
    with hnsw_bulk_load(kb) as load:
        load.add(chunks=600, documents=100)
        assert not load.suspended  # 600 chunks alone: the index stays
    with hnsw_bulk_load(kb) as load:
        load.add(chunks=600, documents=100, remaining_documents=400)  # ~3,000 chunks in all
        assert load.suspended and index_row(kb) is None
    assert_index_is_right_and_used(kb)


@pytest.mark.django_db
def test_searches_scan_exactly_while_the_index_is_dropped(kb, ingest):
    ingest(kb, title="Flutter", text=TOPICS[0])
    ingest(kb, title="Heat", text=TOPICS[2])
    before = results(kb)
    with hnsw_bulk_load(kb) as load:
        load.add(chunks=5_000)
        assert load.suspended and index_row(kb) is None
        assert results(kb) == before
    assert_index_is_right_and_used(kb)
    assert results(kb) == before


@pytest.mark.django_db
def test_bulk_and_incremental_loads_give_the_same_results(make_user, tmp_path, settings):
    owner = make_user(role=USER)
    folder = write_corpus(tmp_path / "corpus")
    settings.RAG_HNSW_REBUILD_MIN_CHUNKS = 10**9
    incremental = KnowledgeBaseFactory(owner=owner, name="Incremental")
    ingest_folder(incremental, folder, "--batch", "3")
    settings.RAG_HNSW_REBUILD_MIN_CHUNKS, settings.RAG_HNSW_REBUILD_FRACTION = 1, 0.0
    bulk = KnowledgeBaseFactory(owner=owner, name="Bulk")
    oid = index_row(bulk)[0]
    assert "8 ingested" in ingest_folder(bulk, folder, "--batch", "3")
    assert index_row(bulk)[0] != oid  # dropped and built again
    assert_index_is_right_and_used(bulk)
    assert results(bulk) == results(incremental)
    assert all(hits for hits in results(bulk))


@pytest.mark.django_db(transaction=True)
def test_rag_ingest_outside_a_transaction_builds_the_index_concurrently(make_user, tmp_path, bulk_always, cleanup):
    kb = KnowledgeBaseFactory(owner=make_user(role=USER), name="Folder")
    cleanup(kb)
    oid = index_row(kb)[0]
    out = ingest_folder(kb, write_corpus(tmp_path / "corpus"), "--batch", "3")
    assert "8 ingested, 0 already present, 0 failed" in out and "Building the HNSW index" in out
    assert index_row(kb)[0] != oid
    assert_index_is_right_and_used(kb)
    assert advisory_locks(kb) == 0
    assert Document.objects.filter(knowledge_base=kb, status="ready").count() == 8
    kb.refresh_from_db()
    assert [title for title, _, _ in ranked(kb, "panel flutter", "vector", k=1)] == ["doc-06"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_leaves_the_index_and_no_half_written_chunks(make_user, tmp_path, bulk_always, cleanup):
    kb = KnowledgeBaseFactory(owner=make_user(role=USER), name="Broken", chunk_size=1000, chunk_overlap=0)
    cleanup(kb)
    folder = write_corpus(tmp_path / "corpus", TOPICS[:2])
    # 600 distinct path-like words of ~1,800 characters: one chunk whose tsvector exceeds PostgreSQL's 1 MB limit,
    # so the insert statement of the second batch fails after the first batch went in without the index.
    (folder / "doc-02-logs.txt").write_text(" ".join(f"/{n}/" + "abc/" * 450 + "x" for n in range(600)))
    (folder / "doc-03.txt").write_text(TOPICS[3])
    oid = index_row(kb)[0]
    out = io.StringIO()
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 failed"):
        call_command("rag_ingest", str(folder), "--kb", kb.name, "--batch", "2", stdout=out, stderr=err)
    assert "2 ingested, 0 already present, 2 failed" in out.getvalue()
    assert "string is too long for tsvector" in err.getvalue()
    failed = Document.objects.filter(knowledge_base=kb, status="failed")
    assert sorted(failed.values_list("title", flat=True)) == ["doc-02-logs", "doc-03"]
    assert all("too long for tsvector" in document.error for document in failed)
    assert not Chunk.objects.filter(document__in=failed).exists()
    kb.refresh_from_db()
    assert kb.chunk_count == Chunk.objects.filter(knowledge_base=kb).count() == 2
    assert sum(Term.objects.filter(knowledge_base=kb).values_list("df", flat=True)) == (
        Posting.objects.filter(knowledge_base=kb).count()
    )
    assert index_row(kb)[0] != oid  # the first batch went in without the index
    assert_index_is_right_and_used(kb)
    assert advisory_locks(kb) == 0


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_load_still_builds_the_index(make_user, cleanup):
    kb = KnowledgeBaseFactory(owner=make_user(role=USER), name="Interrupted")
    cleanup(kb)
    with pytest.raises(RuntimeError), hnsw_bulk_load(kb, force=True) as load:
        assert load.suspended and index_row(kb) is None
        raise RuntimeError("the caller failed")
    assert_index_is_right_and_used(kb)
    assert advisory_locks(kb) == 0


@pytest.mark.django_db
def test_an_interrupted_load_inside_a_transaction_keeps_the_index(kb):
    with pytest.raises(RuntimeError), hnsw_bulk_load(kb, force=True):
        raise RuntimeError("the caller failed")
    assert_index_is_right_and_used(kb)


@pytest.mark.django_db(transaction=True)
def test_a_base_being_loaded_elsewhere_is_loaded_incrementally(make_user, cleanup):
    kb = KnowledgeBaseFactory(owner=make_user(role=USER), name="Busy")
    cleanup(kb)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, kb.pk])
        with hnsw_bulk_load(kb) as load:
            load.add(chunks=100_000)
            assert not load.suspended and index_row(kb) is not None
        assert hnsw_build(kb) is False  # nothing to do: the index is there and valid
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, kb.pk])
    finally:
        other.close()
    assert advisory_locks(kb) == 0


@pytest.mark.django_db
def test_the_consistency_job_builds_missing_and_stale_indexes(make_user, django_capture_on_commit_callbacks):
    owner = make_user(role=USER)
    missing, stale, fine = (KnowledgeBaseFactory(owner=owner, name=name) for name in ("Missing", "Stale", "Fine"))
    hnsw_drop(missing)
    hnsw_drop(stale)
    with connection.cursor() as cursor:  # an index left from an earlier base with the same id and another dimension
        cursor.execute(
            f"CREATE INDEX {stale.hnsw_index_name} ON rag_chunk USING hnsw ((embedding::vector(128)) "
            f"vector_cosine_ops) WHERE knowledge_base_id = {stale.pk}"
        )
    assert hnsw_status([missing, stale, fine]) == {missing.pk: "missing", stale.pk: "stale", fine.pk: "ok"}
    with django_capture_on_commit_callbacks(execute=True):
        result = check_consistency.delay().get()
    assert result["indexes_built"] == 2
    assert hnsw_status([missing, stale, fine]) == {missing.pk: "ok", stale.pk: "ok", fine.pk: "ok"}
    assert_index_is_right_and_used(stale)
    assert AuditLog.objects.filter(message__contains="2 HNSW indexes built").exists()


@pytest.mark.django_db
def test_vectors_of_a_previous_embedding_model_are_refused(kb, ingest):
    document = ingest(kb, title="Valves", text="Valves hold pressure.")
    stale_kb = KnowledgeBase.objects.get(pk=kb.pk)
    knowledge_base_reindex(kb=kb, embedding_dimension=128)
    item = ingestion._prepare(Document.objects.select_related("knowledge_base").get(pk=document.pk))
    vectors = ingestion._embed(stale_kb, [item])  # embedded before the re-index committed
    with pytest.raises(Conflict) as info:
        ingestion._index(stale_kb, [item], vectors)
    assert info.value.code == "embedding_changed"
    assert len(Chunk.objects.get(document=document).embedding) == 128
    # (built in this test's transaction after the re-embedding updates, the index is usable only by later ones)
    assert hnsw_status([KnowledgeBase.objects.get(pk=kb.pk)]) == {kb.pk: "ok"}


@pytest.mark.django_db(transaction=True)
def test_reindex_outside_a_transaction_builds_the_new_index_concurrently(make_user, tmp_path, cleanup):
    kb = KnowledgeBaseFactory(owner=make_user(role=USER), name="Reindexed")
    cleanup(kb)
    ingest_folder(kb, write_corpus(tmp_path / "corpus"))
    before = [[title for title, _, _ in hits] for hits in results(kb)]
    assert knowledge_base_reindex(kb=kb, embedding_dimension=256) == 8
    kb.refresh_from_db()
    assert kb.embedding_dimension == 256
    assert_index_is_right_and_used(kb)
    assert advisory_locks(kb) == 0
    after = [[title for title, _, _ in hits] for hits in results(kb)]
    assert after[2::3] == before[2::3]  # lexical ranking untouched
    assert all(after)
