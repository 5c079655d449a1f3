"""Searches are cached per user until the rights, the bases, their documents or their chunks change."""

from __future__ import annotations

import pytest

from apps.core.roles import GUEST, USER
from apps.core.services import object_share, object_unshare
from apps.rag.retrieval import search
from apps.rag.services import document_delete, knowledge_base_update
from tests.rag.factories import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/rag/search/"


def titles(hits):
    return [h.document_title for h in hits]


def test_a_repeated_search_needs_no_query(kb, ingest, client_for, django_assert_num_queries):
    ingest(kb, title="Flutter", text="Panel flutter at supersonic speeds.")
    client = client_for(kb.owner)
    body = {"query": "panel flutter", "mode": "hybrid", "k": 5}
    first = client.post(SEARCH, body, format="json")
    assert first.status_code == 200 and first.json()["results"]
    with django_assert_num_queries(0):
        second = client.post(SEARCH, body, format="json")
    assert second.json() == first.json()


def test_new_and_deleted_documents_show_at_once(kb, ingest):
    first = ingest(kb, title="First", text="Boundary layer transition on a flat plate.")
    assert titles(search(user=kb.owner, query="boundary layer")) == ["First"]
    ingest(kb, title="Second", text="Boundary layer suction delays transition.")
    assert sorted(titles(search(user=kb.owner, query="boundary layer"))) == ["First", "Second"]
    document_delete(document=first, actor=kb.owner)
    assert titles(search(user=kb.owner, query="boundary layer")) == ["Second"]


def test_granted_and_withdrawn_access_show_at_once(kb, ingest, make_user):
    ingest(kb, title="Plan", text="Wing aerodynamic loads in gusts.")
    guest = make_user(role=GUEST)
    assert search(user=guest, query="wing loads") == []
    object_share(obj=kb, to=guest, level="view")
    assert titles(search(user=guest, query="wing loads")) == ["Plan"]
    object_unshare(obj=kb, to=guest)
    assert search(user=guest, query="wing loads") == []


def test_visibility_change_shows_at_once(kb, ingest, make_user):
    ingest(kb, title="Open", text="Shock wave interaction with a boundary layer.")
    other = make_user(role=USER)
    assert search(user=other, query="shock wave") == []
    knowledge_base_update(kb=kb, visibility="everyone")
    assert titles(search(user=other, query="shock wave")) == ["Open"]


def test_one_users_cached_results_never_reach_another(kb, ingest, make_user):
    ingest(kb, title="Private", text="Heat transfer in laminar flow.")
    assert titles(search(user=kb.owner, query="heat transfer")) == ["Private"]
    stranger = make_user(role=USER)
    KnowledgeBaseFactory(owner=stranger, name="Empty")
    assert search(user=stranger, query="heat transfer") == []


def test_the_api_serves_repeated_searches_from_the_rendered_response_until_data_changes(kb, ingest, client_for):
    from apps.rag import metrics

    ingest(kb, title="First", text="Boundary layer transition on a flat plate.")
    client = client_for(kb.owner)
    body = {"query": "boundary layer", "mode": "lexical", "k": 5}
    first = client.post(SEARCH, body, format="json")
    assert [r["document_title"] for r in first.json()["results"]] == ["First"]
    counted = metrics.SEARCHES.labels(mode="lexical")._value.get()
    again = client.post(SEARCH, body, format="json")
    assert again.content == first.content and again["ETag"]
    assert metrics.SEARCHES.labels(mode="lexical")._value.get() == counted + 1  # cached answers are counted too
    # the same search written differently (key order) is the same request
    assert client.post(SEARCH, {"k": 5, "mode": "lexical", "query": "boundary layer"}, format="json").content == (
        first.content
    )
    ingest(kb, title="Second", text="Boundary layer suction delays transition.")
    fresh = client.post(SEARCH, body, format="json").json()
    assert sorted(r["document_title"] for r in fresh["results"]) == ["First", "Second"]


def test_the_api_response_cache_is_per_user_and_never_caches_errors(kb, ingest, client_for, make_user):
    ingest(kb, title="Private", text="Heat transfer in laminar flow.")
    body = {"query": "heat transfer", "mode": "lexical"}
    assert client_for(kb.owner).post(SEARCH, body, format="json").json()["results"]
    stranger = client_for(make_user(role=USER))
    assert stranger.post(SEARCH, body, format="json").json()["results"] == []
    bad = {"query": "heat transfer", "mode": "nonsense"}
    assert stranger.post(SEARCH, bad, format="json").status_code == 400
    assert stranger.post(SEARCH, bad, format="json").status_code == 400
