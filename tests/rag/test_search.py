import math

import pytest
from django.db import connection, transaction

from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.services import object_share
from apps.rag.choices import Visibility
from apps.rag.models import Answer
from apps.rag.retrieval import Filters, rank, search, vector_sql
from apps.rag.services import ask, knowledge_base_update
from apps.rag.services.answers import EXTRACTIVE_LABEL, NOTHING_FOUND
from tests.rag.factories import KnowledgeBaseFactory
from tests.rag.loopback import loopback_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(kb, ingest):
    docs = {
        "flutter": ingest(
            kb, title="Flutter", text="Wing flutter is an aeroelastic instability of wings.", tags=["aero"]
        ),
        "layers": ingest(kb, title="Layers", text="Boundary layer transition on a flat plate at high speed."),
        "heat": ingest(kb, title="Heat", text="Heat conduction in composite slabs was solved.", tags=["thermal"]),
        "plural": ingest(kb, title="Plural", text="Flutters, wingtips and instabilities."),
    }
    return kb, docs


def titles(hits):
    return [hit.document_title for hit in hits]


def test_bm25_uses_or_semantics_and_ranks_by_term_weight(corpus):
    kb, _ = corpus
    hits = search(user=kb.owner, query="what causes wing flutter in aircraft", mode="lexical")
    assert titles(hits)[:2] == ["Flutter", "Plural"]
    assert hits[0].lexical_score > hits[1].lexical_score > 0
    assert hits[0].vector_score is None and hits[0].fused_score is None


def test_bm25_with_a_small_postings_budget_keeps_exact_scores(corpus, settings):
    kb, _ = corpus
    query = "wing flutter instability of a flat plate"
    full = dict(rank_pairs(kb, query))
    settings.RAG_BM25_POSTINGS_BUDGET = 1  # candidates from the rarest term only, the rest added from tsvectors
    pruned = rank_pairs(kb, query)
    assert pruned and all(score == pytest.approx(full[chunk_id]) for chunk_id, score in pruned)


def rank_pairs(kb, query):
    return [(hit.chunk_id, hit.lexical_score) for hit in rank([kb], query, mode="lexical", k=10)]


def test_exact_mode_uses_websearch_syntax(corpus):
    kb, _ = corpus
    assert titles(search(user=kb.owner, query='"flat plate"', mode="exact")) == ["Layers"]
    assert titles(search(user=kb.owner, query="flutter -wing", mode="exact")) == ["Plural"]
    assert search(user=kb.owner, query="flutter slabs", mode="exact") == []  # AND semantics


def test_vector_mode_matches_spelling_variants(corpus):
    kb, _ = corpus
    hits = search(user=kb.owner, query="wingtip instabilities", mode="vector", k=2)
    assert hits[0].document_title == "Plural" and 0 < hits[0].vector_score <= 1


def test_hybrid_fuses_with_rrf_when_lexical_and_vector_disagree(corpus):
    kb, _ = corpus
    query = "flutter instability"
    lexical = rank([kb], query, mode="lexical", k=10)
    vector = rank([kb], query, mode="vector", k=10)
    hybrid = search(user=kb.owner, query=query, mode="hybrid", k=4)
    lex_rank = {h.chunk_id: i for i, h in enumerate(lexical, start=1)}
    vec_rank = {h.chunk_id: i for i, h in enumerate(vector, start=1)}
    for hit in hybrid:
        expected = 0.0
        if hit.chunk_id in lex_rank:
            expected += kb.lexical_weight / (kb.rrf_k + lex_rank[hit.chunk_id])
        if hit.chunk_id in vec_rank:
            expected += kb.vector_weight / (kb.rrf_k + vec_rank[hit.chunk_id])
        assert hit.fused_score == pytest.approx(expected, abs=1e-6)
        assert hit.lexical_rank == lex_rank.get(hit.chunk_id) and hit.vector_rank == vec_rank.get(hit.chunk_id)
    assert [h.fused_score for h in hybrid] == sorted((h.fused_score for h in hybrid), reverse=True)
    # with the vector weight raised far above the lexical one, the vector order wins
    knowledge_base_update(kb=kb, vector_weight=10.0, lexical_weight=0.01)
    kb.refresh_from_db()
    reweighted = rank([kb], query, mode="hybrid", k=2)
    assert [h.chunk_id for h in reweighted] == [h.chunk_id for h in vector[:2]]


def test_hits_carry_title_snippet_and_location(corpus):
    kb, docs = corpus
    [hit] = search(user=kb.owner, query="composite slabs", mode="lexical", k=1)
    assert hit.document_id == docs["heat"].pk and hit.knowledge_base == kb.name
    assert "<mark>composite</mark>" in hit.snippet and "<mark>slabs</mark>" in hit.snippet
    assert hit.text.startswith("Heat conduction")


def test_filters_on_documents_tags_mime_and_dates(corpus):
    kb, docs = corpus
    by_tag = search(user=kb.owner, query="flutter heat", mode="hybrid", filters=Filters(tags=["thermal"]))
    assert titles(by_tag) == ["Heat"]
    by_doc = search(user=kb.owner, query="flutter", mode="vector", filters=Filters(document_ids=[docs["layers"].pk]))
    assert titles(by_doc) == ["Layers"]
    assert search(user=kb.owner, query="flutter", filters=Filters(mime_types=["application/pdf"])) == []
    later = docs["plural"].created_at
    assert titles(search(user=kb.owner, query="flutter", mode="lexical", filters=Filters(created_after=later))) == [
        "Plural"
    ]


