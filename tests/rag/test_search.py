import math
from decimal import Decimal

import pytest
from django.db import connection, transaction

from apps.chat.models import UsageRecord
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.roles import GUEST, USER
from apps.core.services import object_share
from apps.core.testing import assert_error_body
from apps.core.testing.fake_llm import completion
from apps.rag.choices import Visibility
from apps.rag.models import Answer
from apps.rag.retrieval import Filters, rank, search, vector_sql
from apps.rag.services import ask, knowledge_base_update
from apps.rag.services.answers import EXTRACTIVE_LABEL, NOTHING_FOUND
from tests.rag.factories import KnowledgeBaseFactory

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


def test_hybrid_order_on_a_hand_made_corpus_where_lexical_and_vector_disagree(kb, ingest):
    ingest(kb, title="A", text="Wing flutter is an aeroelastic instability.")
    ingest(kb, title="B", text="Flutter of wings: flutter, flutter and more flutter testing.")
    ingest(kb, title="C", text="Wingtip instabilities and fluttering wingtips of aircraft wings.")
    query = "wingtip flutter"
    # BM25 puts C first (the rare term "wingtip" twice); the hashing vectors put B first (four "flutter" features)
    assert titles(search(user=kb.owner, query=query, mode="lexical")) == ["C", "B", "A"]
    assert titles(search(user=kb.owner, query=query, mode="vector")) == ["B", "C", "A"]

    def fused(lexical_rank, vector_rank, kb):
        return kb.lexical_weight / (kb.rrf_k + lexical_rank) + kb.vector_weight / (kb.rrf_k + vector_rank)

    # default weights (lexical 1.0, vector 0.2, k 60): C = 1/61 + 0.2/62 = 0.019619 > B = 1/62 + 0.2/61 = 0.019408
    hits = search(user=kb.owner, query=query, mode="hybrid")
    assert titles(hits) == ["C", "B", "A"]
    assert [h.fused_score for h in hits] == pytest.approx([0.019619, 0.019408, 0.019048], abs=1e-6)
    assert [h.fused_score for h in hits] == pytest.approx([fused(1, 2, kb), fused(2, 1, kb), fused(3, 3, kb)], abs=1e-6)
    # vector weight 2: B = 1/62 + 2/61 = 0.048916 > C = 1/61 + 2/62 = 0.048652: the vector order wins
    kb = knowledge_base_update(kb=kb, vector_weight=2.0)
    hits = search(user=kb.owner, query=query, mode="hybrid")
    assert titles(hits) == ["B", "C", "A"]
    assert [h.fused_score for h in hits] == pytest.approx([0.048916, 0.048652, 0.047619], abs=1e-6)
    assert [(h.lexical_rank, h.vector_rank) for h in hits] == [(2, 1), (1, 2), (3, 3)]


def test_snippets_are_escaped_html_with_only_mark_tags(kb, ingest):
    ingest(kb, title="Markup", text="Use <script>alert(1)</script> & the pump valve <b>carefully</b>.")
    [hit] = search(user=kb.owner, query="pump valve", mode="lexical", k=1)
    assert "<mark>pump</mark> <mark>valve</mark>" in hit.snippet
    assert "<script>" not in hit.snippet and "<b>" not in hit.snippet
    assert hit.snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0
    assert "<script>" in hit.text  # the chunk text itself is returned as stored


def test_chinese_snippets_highlight_the_segmented_query_words(make_user, ingest):
    from apps.rag.services import knowledge_base_create

    zh = knowledge_base_create(owner=make_user(role=USER), name="中文片段", language="zh")
    ingest(zh, title="天气", text="天气预报说明天会下雨。<b>带伞</b>")
    [hit] = search(user=zh.owner, query="明天下雨吗", mode="lexical", k=1)
    assert "<mark>明天</mark>" in hit.snippet and "<mark>下雨</mark>" in hit.snippet
    assert "&lt;b&gt;" in hit.snippet and "<b>" not in hit.snippet


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
    stranger = make_user(role=USER)
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
    guest = make_user(role=GUEST)
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


