from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from apps.core.exceptions import ValidationFailed
from apps.core.models import AuditLog
from apps.core.roles import USER
from apps.rag.models import Chunk, Document, Posting, Term
from apps.rag.services import document_delete, document_process, document_reprocess, document_upload
from apps.rag.tasks import ingest_document

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.django_db


def test_text_ingestion_end_to_end_builds_chunks_postings_and_statistics(kb, ingest):
    document = ingest(kb, title="Pumps", text="The pump moves water. The pump needs a seal.")
    assert document.status == "ready" and document.error == ""
    assert (document.chunks_done, document.chunks_total, document.progress) == (1, 1, 1.0)
    chunk = Chunk.objects.get(document=document)
    assert chunk.knowledge_base_id == kb.pk and chunk.embedding is not None
    # english stemming, stop words dropped; "pump" twice
    postings = dict(Posting.objects.filter(chunk=chunk).values_list("lexeme", "tf"))
    assert postings == {"pump": 2, "move": 1, "water": 1, "need": 1, "seal": 1}
    assert chunk.lexeme_count == 6
    assert Term.objects.get(knowledge_base=kb, lexeme="pump").df == 1
    assert (kb.document_count, kb.chunk_count, kb.lexeme_total) == (1, 1, 6)
    assert default_storage.exists(document.file.name)


@pytest.mark.parametrize("name", ["sample.pdf", "sample.docx", "sample.html", "sample.md", "sample.csv", "sample.json"])
def test_each_file_type_ingests(kb, ingest, name):
    document = ingest(kb, filename=name, data=(FIXTURES / name).read_bytes())
    assert document.status == "ready", document.error
    assert document.chunks_total >= 1
    assert document.metadata["sections"] >= 1


def test_pdf_chunks_remember_their_pages(kb, ingest):
    document = ingest(kb, filename="sample.pdf", data=(FIXTURES / "sample.pdf").read_bytes())
    assert list(document.chunks.order_by("ordinal").values_list("page", flat=True)) == [1, 2]
    assert document.metadata["pages"] == 2


def test_duplicate_content_is_a_noop_that_says_so(kb, ingest):
    first = ingest(kb, title="A", text="Same words here.")
    result = document_upload(kb=kb, filename="copy.txt", data=b"Same words here.")
    assert result.created is False and result.document == first
    assert "already in this knowledge base" in result.message
    assert Document.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("empty.txt", b"", "empty_document"),
        ("junk.txt", (FIXTURES / "junk.txt").read_bytes(), "binary_content"),
        ("bad.pdf", (FIXTURES / "corrupt.pdf").read_bytes(), "corrupt_document"),
        ("locked.pdf", (FIXTURES / "encrypted.pdf").read_bytes(), "encrypted_document"),
        ("deck.pptx", b"anything", "unsupported_type"),
    ],
)
def test_bad_uploads_are_refused_and_store_nothing(kb, name, data, code, media_root):
    with pytest.raises(ValidationFailed) as info:
        document_upload(kb=kb, filename=name, data=data)
    assert info.value.code == code
    assert Document.objects.count() == 0
    assert not (media_root / "rag").exists()


def test_size_limit(kb, settings):
    settings.RAG_MAX_UPLOAD_BYTES = 10
    with pytest.raises(ValidationFailed) as info:
        document_upload(kb=kb, filename="big.txt", data=b"x" * 11)
    assert info.value.code == "file_too_large"


def test_failure_marks_failed_with_reason_and_leaves_no_chunks(kb, ingest):
    document = ingest(kb, title="ok", text="Alpha beta gamma.")
    default_storage.delete(document.file.name)  # the stored file disappears before a re-run
    document = document_process(document_id=document.pk)
    assert document.status == "failed"
    assert document.error == "The stored file is missing."
    # the previous chunks are untouched: the failed run wrote nothing
    assert Chunk.objects.filter(document=document).count() == 1
    assert AuditLog.objects.filter(target_type="rag.document", message__startswith="Ingestion failed").exists()


def test_failure_in_the_middle_rolls_back_everything(kb, ingest, settings):
    settings.RAG_OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    settings.AI_ALLOW_PRIVATE_UPSTREAMS, settings.HTTP_RETRY_ATTEMPTS = True, 1
    from apps.rag.services import knowledge_base_create

    remote = knowledge_base_create(
        owner=kb.owner, name="Remote", embedding_backend="openai", embedding_model="m", embedding_dimension=8
    )
    document = ingest(remote, title="t", text="Words to embed.")
    assert document.status == "failed"
    assert "unreachable" in document.error
    assert not Chunk.objects.filter(document=document).exists()
    assert not Posting.objects.filter(knowledge_base=remote).exists()


def test_reprocess_replaces_chunks_and_keeps_statistics_right(kb, ingest, django_capture_on_commit_callbacks):
    document = ingest(kb, title="t", text="Alpha beta. Gamma delta.")
    before = (kb.chunk_count, kb.lexeme_total)
    with django_capture_on_commit_callbacks(execute=True):
        document_reprocess(document=document)
    document.refresh_from_db()
    kb.refresh_from_db()
    assert document.status == "ready" and document.attempts == 2
    assert (kb.chunk_count, kb.lexeme_total) == before
    assert Term.objects.get(knowledge_base=kb, lexeme="alpha").df == 1


