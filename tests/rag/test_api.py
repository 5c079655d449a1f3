from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.core.models import AuditLog
from apps.core.roles import ADMIN, GUEST, MANAGER, USER
from apps.core.testing import assert_anonymous_rejected, assert_error_body, assert_role_access
from apps.rag.models import Document, KnowledgeBase
from tests.rag.factories import KnowledgeBaseFactory

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.django_db
BASE = "/api/v1/rag"


@pytest.fixture
def public_kb(role_users, ingest):
    kb = KnowledgeBaseFactory(owner=role_users[MANAGER], name="Public", visibility="everyone")
    ingest(kb, title="Flutter", text="Wing flutter is an aeroelastic instability.")
    return kb


def test_anonymous_is_rejected_everywhere():
    for method, path in [
        ("get", f"{BASE}/knowledge-bases/"),
        ("get", f"{BASE}/documents/"),
        ("get", f"{BASE}/chunks/"),
        ("post", f"{BASE}/search/"),
        ("post", f"{BASE}/ask/"),
        ("get", f"{BASE}/stats/"),
    ]:
        assert_anonymous_rejected(method, path)


def test_roles_on_each_endpoint(role_client, public_kb):
    everyone = [ADMIN, MANAGER, USER, GUEST]
    writers = [ADMIN, MANAGER, USER]
    assert_role_access(role_client, "get", f"{BASE}/knowledge-bases/", everyone)
    assert_role_access(role_client, "get", f"{BASE}/knowledge-bases/{public_kb.pk}/", everyone)
    assert_role_access(role_client, "get", f"{BASE}/documents/", everyone)
    assert_role_access(role_client, "get", f"{BASE}/chunks/", everyone)
    assert_role_access(role_client, "get", f"{BASE}/stats/", everyone)
    assert_role_access(role_client, "post", f"{BASE}/search/", everyone, {"query": "flutter"})
    assert_role_access(role_client, "post", f"{BASE}/ask/", everyone, {"question": "what is flutter?"})
    assert_role_access(role_client, "post", f"{BASE}/knowledge-bases/", writers, lambda role: {"name": f"KB {role}"})
    own = {role: KnowledgeBase.objects.get(name=f"KB {role}") for role in writers}
    assert_role_access(
        role_client,
        "post",
        f"{BASE}/documents/text/",
        writers,
        lambda role: {"knowledge_base": own.get(role, public_kb).pk, "title": "t", "text": f"text by {role}"},
    )


def test_knowledge_base_crud_and_fixed_settings(role_client):
    client = role_client(USER)
    created = client.post(
        f"{BASE}/knowledge-bases/", {"name": "Ops", "language": "en", "embedding_dimension": 256}, format="json"
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["owner"] == "user-user" and created.json()["embedding_backend"] == "hashing"
    changed = client.patch(f"{BASE}/knowledge-bases/{pk}/", {"bm25_k1": 0.9, "description": "d"}, format="json")
    assert changed.status_code == 200 and changed.json()["bm25_k1"] == 0.9
    fixed = client.patch(f"{BASE}/knowledge-bases/{pk}/", {"embedding_dimension": 128}, format="json")
    assert_error_body(fixed, 400, "invalid")
    bad = client.patch(f"{BASE}/knowledge-bases/{pk}/", {"chunk_overlap": 5000}, format="json")
    assert_error_body(bad, 400)
    assert AuditLog.objects.filter(target_type="rag.knowledgebase", target_id=str(pk), action="update").exists()
    assert client.delete(f"{BASE}/knowledge-bases/{pk}/").status_code == 204
    assert not KnowledgeBase.objects.filter(pk=pk).exists()
    assert AuditLog.objects.filter(target_type="rag.knowledgebase", target_id=str(pk), action="delete").exists()


def test_private_base_is_404_for_others_and_sharing_opens_it(role_client, role_users, ingest):
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="Private")
    ingest(kb, title="Secret", text="Secret flutter notes.")
    guest = role_client(GUEST)
    assert_error_body(guest.get(f"{BASE}/knowledge-bases/{kb.pk}/"), 404, "not_found")
    assert_error_body(guest.post(f"{BASE}/search/", {"query": "flutter", "knowledge_bases": [kb.pk]}), 404)
    assert_error_body(guest.post(f"{BASE}/ask/", {"question": "flutter", "knowledge_bases": [kb.pk]}), 404)
    assert guest.post(f"{BASE}/search/", {"query": "flutter"}).json()["results"] == []
    assert guest.get(f"{BASE}/documents/").json()["count"] == 0
    # another user cannot share or delete it either (it stays invisible)
    assert_error_body(role_client(MANAGER).post(f"{BASE}/knowledge-bases/{kb.pk}/share/", {"user": "guest-user"}), 404)
    owner = role_client(USER)
    shared = owner.post(f"{BASE}/knowledge-bases/{kb.pk}/share/", {"user": "guest-user"}, format="json")
    assert shared.status_code == 200 and shared.json()["visibility"] == "shared"
    results = guest.post(f"{BASE}/search/", {"query": "flutter", "knowledge_bases": [kb.pk]}).json()["results"]
    assert [r["document_title"] for r in results] == ["Secret"]
    # read access does not mean write access
    upload = guest.post(f"{BASE}/documents/text/", {"knowledge_base": kb.pk, "title": "x", "text": "y"})
    assert_error_body(upload, 403)
    assert_error_body(
        role_client(MANAGER).post(f"{BASE}/documents/text/", {"knowledge_base": kb.pk, "title": "x", "text": "y"}),
        404,
    )
    assert owner.post(f"{BASE}/knowledge-bases/{kb.pk}/unshare/", {"user": "guest-user"}).status_code == 200
    assert_error_body(guest.get(f"{BASE}/knowledge-bases/{kb.pk}/"), 404)
    assert_error_body(owner.post(f"{BASE}/knowledge-bases/{kb.pk}/share/", {}), 400)