def test_llm_answer_through_an_openai_compatible_endpoint(corpus, settings, fake_llm):
    kb, docs = corpus
    fake_llm.script(completion("An instability of wings [1].", prompt=40, completion_tokens=7))
    settings.RAG_LLM_BASE_URL, settings.RAG_LLM_MODEL, settings.RAG_LLM_API_KEY = fake_llm.base_url, "tiny-chat", "k"
    answer = ask(user=kb.owner, question="What is flutter?", k=2)
    [call] = fake_llm.chat_requests
    prompt = call["json"]["messages"][1]["content"]
    assert "Question: What is flutter?" in prompt and "[1]" in prompt
    assert call["path"] == "/v1/chat/completions" and call["json"]["model"] == "tiny-chat"
    assert (answer.mode, answer.model, answer.text) == ("llm", "tiny-chat", "An instability of wings [1].")
    assert [c["number"] for c in answer.citations] == [1]
    assert answer.citations[0]["chunk_id"] == answer.hits[0].chunk_id
    assert answer.citations[0]["document_id"] in {docs["flutter"].pk, docs["plural"].pk}
    [record] = UsageRecord.objects.all()
    assert (record.user, record.purpose, record.model_name, record.model) == (kb.owner, "rag.ask", "tiny-chat", None)
    assert (record.prompt_tokens, record.completion_tokens, record.outcome) == (40, 7, "ok")


def test_llm_answer_through_the_chat_centres_provider_record(corpus, settings, fake_llm):
    from tests.chat.factories import ChatModelFactory, ProviderFactory

    kb, _ = corpus
    fake_llm.script(completion("Flutter is an instability of wings [2].", prompt=100, completion_tokens=10))
    provider = ProviderFactory(base_url=fake_llm.base_url, api_key="sk-provider", extra_headers={"X-Team": "kb"})
    model = ChatModelFactory(slug="kb-writer", provider=provider, upstream_model="up-7b", max_tokens=300)
    settings.RAG_LLM_CHAT_MODEL = "kb-writer"
    settings.RAG_LLM_BASE_URL, settings.RAG_LLM_MODEL = "http://127.0.0.1:9/v1", "not-used"
    answer = ask(user=kb.owner, question="What is flutter?", k=3)
    [call] = fake_llm.chat_requests
    assert call["path"] == "/v1/chat/completions" and call["headers"]["Authorization"] == "Bearer sk-provider"
    assert call["headers"]["X-Team"] == "kb"
    assert (call["json"]["model"], call["json"]["max_tokens"]) == ("up-7b", 300)
    assert (answer.mode, answer.model) == ("llm", "kb-writer")
    assert [c["number"] for c in answer.citations] == [2]
    assert answer.chunk_ids == [answer.hits[1].chunk_id]
    # metered at the chat model's prices: (100 * 0.5 + 10 * 1.5) / 1000
    [record] = UsageRecord.objects.all()
    assert (record.model, record.purpose, record.cost) == (model, "rag.ask", Decimal("0.065000"))


def test_ask_with_a_chat_model_the_user_may_use(corpus, make_user, client_for, fake_llm):
    from django.contrib.auth.models import Group

    from tests.chat.factories import BuiltinProviderFactory, ChatModelFactory, ProviderFactory

    kb, _ = corpus
    fake_llm.script(completion("Wings flutter [1]."))
    ChatModelFactory(slug="open-model", provider=ProviderFactory(base_url=fake_llm.base_url))
    restricted = ChatModelFactory(slug="staff-model", provider=ProviderFactory(base_url=fake_llm.base_url))
    restricted.visible_to_groups.add(Group.objects.create(name="kb-staff-only"))
    ChatModelFactory(slug="builtin-model", provider=BuiltinProviderFactory())
    client = client_for(kb.owner)
    body = client.post("/api/v1/rag/ask/", {"question": "flutter?", "model": "open-model"}, format="json").json()
    assert (body["mode"], body["model"], body["text"]) == ("llm", "open-model", "Wings flutter [1].")
    hidden = client.post("/api/v1/rag/ask/", {"question": "flutter?", "model": "staff-model"}, format="json")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "model_not_found"
    builtin = client.post("/api/v1/rag/ask/", {"question": "flutter?", "model": "builtin-model"}, format="json")
    assert builtin.json()["mode"] == "extractive" and builtin.json()["text"].startswith(EXTRACTIVE_LABEL)
    assert len(fake_llm.chat_requests) == 1


