import importlib.util

import numpy as np
import pytest

from apps.core.exceptions import ValidationFailed
from apps.core.testing.fake_llm import error
from apps.rag.embeddings import EmbeddingError, backends, get_embedder


def test_registry_lists_the_backends():
    assert {"hashing", "openai", "sentence-transformers"} <= set(backends())
    with pytest.raises(ValidationFailed):
        get_embedder("nope", "m", 8)


def test_hashing_is_deterministic_normalised_and_meaningful():
    embedder = get_embedder("hashing", "hashing-v1", 256)
    vectors = embedder.embed(["wing flutter speed", "wing flutter speeds", "tax law for bakeries", ""])
    assert vectors.shape == (4, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()
    assert np.array_equal(vectors[0], get_embedder("hashing", "hashing-v1", 256).embed(["wing flutter speed"])[0])
    assert float(vectors[0] @ vectors[1]) > 0.7 > float(vectors[0] @ vectors[2])


def _normalised(rows):
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.mark.django_db
def test_openai_backend_batches_retries_and_normalises(settings, fake_llm):
    from apps.chat.models import UsageRecord

    settings.RAG_EMBED_BATCH_SIZE = 2
    settings.RAG_OPENAI_BASE_URL, settings.RAG_OPENAI_API_KEY = fake_llm.base_url, "sk-test"
    fake_llm.reverse_embeddings = True  # the answer's order is the "index" field's, not the list's
    fake_llm.script_embeddings(error(503, "warming up"))  # the first call fails: the gateway retries
    vectors = get_embedder("openai", "tiny", 8).embed(["a", "bb", "ccc"])
    calls = fake_llm.embedding_requests
    assert [c["path"] for c in calls] == ["/v1/embeddings"] * 3  # one retry, then two batches
    assert [c["json"]["input"] for c in calls[1:]] == [["a", "bb"], ["ccc"]]
    assert calls[1]["headers"]["Authorization"] == "Bearer sk-test"
    expected = _normalised([fake_llm.vector(text, 8) for text in ("a", "bb", "ccc")])
    assert np.allclose(vectors, expected, atol=1e-6)
    # each batch is one entry of the gateway's ledger, for the system (no user)
    records = list(UsageRecord.objects.order_by("id"))
    assert [(r.purpose, r.kind, r.model_name, r.user_id, r.outcome) for r in records] == [
        ("rag.embed", "embedding", "tiny", None, "ok")
    ] * 2
    assert [r.prompt_tokens for r in records] == [2, 1]  # the fake reports words as tokens


@pytest.mark.django_db
def test_openai_backend_dimension_mismatch_and_client_errors(settings, fake_llm):
    settings.RAG_OPENAI_BASE_URL = fake_llm.base_url
    with pytest.raises(EmbeddingError, match="returns 8 dimensions"):
        get_embedder("openai", "tiny", 4).embed(["x"])
    fake_llm.script_embeddings(error(401, "bad key"))
    with pytest.raises(EmbeddingError, match=r"refused the request \(401\): bad key") as info:
        get_embedder("openai", "tiny", 8).embed(["y"])
    assert info.value.code == "upstream_error" and info.value.status_code == 503
    assert len(fake_llm.embedding_requests) == 2  # a client error is not retried


@pytest.mark.django_db
def test_openai_backend_uses_a_chat_centre_provider_record(settings, fake_llm):
    from django.db import connection

    from tests.chat.factories import ProviderFactory

    settings.RAG_OPENAI_BASE_URL, settings.RAG_OPENAI_API_KEY = "http://127.0.0.1:9/v1", "sk-settings"
    provider = ProviderFactory(
        name="Embedder", base_url=fake_llm.base_url, api_key="sk-record", extra_headers={"X-Org": "ops"}
    )
    settings.RAG_OPENAI_PROVIDER = "Embedder"
    vectors = get_embedder("openai", "tiny", 8).embed(["abc"])
    assert vectors.shape == (1, 8)
    [call] = fake_llm.embedding_requests
    assert call["headers"]["Authorization"] == "Bearer sk-record" and call["headers"]["X-Org"] == "ops"
    with connection.cursor() as cursor:  # the key is encrypted at rest in the provider record
        cursor.execute("SELECT api_key FROM chat_provider WHERE id = %s", [provider.pk])
        assert b"sk-record" not in bytes(cursor.fetchone()[0])
    provider.enabled = False
    provider.save()
    with pytest.raises(EmbeddingError, match="RAG_OPENAI_PROVIDER names the provider 'Embedder'"):
        get_embedder("openai", "tiny", 8).embed(["abc"])


@pytest.mark.django_db
def test_openai_backend_unreachable_is_a_clear_error(settings):
    settings.RAG_OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = True
    settings.HTTP_RETRY_ATTEMPTS = 2
    with pytest.raises(EmbeddingError) as info:
        get_embedder("openai", "tiny", 4).embed(["x"])
    assert "unreachable" in info.value.message and "after 2 attempts" in info.value.message
    assert info.value.status_code == 503


@pytest.mark.django_db
def test_openai_backend_refuses_private_addresses_unless_allowed(settings, fake_llm):
    settings.AI_ALLOW_PRIVATE_UPSTREAMS = False
    settings.RAG_OPENAI_BASE_URL = fake_llm.base_url
    with pytest.raises(EmbeddingError, match="private, loopback or link-local"):
        get_embedder("openai", "tiny", 8).embed(["x"])
    assert fake_llm.requests == []


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None, reason="optional extra not installed")
def test_sentence_transformers_backend_loads_only_when_selected():  # pragma: no cover - optional
    embedder = get_embedder("sentence-transformers", "sentence-transformers/all-MiniLM-L6-v2", 384)
    assert embedder.embed(["hello"]).shape == (1, 384)


def test_sentence_transformers_missing_package_is_a_clear_error():
    if importlib.util.find_spec("sentence_transformers") is not None:
        pytest.skip("installed")
    with pytest.raises(EmbeddingError, match="optional 'sentence-transformers' package"):
        get_embedder("sentence-transformers", "any", 384).embed(["x"])