def test_multipart_upload_of_several_files(role_client, role_users, run_on_commit):
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="Uploads")
    client = role_client(USER)
    files = [
        SimpleUploadedFile("sample.pdf", (FIXTURES / "sample.pdf").read_bytes(), content_type="application/pdf"),
        SimpleUploadedFile("sample.docx", (FIXTURES / "sample.docx").read_bytes()),
        SimpleUploadedFile("sample.html", (FIXTURES / "sample.html").read_bytes(), content_type="text/html"),
    ]
    response = run_on_commit(
        client.post,
        f"{BASE}/documents/",
        {"knowledge_base": kb.pk, "files": files, "tags": ["manuals"]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    results = response.json()["results"]
    assert [r["created"] for r in results] == [True, True, True]
    listing = client.get(f"{BASE}/documents/", {"knowledge_base_id": kb.pk, "status": "ready"}).json()
    assert listing["count"] == 3
    assert {d["progress"] for d in listing["results"]} == {1.0}
    assert all(d["tags"] == ["manuals"] for d in listing["results"])
    again = client.post(
        f"{BASE}/documents/",
        {"knowledge_base": kb.pk, "files": [SimpleUploadedFile("copy.pdf", (FIXTURES / "sample.pdf").read_bytes())]},
        format="multipart",
    )
    assert again.status_code == 202
    assert again.json()["results"][0]["created"] is False
    assert "already in this knowledge base" in again.json()["results"][0]["message"]


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("empty.txt", b"", "empty_document"),
        ("junk.txt", (FIXTURES / "junk.txt").read_bytes(), "binary_content"),
        ("bad.pdf", (FIXTURES / "corrupt.pdf").read_bytes(), "corrupt_document"),
        ("locked.pdf", (FIXTURES / "encrypted.pdf").read_bytes(), "encrypted_document"),
        ("slides.pptx", b"PK\x03\x04", "unsupported_type"),
    ],
)
def test_bad_uploads_are_clear_400s(role_client, role_users, name, data, code):
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="Bad")
    response = role_client(USER).post(
        f"{BASE}/documents/", {"knowledge_base": kb.pk, "files": [SimpleUploadedFile(name, data)]}, format="multipart"
    )
    assert_error_body(response, 400, code)
    assert Document.objects.count() == 0


def test_one_bad_file_refuses_the_whole_upload_and_stores_nothing(role_client, role_users, media_root):
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="All or nothing")
    files = [
        SimpleUploadedFile("good.html", (FIXTURES / "sample.html").read_bytes(), content_type="text/html"),
        SimpleUploadedFile("locked.pdf", (FIXTURES / "encrypted.pdf").read_bytes(), content_type="application/pdf"),
    ]
    response = role_client(USER).post(
        f"{BASE}/documents/", {"knowledge_base": kb.pk, "files": files}, format="multipart"
    )
    error = assert_error_body(response, 400, "encrypted_document")
    assert error["details"]["file"] == "locked.pdf"
    assert "locked.pdf" in error["message"] and "No file of this request was stored" in error["message"]
    assert not Document.objects.exists()
    assert not (media_root / "rag").exists() or not any(p.is_file() for p in (media_root / "rag").rglob("*"))
    kb.refresh_from_db()
    assert kb.document_count == 0