def test_hnsw_index_is_used(corpus):
    kb, _ = corpus
    sql, params = vector_sql(kb, Filters())
    params.update(vec="[" + ",".join(["0.1"] * kb.embedding_dimension) + "]", limit=5)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Scan using {kb.hnsw_index_name}" in plan, plan


def test_gin_index_serves_exact_matches(corpus):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM rag_chunk WHERE search_vector @@ websearch_to_tsquery('english', 'flutter')"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "rag_chunk_search_vector" in plan, plan


def test_bad_queries(corpus):
    kb, _ = corpus
    with pytest.raises(ValidationFailed, match="empty"):
        search(user=kb.owner, query="   ")
    with pytest.raises(ValidationFailed, match="k must be"):
        search(user=kb.owner, query="flutter", k=51)
    with pytest.raises(ValidationFailed):
        search(user=kb.owner, query="flutter", mode="psychic")


def test_private_bases_of_others_are_never_searched(corpus, make_user, ingest):
    kb, _ = corpus
    stranger = make_user(role="user")
    theirs = KnowledgeBaseFactory(owner=stranger, name="Stranger's")
    ingest(theirs, title="Secret", text="Secret flutter notes.")
    # the owner's unscoped search never reaches the stranger's base, and naming it is a 404
    assert "Secret" not in titles(search(user=kb.owner, query="flutter"))
    with pytest.raises(NotFound):
        search(user=kb.owner, query="flutter", knowledge_base_ids=[theirs.pk])
    with pytest.raises(NotFound):
        ask(user=kb.owner, question="flutter?", knowledge_base_ids=[theirs.pk])
    assert all(h.document_title != "Secret" for h in ask(user=kb.owner, question="flutter notes").hits)
    # a grant to a group of the user opens it; visibility 'everyone' opens it to every rag.read holder
    guest = make_user(role="guest")
    assert search(user=guest, query="flutter") == []
    object_share(obj=theirs, to=guest.groups.get(), level="view")
    assert titles(search(user=guest, query="flutter")) == ["Secret"]
    knowledge_base_update(kb=kb, visibility=Visibility.EVERYONE)
    assert "Flutter" in titles(search(user=guest, query="flutter", k=10))


def test_extractive_answer_cites_the_right_chunks(corpus):
    kb, docs = corpus
    answer = ask(user=kb.owner, question="How was heat conduction in composite slabs handled?", k=3)
    assert answer.mode == "extractive"
    assert answer.text.startswith(EXTRACTIVE_LABEL)
    assert "Heat conduction in composite slabs was solved. [1]" in answer.text
    assert answer.citations[0]["document_id"] == docs["heat"].pk
    assert answer.chunk_ids[0] == answer.citations[0]["chunk_id"]
    assert Answer.objects.get(pk=answer.pk).knowledge_bases.get() == kb


def test_nothing_found(kb):
    answer = ask(user=kb.owner, question="anything at all?")
    assert (answer.text, answer.citations) == (NOTHING_FOUND, [])


def test_llm_answer_through_an_openai_compatible_endpoint(corpus, settings):
    kb, docs = corpus

    def fake_chat(path, body, calls):
        prompt = body["messages"][1]["content"]
        assert "Question: What is flutter?" in prompt and "[1]" in prompt
        return 200, {"choices": [{"message": {"role": "assistant", "content": "An instability of wings [1]."}}]}

    with loopback_server(fake_chat) as (url, calls):
        settings.RAG_LLM_BASE_URL, settings.RAG_LLM_MODEL, settings.RAG_LLM_API_KEY = url, "tiny-chat", "k"
        answer = ask(user=kb.owner, question="What is flutter?", k=2)
    assert calls[0]["path"] == "/v1/chat/completions" and calls[0]["body"]["model"] == "tiny-chat"
    assert (answer.mode, answer.model, answer.text) == ("llm", "tiny-chat", "An instability of wings [1].")
    assert [c["number"] for c in answer.citations] == [1]
    assert answer.citations[0]["chunk_id"] == answer.hits[0].chunk_id
    assert answer.citations[0]["document_id"] in {docs["flutter"].pk, docs["plural"].pk}


def test_a_query_of_stop_words_only_has_no_vector_neighbours(corpus, client_for):
    kb, _ = corpus
    # the hashing embedder drops these words: the query vector is zero and has no cosine similarity to anything
    assert search(user=kb.owner, query="of a", mode="vector") == []
    for hit in search(user=kb.owner, query="of a in", mode="hybrid"):
        assert all(math.isfinite(v) for v in (hit.score, hit.fused_score) if v is not None)
        assert hit.vector_score is None or math.isfinite(hit.vector_score)
    response = client_for(kb.owner).post("/api/v1/rag/search/", {"query": "of a", "mode": "hybrid"}, format="json")
    assert response.status_code == 200
