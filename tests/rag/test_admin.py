import pytest
from django.contrib.auth import get_user_model

from apps.core.roles import GUEST, USER
from apps.rag.models import Document, KnowledgeBase
from tests.rag.factories import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(admin_user, ingest):
    kb = KnowledgeBaseFactory(owner=admin_user, name="Admin base")
    document = ingest(kb, title="Flutter", text="Wing flutter is an aeroelastic instability.")
    return kb, document


def test_admin_creates_a_base_through_the_service(admin_client, admin_user):
    response = admin_client.post(
        "/admin/rag/knowledgebase/add/",
        {
            "name": "From admin", "description": "", "owner": admin_user.pk, "visibility": "private",
            "language": "en", "embedding_backend": "hashing", "embedding_model": "hashing-v1",
            "embedding_dimension": 64, "chunk_size": 200, "chunk_overlap": 20, "bm25_k1": 1.2, "bm25_b": 0.75,
            "rrf_k": 60, "lexical_weight": 1, "vector_weight": 0.5,
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    kb = KnowledgeBase.objects.get(name="From admin")
    assert kb.embedding_dimension == 64


def test_admin_pages_render(admin_client, corpus):
    kb, document = corpus
    assert admin_client.get(f"/admin/rag/knowledgebase/{kb.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/rag/document/{document.pk}/change/").status_code == 200
    chunk = document.chunks.get()
    assert admin_client.get(f"/admin/rag/chunk/{chunk.pk}/change/").status_code == 200
    page = admin_client.get("/admin/rag/document/").content.decode()
    assert "1/1" in page


def test_try_a_search_page_shows_score_parts(admin_client, corpus):
    response = admin_client.get("/admin/rag/knowledgebase/search/", {"query": "wing flutter", "mode": "hybrid", "k": 5})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Flutter" in html and "Fused (RRF)" in html
    assert response.context["hits"][0].lexical_score > 0


def test_reprocess_action(admin_client, corpus, django_capture_on_commit_callbacks):
    _, document = corpus
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/rag/document/", {"action": "reprocess", "_selected_action": [document.pk]})
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.attempts == 2 and document.status == "ready"


def test_guest_staff_can_search_but_not_edit(client, corpus):
    guest = get_user_model().objects.create_user("guest-staff", is_staff=True)
    from django.contrib.auth.models import Group

    guest.groups.add(Group.objects.get(name=GUEST))
    client.force_login(guest)
    assert (
        client.get("/admin/rag/knowledgebase/search/", {"query": "flutter", "mode": "lexical", "k": 5}).status_code
        == 200
    )
    assert client.get("/admin/rag/knowledgebase/add/").status_code == 403
    assert Document.objects.count() == 1


ADD = "/admin/rag/document/add/"


def test_admin_adds_files_text_and_a_url(admin_client, admin_user, settings, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.rag.loopback import file_server

    kb = KnowledgeBaseFactory(owner=admin_user, name="Desk")
    assert admin_client.get(ADD).status_code == 200
    files = [
        SimpleUploadedFile("a.md", b"# Wings\n\nFlutter of thin wings.", content_type="text/markdown"),
        SimpleUploadedFile("b.txt", b"Boundary layer transition notes.", content_type="text/plain"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD, {"knowledge_base": kb.pk, "files": files, "tags": "aero, notes"})
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(ADD, {"knowledge_base": kb.pk, "title": "Memo", "text": "Shock waves over a wedge."})
    settings.RAG_URL_ALLOW_PRIVATE = True
    page = b"<html><head><title>Panel flutter</title></head><body><p>Panels flutter at Mach 2.</p></body></html>"
    with file_server({"/page.html": (200, {"Content-Type": "text/html"}, page)}) as (base, _):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(ADD, {"knowledge_base": kb.pk, "url": f"{base}/page.html"})
    documents = {d.title: d for d in Document.objects.filter(knowledge_base=kb)}
    assert set(documents) >= {"Memo", "Panel flutter"} and len(documents) == 4
    assert all(d.status == "ready" for d in documents.values())
    assert documents["Memo"].source == "text"
    assert documents["Panel flutter"].source == "url"
    assert sorted(Document.objects.get(original_name="b.txt").tags) == ["aero", "notes"]
    # the same file again is not added twice, and says so
    with django_capture_on_commit_callbacks(execute=True):
        again = admin_client.post(
            ADD,
            {"knowledge_base": kb.pk, "files": [SimpleUploadedFile("b.txt", b"Boundary layer transition notes.")]},
            follow=True,
        )
    assert Document.objects.filter(knowledge_base=kb).count() == 4
    assert any("already" in str(m).lower() for m in again.context["messages"])


def test_admin_add_refuses_bad_input_without_writing(admin_client, admin_user):
    kb = KnowledgeBaseFactory(owner=admin_user, name="Desk")
    both = admin_client.post(ADD, {"knowledge_base": kb.pk, "text": "x", "url": "https://example.com/a"})
    assert both.status_code == 200 and "exactly one" in both.content.decode()
    refused = admin_client.post(ADD, {"knowledge_base": kb.pk, "url": "http://127.0.0.1:9/secret"})
    assert refused.status_code == 200
    assert Document.objects.count() == 0


def test_admin_add_offers_only_bases_the_user_may_change(client, make_user):
    clerk = make_user(role=USER, is_staff=True)
    own = KnowledgeBaseFactory(owner=clerk, name="Mine")
    theirs = KnowledgeBaseFactory(owner=make_user(role=USER), name="Theirs", visibility="everyone")
    client.force_login(clerk)
    page = client.get(ADD)
    assert page.status_code == 200
    choices = {c.instance.pk for c, _ in page.context["form"].fields["knowledge_base"].choices if c}
    assert choices == {own.pk}
    response = client.post(ADD, {"knowledge_base": theirs.pk, "text": "Injected", "title": "X"})
    assert response.status_code == 200 and Document.objects.count() == 0
    guest = make_user(role=GUEST, is_staff=True)
    client.force_login(guest)
    assert client.get(ADD).status_code == 403


def test_admin_add_keeps_good_files_and_names_the_refused_one(admin_client, admin_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    kb = KnowledgeBaseFactory(owner=admin_user, name="Desk")
    files = [
        SimpleUploadedFile("tool.exe", b"MZ binary", content_type="application/octet-stream"),
        SimpleUploadedFile("good.txt", b"Heat transfer in laminar flow.", content_type="text/plain"),
    ]
    response = admin_client.post(ADD, {"knowledge_base": kb.pk, "files": files}, follow=True)
    assert response.status_code == 200
    assert list(Document.objects.values_list("original_name", flat=True)) == ["good.txt"]
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("tool.exe:") for m in shown), shown
