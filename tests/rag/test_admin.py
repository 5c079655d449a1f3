import pytest
from django.contrib.auth import get_user_model

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

    guest.groups.add(Group.objects.get(name="guest"))
    client.force_login(guest)
    assert (
        client.get("/admin/rag/knowledgebase/search/", {"query": "flutter", "mode": "lexical", "k": 5}).status_code
        == 200
    )
    assert client.get("/admin/rag/knowledgebase/add/").status_code == 403
    assert Document.objects.count() == 1
