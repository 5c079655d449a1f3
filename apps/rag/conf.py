"""Knowledge-base settings with their defaults; each may be overridden in the Django settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def max_upload_bytes() -> int:
    return int(setting("RAG_MAX_UPLOAD_BYTES", 50 * 1024 * 1024))


def max_k() -> int:
    """The largest ``k`` a search or ask request may ask for."""
    return int(setting("RAG_MAX_K", 50))


def default_embedding() -> tuple[str, str, int]:
    return (
        setting("RAG_EMBEDDING_BACKEND", "hashing"),
        setting("RAG_EMBEDDING_MODEL", "hashing-v1"),
        int(setting("RAG_EMBEDDING_DIMENSION", 384)),
    )


def embed_batch_size() -> int:
    return int(setting("RAG_EMBED_BATCH_SIZE", 64))


def openai_base_url() -> str | None:
    return setting("RAG_OPENAI_BASE_URL", None)


def openai_api_key() -> str | None:
    return setting("RAG_OPENAI_API_KEY", None)


def http_timeout() -> float:
    """Seconds per attempt of a call to RAG_OPENAI_BASE_URL or RAG_LLM_BASE_URL (retries: HTTP_RETRY_*)."""
    return float(setting("RAG_HTTP_TIMEOUT", 30.0))


def openai_provider() -> str | None:
    """Name of a chat-centre provider record whose base URL, encrypted API key, headers and timeout the ``openai``
    embedding backend uses instead of RAG_OPENAI_BASE_URL / RAG_OPENAI_API_KEY."""
    return setting("RAG_OPENAI_PROVIDER", None)


def llm_chat_model() -> str | None:
    """Slug of the chat-centre model that writes generated answers (see llm.py); takes precedence over
    RAG_LLM_BASE_URL / RAG_LLM_MODEL."""
    return setting("RAG_LLM_CHAT_MODEL", None)


def llm_base_url() -> str | None:
    return setting("RAG_LLM_BASE_URL", None)


def llm_model() -> str | None:
    return setting("RAG_LLM_MODEL", None)


def llm_api_key() -> str | None:
    return setting("RAG_LLM_API_KEY", None)


def bm25_postings_budget() -> int:
    """How many postings of the rarest query terms a BM25 search walks to find candidates (the other terms are
    scored on the candidates only). 4,000 keeps BEIR/Cranfield nDCG@10 unchanged against exhaustive BM25."""
    return int(setting("RAG_BM25_POSTINGS_BUDGET", 4000))


def hnsw_ef_search() -> int:
    return int(setting("RAG_HNSW_EF_SEARCH", 100))


def stuck_minutes() -> int:
    """A document still processing after this many minutes is retried (or failed) by the consistency job."""
    return int(setting("RAG_STUCK_MINUTES", 30))


def max_attempts() -> int:
    return int(setting("RAG_MAX_ATTEMPTS", 3))


def hnsw_rebuild_min_chunks() -> int:
    """A load of at least this many chunks, and at least RAG_HNSW_REBUILD_FRACTION of the base, drops the base's
    HNSW index and builds it again afterwards (services/hnsw.py). Below ~1,000 chunks the incremental inserts cost
    about a second, less than the fixed costs of a rebuild: a concurrent build scans the whole chunk table (every
    base) twice and waits for the transactions running at the time."""
    return int(setting("RAG_HNSW_REBUILD_MIN_CHUNKS", 1000))


def hnsw_rebuild_fraction() -> float:
    """See hnsw_rebuild_min_chunks. Measured on this 2-core machine at load ~2 (benchmarks/RESULTS.md): building
    the graph costs 0.14-0.23 ms per vector, inserting into an existing one 1.0-1.7 ms per vector (more as the
    graph grows, and several times more under load), so rebuilding base + new is cheaper once the new chunks are
    more than ~15-20 % of the base; 0.25 leaves a margin for the fixed costs of a rebuild."""
    return float(setting("RAG_HNSW_REBUILD_FRACTION", 0.25))


def hnsw_build_memory() -> str:
    """maintenance_work_mem for an HNSW build: the graph is built in memory when it fits (~2 kB per 384-dimension
    vector, ~200 MB for 100,000 chunks), much faster than on disk."""
    return str(setting("RAG_HNSW_BUILD_MEMORY", "512MB"))


def url_allow_private() -> bool:
    """Whether documents may be fetched from URLs whose host resolves to a loopback, private or link-local address
    (off by default: the server must not become a way into its own network)."""
    return bool(setting("RAG_URL_ALLOW_PRIVATE", False))


def url_timeout() -> float:
    """Seconds a URL fetch may take in all (connection, redirects and body)."""
    return float(setting("RAG_URL_TIMEOUT", 20.0))


def url_max_redirects() -> int:
    return int(setting("RAG_URL_MAX_REDIRECTS", 5))