def test_files_over_the_size_limit_are_refused(role_client, role_users, settings):
    settings.RAG_MAX_UPLOAD_BYTES = 1024
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="Limited")
    big = SimpleUploadedFile("big.txt", b"word " * 400, content_type="text/plain")
    response = role_client(USER).post(
        f"{BASE}/documents/", {"knowledge_base": kb.pk, "files": [big]}, format="multipart"
    )
    error = assert_error_body(response, 400, "file_too_large")
    assert error["details"]["limit"] == 1024
    assert not Document.objects.exists()


def test_the_same_content_twice_in_one_upload_is_stored_once(role_client, role_users, run_on_commit):
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="Twice")
    data = (FIXTURES / "sample.md").read_bytes()
    files = [SimpleUploadedFile("a.md", data), SimpleUploadedFile("b.md", data)]
    response = run_on_commit(
        role_client(USER).post, f"{BASE}/documents/", {"knowledge_base": kb.pk, "files": files}, format="multipart"
    )
    assert response.status_code == 202
    first, second = response.json()["results"]
    assert (first["created"], second["created"]) == (True, False)
    assert second["document"]["id"] == first["document"]["id"] and "already" in second["message"]
    assert Document.objects.get().status == "ready"


def test_search_and_ask_bad_input(role_client, public_kb):
    client = role_client(GUEST)
    assert_error_body(client.post(f"{BASE}/search/", {"query": ""}), 400)
    assert_error_body(client.post(f"{BASE}/search/", {"query": "x", "k": 51}), 400)
    assert_error_body(client.post(f"{BASE}/search/", {"query": "x", "mode": "magic"}), 400)
    assert_error_body(client.post(f"{BASE}/search/", {"query": "x", "knowledge_bases": [999999]}), 404)
    assert_error_body(client.post(f"{BASE}/ask/", {"question": "  "}), 400)


def test_search_returns_score_parts_and_ask_cites(role_client, public_kb):
    client = role_client(GUEST)
    body = client.post(f"{BASE}/search/", {"query": "wing flutter", "filters": {"tags": []}}, format="json").json()
    hit = body["results"][0]
    assert body["mode"] == "hybrid"
    assert hit["document_title"] == "Flutter" and hit["lexical_score"] > 0 and hit["vector_score"] > 0
    assert hit["fused_score"] > 0 and "<mark>" in hit["snippet"]
    answer = client.post(f"{BASE}/ask/", {"question": "What is wing flutter?"}, format="json").json()
    assert answer["mode"] == "extractive" and "[1]" in answer["text"]
    assert answer["citations"][0]["document_title"] == "Flutter"


def test_delete_and_reprocess_documents(role_client, role_users, ingest, run_on_commit):
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="Docs")
    document = ingest(kb, title="Doc", text="Some text to keep.")
    client = role_client(USER)
    response = run_on_commit(client.post, f"{BASE}/documents/{document.pk}/reprocess/")
    assert response.status_code == 202 and response["Location"].endswith(f"{BASE}/documents/{document.pk}/")
    assert client.get(response["Location"]).json()["status"] == "ready"  # poll the document
    document.refresh_from_db()
    assert document.status == "ready" and document.attempts == 2
    chunks = client.get(f"{BASE}/chunks/", {"document_id": document.pk}).json()
    assert chunks["count"] == 1 and chunks["results"][0]["text"] == "Some text to keep."
    assert_error_body(role_client(MANAGER).delete(f"{BASE}/documents/{document.pk}/"), 404)
    assert run_on_commit(client.delete, f"{BASE}/documents/{document.pk}/").status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()


def test_list_query_counts_are_pinned(role_client, role_users, ingest, django_assert_max_num_queries):
    kb = KnowledgeBaseFactory(owner=role_users[USER], name="Many")
    for i in range(5):
        ingest(kb, title=f"Doc {i}", text=f"Text number {i} here.")
    client = role_client(USER)
    client.get(f"{BASE}/stats/")  # warm up authentication caches
    with django_assert_max_num_queries(8):
        assert client.get(f"{BASE}/documents/").json()["count"] == 5
    with django_assert_max_num_queries(8):
        assert client.get(f"{BASE}/chunks/").json()["count"] == 5
    with django_assert_max_num_queries(8):
        assert client.get(f"{BASE}/knowledge-bases/").json()["count"] == 1


def test_stats(role_client, public_kb):
    body = role_client(GUEST).get(f"{BASE}/stats/").json()
    assert body == {"knowledge_bases": 1, "documents": {"ready": 1}, "chunks": 1, "answers": 0}


def test_api_key_client_can_search(make_api_key, role_users, public_kb):
    _, secret = make_api_key(role_users[GUEST], scopes=["rag.read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.post(f"{BASE}/search/", {"query": "flutter"}, format="json").status_code == 200
