import importlib.util

import numpy as np
import pytest

from apps.core.exceptions import ValidationFailed
from apps.rag.embeddings import EmbeddingError, backends, get_embedder
from tests.rag.loopback import loopback_server


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


def _fake_embeddings(path, body, calls):
    if len(calls) == 1:
        return 503, {"error": "warming up"}  # the first call fails: the client retries
    data = [{"index": i, "embedding": [float(len(text)), 1.0, 0.0, 0.0]} for i, text in enumerate(body["input"])]
    return 200, {"data": list(reversed(data)), "model": body["model"]}


def test_openai_backend_batches_retries_and_normalises(settings):
    settings.RAG_EMBED_BATCH_SIZE = 2
    settings.RAG_OPENAI_API_KEY = "sk-test"
    with loopback_server(_fake_embeddings) as (url, calls):
        settings.RAG_OPENAI_BASE_URL = url
        vectors = get_embedder("openai", "tiny", 4).embed(["a", "bb", "ccc"])
    assert [c["path"] for c in calls] == ["/v1/embeddings"] * 3  # one retry, then two batches
    assert [c["body"]["input"] for c in calls[1:]] == [["a", "bb"], ["ccc"]]
    assert calls[1]["auth"] == "Bearer sk-test"
    expected = np.array([[1, 1, 0, 0], [2, 1, 0, 0], [3, 1, 0, 0]], dtype=np.float32)
    assert np.allclose(vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True))


def test_openai_backend_dimension_mismatch_and_client_errors(settings):
    with loopback_server(lambda p, b, c: (200, {"data": [{"index": 0, "embedding": [1.0, 2.0]}]})) as (url, _):
        settings.RAG_OPENAI_BASE_URL = url
        with pytest.raises(EmbeddingError, match="returns 2 dimensions"):
            get_embedder("openai", "tiny", 4).embed(["x"])
    with loopback_server(lambda p, b, c: (401, {"error": "bad key"})) as (url, calls):
        settings.RAG_OPENAI_BASE_URL = url
        with pytest.raises(EmbeddingError, match="HTTP 401"):
            get_embedder("openai", "tiny", 4).embed(["x"])
    assert len(calls) == 1  # a client error is not retried


@pytest.mark.django_db
def test_openai_backend_uses_a_chat_centre_provider_record(settings):
    from django.db import connection

    from tests.chat.factories import ProviderFactory

    settings.RAG_OPENAI_BASE_URL, settings.RAG_OPENAI_API_KEY = "http://127.0.0.1:9/v1", "sk-settings"
    with loopback_server(_fake_embeddings) as (url, calls):
        provider = ProviderFactory(name="Embedder", base_url=url, api_key="sk-record", extra_headers={"X-Org": "ops"})
        settings.RAG_OPENAI_PROVIDER = "Embedder"
        vectors = get_embedder("openai", "tiny", 4).embed(["abc"])
    assert vectors.shape == (1, 4)
    assert calls[-1]["auth"] == "Bearer sk-record" and calls[-1]["headers"]["X-Org"] == "ops"
    with connection.cursor() as cursor:  # the key is encrypted at rest in the provider record
        cursor.execute("SELECT api_key FROM chat_provider WHERE id = %s", [provider.pk])
        assert b"sk-record" not in bytes(cursor.fetchone()[0])
    provider.enabled = False
    provider.save()
    with pytest.raises(EmbeddingError, match="RAG_OPENAI_PROVIDER names the provider 'Embedder'"):
        get_embedder("openai", "tiny", 4).embed(["abc"])


def test_openai_backend_unreachable_is_a_clear_error(settings):
    settings.RAG_OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.RAG_HTTP_RETRIES = 1
    with pytest.raises(EmbeddingError) as info:
        get_embedder("openai", "tiny", 4).embed(["x"])
    assert "unreachable" in info.value.message and "after 2 attempts" in info.value.message
    assert info.value.status_code == 503


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None, reason="optional extra not installed")
def test_sentence_transformers_backend_loads_only_when_selected():  # pragma: no cover - optional
    embedder = get_embedder("sentence-transformers", "sentence-transformers/all-MiniLM-L6-v2", 384)
    assert embedder.embed(["hello"]).shape == (1, 384)


def test_sentence_transformers_missing_package_is_a_clear_error():
    if importlib.util.find_spec("sentence_transformers") is not None:
        pytest.skip("installed")
    with pytest.raises(EmbeddingError, match="optional 'sentence-transformers' package"):
        get_embedder("sentence-transformers", "any", 384).embed(["x"])