def test_ask_is_refused_over_quota_and_its_tokens_count(corpus, settings, client_for, fake_llm):
    """The ask path goes through the gateway: the daily quota is checked before the upstream is called, and the
    answer's tokens are recorded for the asking user (so they count against the same quota as chat)."""
    from tests.chat.factories import ChatModelFactory, ProviderFactory

    kb, _ = corpus
    settings.CHAT_USER_DAILY_TOKEN_QUOTA = 50
    ChatModelFactory(slug="kb-writer", provider=ProviderFactory(base_url=fake_llm.base_url))
    settings.RAG_LLM_CHAT_MODEL = "kb-writer"
    fake_llm.script(completion("Wings flutter [1].", prompt=45, completion_tokens=5))
    client = client_for(kb.owner)
    first = client.post("/api/v1/rag/ask/", {"question": "What is flutter?"}, format="json")
    assert first.status_code == 200 and first.json()["mode"] == "llm"
    [record] = UsageRecord.objects.filter(user=kb.owner)
    assert (record.purpose, record.prompt_tokens, record.completion_tokens) == ("rag.ask", 45, 5)
    over = client.post("/api/v1/rag/ask/", {"question": "What is flutter?"}, format="json")
    assert_error_body(over, 429, "quota_exceeded")
    details = over.json()["error"]["details"]
    assert (details["meter"], details["period"], details["limit"], details["used"]) == ("llm.tokens", "day", "50", "50")
    assert int(over["Retry-After"]) >= 1
    assert len(fake_llm.chat_requests) == 1  # refused before the upstream was called
    assert Answer.objects.count() == 1
    # chat tokens and ask tokens are one quota: a fresh user is not refused
    other = client_for(KnowledgeBaseFactory(name="Other").owner)
    assert other.post("/api/v1/rag/ask/", {"question": "flutter?"}, format="json").status_code == 200


def test_an_unusable_llm_upstream_is_a_clear_error(corpus, settings, client_for):
    from tests.chat.factories import ChatModelFactory, ProviderFactory

    kb, _ = corpus
    settings.HTTP_RETRY_ATTEMPTS, settings.HTTP_RETRY_BACKOFF = 1, 0.0
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = True
    ChatModelFactory(slug="down", provider=ProviderFactory(base_url="http://127.0.0.1:9/v1"))
    settings.RAG_LLM_CHAT_MODEL = "down"
    response = client_for(kb.owner).post("/api/v1/rag/ask/", {"question": "What is flutter?"}, format="json")
    assert response.status_code == 502 and "unreachable" in response.json()["error"]["message"]
    [record] = UsageRecord.objects.all()  # the failed call is in the ledger too
    assert (record.purpose, record.outcome, record.prompt_tokens) == ("rag.ask", "upstream_down", 0)
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = False  # a provider at a private address is refused, never contacted
    response = client_for(kb.owner).post("/api/v1/rag/ask/", {"question": "What is flutter?"}, format="json")
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_address_refused"
    settings.RAG_LLM_CHAT_MODEL = "missing"
    response = client_for(kb.owner).post("/api/v1/rag/ask/", {"question": "What is flutter?"}, format="json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "llm_not_configured"
    assert not Answer.objects.exists()


def test_a_query_of_stop_words_only_has_no_vector_neighbours(corpus, client_for):
    kb, _ = corpus
    # the hashing embedder drops these words: the query vector is zero and has no cosine similarity to anything
    assert search(user=kb.owner, query="of a", mode="vector") == []
    for hit in search(user=kb.owner, query="of a in", mode="hybrid"):
        assert all(math.isfinite(v) for v in (hit.score, hit.fused_score) if v is not None)
        assert hit.vector_score is None or math.isfinite(hit.vector_score)
    response = client_for(kb.owner).post("/api/v1/rag/search/", {"query": "of a", "mode": "hybrid"}, format="json")
    assert response.status_code == 200
