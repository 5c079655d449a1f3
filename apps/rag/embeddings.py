"""Embedders behind one interface, chosen by name from a registry.

- ``hashing``: feature hashing of words, word bigrams and character n-grams into a fixed dimension, L2-normalised.
  Deterministic, needs no model download.
- ``openai``: any OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, Ollama, vLLM), batched, through the AI
  gateway (retries, SSRF guard, usage ledger).
- ``sentence-transformers``: a local model directory or installed model; imported only when selected.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from django.utils.translation import gettext

from apps.chat import gateway
from apps.chat.client import UpstreamError, UpstreamRejected
from apps.chat.selectors import enabled_provider
from apps.core.exceptions import Unavailable, ValidationFailed

from . import conf
from .chunking import CJK


class EmbeddingError(Unavailable):
    default_code = "embedding_unavailable"


class Embedder:
    name: ClassVar[str] = ""

    def __init__(self, model: str, dimension: int) -> None:
        self.model = model
        self.dimension = dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dimension) float32 array of L2-normalised vectors."""
        raise NotImplementedError

    def embed_for(self, texts: Sequence[str], *, user: Any = None, purpose: str = "") -> np.ndarray:
        """``embed`` on behalf of ``user`` for ``purpose`` (what a metered backend records; others ignore it)."""
        return self.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


_REGISTRY: dict[str, Callable[[str, int], Embedder]] = {}


def register(name: str) -> Callable[[type[Embedder]], type[Embedder]]:
    def wrap(cls: type[Embedder]) -> type[Embedder]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def backends() -> list[str]:
    return sorted(_REGISTRY)


@lru_cache(maxsize=32)
def get_embedder(backend: str, model: str, dimension: int) -> Embedder:
    factory = _REGISTRY.get(backend)
    if factory is None:
        raise ValidationFailed(
            gettext("Unknown embedding backend '%(backend)s'.") % {"backend": backend},
            code="unknown_backend",
            details={"embedding_backend": [gettext("Use one of %(backends)s.") % {"backends": backends()}]},
        )
    return factory(model, dimension)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


_WORD = re.compile(rf"[{CJK}]|[^\W_]+", re.UNICODE)
_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were which with what how"
    " can be been do does".split()
)


_ROW_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (2**64 / golden ratio)


class _BigramHashes(dict[str, int]):
    """Hashes of word bigrams ("first second"), computed on first use; emptied when it reaches its size limit."""

    limit = 500_000

    def __missing__(self, key: str) -> int:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = HashingEmbedder._hash("b:" + key)
        return value


_BIGRAMS = _BigramHashes()