def test_delete_removes_chunks_postings_terms_and_file(kb, ingest, django_capture_on_commit_callbacks):
    keep = ingest(kb, title="keep", text="shared words stay")
    gone = ingest(kb, title="gone", text="shared unique words")
    name = gone.file.name
    with django_capture_on_commit_callbacks(execute=True):
        document_delete(document=gone)
    kb.refresh_from_db()
    assert not Chunk.objects.filter(document_id=gone.pk).exists()
    assert not Posting.objects.filter(lexeme="uniqu").exists()
    assert not Term.objects.filter(knowledge_base=kb, lexeme="uniqu").exists()
    assert Term.objects.get(knowledge_base=kb, lexeme="share").df == 1
    assert (kb.document_count, kb.chunk_count) == (1, 1)
    assert not default_storage.exists(name)
    assert default_storage.exists(keep.file.name)


@pytest.mark.django_db(transaction=True)
def test_document_delete_waits_for_its_base_row_first(kb, ingest):
    """Deleting a base locks its row before its index tables; deleting one of its documents locks the same row
    before anything else, so the two queue up instead of deadlocking. A deletion that finds the base gone is a 404."""
    import threading

    from django.db import transaction

    from apps.core.exceptions import NotFound
    from apps.rag.models import KnowledgeBase

    document = ingest(kb, title="doc", text="words to delete")
    locked, release, errors = threading.Event(), threading.Event(), []

    def hold_base_row() -> None:
        try:
            with transaction.atomic():
                KnowledgeBase.objects.select_for_update().get(pk=kb.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    def delete_document() -> None:
        try:
            document_delete(document=Document.objects.get(pk=document.pk))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    holder, deleter = threading.Thread(target=hold_base_row), threading.Thread(target=delete_document)
    holder.start()
    try:
        assert locked.wait(30)
        deleter.start()
        waiting = 0
        for _ in range(600):  # until the deletion is queued behind the base row
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                waiting = cursor.fetchone()[0]
            if waiting or not deleter.is_alive():
                break
            threading.Event().wait(0.05)
        assert waiting == 1
        # it waits before touching the document: its row and chunks are still free and whole
        with transaction.atomic():
            Document.objects.select_for_update(nowait=True).get(pk=document.pk)
        assert Chunk.objects.filter(document_id=document.pk).exists()
    finally:
        release.set()
        holder.join(30)
        deleter.join(30)
    assert not errors and not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    KnowledgeBase.objects.filter(pk=kb.pk).delete()
    with pytest.raises(NotFound):
        document_delete(document=document)


def test_celery_task_runs_the_ingestion(kb):
    result = document_upload(kb=kb, filename="a.txt", data=b"Celery task text.", enqueue=False)
    assert ingest_document.delay(result.document.pk).get() == "ready"
    assert Chunk.objects.filter(document=result.document).count() == 1


def test_chinese_base_indexes_jieba_words(make_user, ingest):
    from apps.rag.services import knowledge_base_create

    zh = knowledge_base_create(owner=make_user(role=USER), name="中文", language="zh")
    document = ingest(zh, filename="chinese.txt", data=(FIXTURES / "chinese.txt").read_bytes())
    assert document.status == "ready"
    lexemes = set(Posting.objects.filter(knowledge_base=zh).values_list("lexeme", flat=True))
    assert {"机器", "学习", "人工智能", "神经网络"} <= lexemes
    from apps.rag.retrieval import search

    weather = ingest(zh, title="天气", text="天气预报说明天会下雨。")
    [hit] = search(user=zh.owner, query="什么是深度学习", mode="lexical", k=1)
    assert hit.document_id == document.pk
    assert search(user=zh.owner, query="明天下雨吗", mode="hybrid", k=1)[0].document_id == weather.pk


def test_each_base_has_its_own_hnsw_index(kb):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [kb.hnsw_index_name])
        [definition] = cursor.fetchone()
    assert "hnsw" in definition and "vector_cosine_ops" in definition and f"knowledge_base_id = {kb.pk}" in definition


def test_batch_upload_and_processing_match_the_single_document_path(kb, ingest, django_assert_max_num_queries):
    from apps.rag.services.ingestion import documents_process, documents_upload_many

    ingest(kb, title="Existing", text="Valves hold pressure.")
    files = [
        ("pumps.txt", b"The pump moves water. The pump needs a seal."),
        ("seals.md", b"# Seals\n\nA seal keeps water in."),
        ("copy.txt", b"The pump moves water. The pump needs a seal."),  # same content earlier in the batch
        ("old.txt", b"Valves hold pressure."),  # already in the base
        ("empty.txt", b"   "),
    ]
    uploads = documents_upload_many(kb=kb, files=files)
    assert [u.created for u in uploads] == [True, True, False, False, False]
    assert uploads[2].document is None and "earlier in this batch" in uploads[2].message
    assert uploads[3].document.title == "Existing" and "already in this knowledge base" in uploads[3].message
    assert uploads[4].document is None and uploads[4].message
    assert AuditLog.objects.filter(target_type="rag.document", action="create").count() == 3
    ids = [uploads[0].document.pk, uploads[1].document.pk]
    # the statement count does not grow with documents or chunks (two of them meter the chunks' storage)
    with django_assert_max_num_queries(14):
        documents = documents_process(document_ids=ids)
    assert [d.status for d in documents] == ["ready", "ready"]
    assert [(d.chunks_done, d.chunks_total) for d in documents] == [(1, 1), (1, 1)]
    pump = Chunk.objects.get(document_id=ids[0])
    assert dict(Posting.objects.filter(chunk=pump).values_list("lexeme", "tf")) == {
        "pump": 2,
        "move": 1,
        "water": 1,
        "need": 1,
        "seal": 1,
    }
    assert Term.objects.get(knowledge_base=kb, lexeme="seal").df == 2
    assert Term.objects.get(knowledge_base=kb, lexeme="water").df == 2
    kb.refresh_from_db()
    assert (kb.document_count, kb.chunk_count) == (3, 3)
    assert kb.lexeme_total == sum(Chunk.objects.filter(knowledge_base=kb).values_list("lexeme_count", flat=True))