@register("hashing")
class HashingEmbedder(Embedder):
    """Signed feature hashing: words (weight 1), word bigrams (0.5) and character 3-5-grams of each word (0.3 each,
    shared by spelling variants such as plurals), log-scaled counts, L2-normalised.

    Each feature is identified by a 64-bit hash of its name; a word's features (the word and its character n-grams)
    are hashed once and cached, and a text's counts are summed per feature with NumPy, so the cost per chunk is a
    few array operations instead of a Python loop over thousands of features."""

    @staticmethod
    def _hash(feature: str) -> int:
        return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")

    @staticmethod
    @lru_cache(maxsize=200_000)
    def _word_features(word: str) -> tuple[np.ndarray, np.ndarray]:
        """Hashes and weights of a word's own features: the word itself and its character 3-5-grams."""
        names, weights = ["w:" + word], [1.0]
        if len(word) > 2:
            padded = f"<{word}>"
            for n in (3, 4, 5):
                for i in range(len(padded) - n + 1):
                    names.append("c:" + padded[i : i + n])
                    weights.append(0.3)
        hashes = np.fromiter((HashingEmbedder._hash(name) for name in names), dtype=np.uint64, count=len(names))
        return hashes, np.asarray(weights, dtype=np.float64)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        hashes: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
            if not words:
                continue
            parts = list(map(self._word_features, words))
            bigrams = np.fromiter(
                map(_BIGRAMS.__getitem__, map(" ".join, itertools.pairwise(words))),
                dtype=np.uint64,
                count=len(words) - 1,
            )
            hashes.extend([h for h, _ in parts] + [bigrams])
            weights.extend([w for _, w in parts] + [np.full(len(bigrams), 0.5)])
            lengths[row] = sum(len(h) for h, _ in parts) + len(bigrams)
        dim = self.dimension
        if not hashes:
            return np.zeros((len(texts), dim), dtype=np.float32)
        all_hashes, all_weights = np.concatenate(hashes), np.concatenate(weights)
        all_rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        # Sum the weights of each (text, feature), then log-scale the sums and add them into the signed slots. The
        # (text, feature) pairs are grouped by sorting one 64-bit key mixing the row into the hash: two pairs share
        # a key with probability 2**-64, as two features share a hash.
        keys = all_hashes + all_rows.astype(np.uint64) * _ROW_MIX
        order = np.argsort(keys)
        keys = keys[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        counts = np.bincount(np.cumsum(first) - 1, weights=all_weights[order])
        picked = order[first]
        unique, feature_rows = all_hashes[picked], all_rows[picked]
        values = np.where(counts >= 1, 1.0 + np.log(np.maximum(counts, 1.0)), counts)
        signs = np.where((unique >> np.uint64(63)) & np.uint64(1), 1.0, -1.0)
        cells = feature_rows * dim + (unique % np.uint64(dim)).astype(np.int64)
        matrix = np.bincount(cells, weights=signs * values, minlength=len(texts) * dim).reshape(len(texts), dim)
        return _normalise(matrix)


PURPOSE_EMBED = "rag.embed"


def openai_endpoint() -> gateway.Upstream:
    """Where the ``openai`` backend sends its requests: the chat-centre provider record named by RAG_OPENAI_PROVIDER
    (base URL, API key encrypted at rest, extra headers, timeout), else RAG_OPENAI_BASE_URL / RAG_OPENAI_API_KEY."""
    name = conf.openai_provider()
    if name:
        provider = enabled_provider(name=name)
        if provider is None:
            raise EmbeddingError(
                gettext(
                    "RAG_OPENAI_PROVIDER names the provider '%(name)s', which does not exist, is disabled or has no "
                    "base URL."
                )
                % {"name": name},
                code="not_configured",
            )
        return replace(
            gateway.Upstream.of_provider(provider),
            label=gettext("Embedding endpoint of provider '%(name)s'") % {"name": provider.name},
        )
    base = conf.openai_base_url()
    if not base:
        raise EmbeddingError(
            gettext("The openai embedding backend needs RAG_OPENAI_BASE_URL or RAG_OPENAI_PROVIDER."),
            code="not_configured",
        )
    return gateway.Upstream(
        base_url=base,
        api_key=conf.openai_api_key() or "",
        timeout=conf.http_timeout(),
        label=gettext("Embedding endpoint"),
    )


@register("openai")
class OpenAIEmbedder(Embedder):
    """An OpenAI-compatible /v1/embeddings endpoint (see ``openai_endpoint``; the base URL ends in /v1), through the
    AI gateway: batched, retried, metered in the gateway's ledger (purpose ``rag.embed`` unless told otherwise)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_for(texts)

    def embed_for(self, texts: Sequence[str], *, user: Any = None, purpose: str = PURPOSE_EMBED) -> np.ndarray:
        endpoint = openai_endpoint()
        rows: list[list[float]] = []
        size = conf.embed_batch_size()
        for start in range(0, len(texts), size):
            batch = list(texts[start : start + size])
            try:
                result = gateway.embed(
                    user=user, texts=batch, purpose=purpose, upstream=endpoint, upstream_model=self.model
                )
            except UpstreamRejected as exc:
                raise EmbeddingError(exc.message, code="upstream_error") from exc
            except UpstreamError as exc:
                raise EmbeddingError(exc.message) from exc
            if len(result.vectors) != len(batch):
                raise EmbeddingError(
                    gettext("The embedding endpoint returned %(vectors)s vectors for %(texts)s texts.")
                    % {"vectors": len(result.vectors), "texts": len(batch)}
                )
            rows.extend(result.vectors)
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1) if rows else np.zeros((0, self.dimension))
        if matrix.shape[1] != self.dimension:
            raise EmbeddingError(
                gettext(
                    "The model '%(model)s' returns %(returned)s dimensions; the knowledge base expects %(expected)s."
                )
                % {"model": self.model, "returned": matrix.shape[1], "expected": self.dimension},
                code="dimension_mismatch",
            )
        return _normalise(matrix)


@register("sentence-transformers")
class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local directory or an installed package (optional dependency)."""

    def __init__(self, model: str, dimension: int) -> None:
        super().__init__(model, dimension)
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbeddingError(
                    gettext("The sentence-transformers backend needs the optional 'sentence-transformers' package."),
                    code="not_installed",
                ) from exc
            self._model = SentenceTransformer(self.model)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._load().encode(list(texts), batch_size=conf.embed_batch_size(), normalize_embeddings=True)
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dimension:
            raise EmbeddingError(
                gettext("The model '%(model)s' returns %(returned)s dimensions; expected %(expected)s.")
                % {"model": self.model, "returned": matrix.shape[-1], "expected": self.dimension},
                code="dimension_mismatch",
            )
        return _normalise(matrix)
