"""Knowledge-base speed: ingestion throughput with the hashing embedder, and hybrid search latency at a generated
100k-chunk corpus.

    EMBEDDED_DB_NAME=rag_bench python benchmarks/rag_bench.py [--chunks 100000] [--queries 200]

Uses its own database on the embedded server (migrated on start) and removes its knowledge base at the end. Text is
generated from a Zipf-distributed synthetic vocabulary, so it needs no data set.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aistack.settings")
os.environ.setdefault("EMBEDDED_DB_NAME", "rag_bench")

import django

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from apps.rag.chunking import ChunkPiece  # noqa: E402
from apps.rag.embeddings import get_embedder  # noqa: E402
from apps.rag.models import Document, KnowledgeBase  # noqa: E402
from apps.rag.retrieval import rank  # noqa: E402
from apps.rag.services import (  # noqa: E402
    document_create_text,
    document_process,
    hnsw,
    index,
    knowledge_base_create,
    knowledge_base_delete,
)

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "pe", "zu", "ar", "en", "ol", "is", "um", "ex"]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def sentence_maker(words: list[str], rng: random.Random):  # type: ignore[no-untyped-def]
    weights = np.array([1.0 / (i + 1) for i in range(len(words))])
    cumulative = np.cumsum(weights / weights.sum())

    def make(n: int) -> str:
        picks = np.searchsorted(cumulative, [rng.random() for _ in range(n)])
        return " ".join(words[i] for i in picks) + "."

    return make


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest-docs", type=int, default=2000)
    parser.add_argument("--ingest-batch", type=int, default=100)
    parser.add_argument("--single-docs", type=int, default=300)
    parser.add_argument("--skip-search", action="store_true", help="Only measure ingestion.")
    parser.add_argument("--postings-budget", type=int, default=None, help="Overrides RAG_BM25_POSTINGS_BUDGET.")
    parser.add_argument("--skip-ingest", action="store_true", help="Only measure search.")
    parser.add_argument("--keep", action="store_true", help="Keep the generated base; a later run reuses it.")
    args = parser.parse_args()
    rng = random.Random(7)
    call_command("migrate", verbosity=0)
    settings.MEDIA_ROOT = "/tmp/rag_bench_media"
    if args.postings_budget:
        settings.RAG_BM25_POSTINGS_BUDGET = args.postings_budget
    owner, _ = get_user_model().objects.get_or_create(username="rag-bench")
    make = sentence_maker(vocabulary(20_000, rng), rng)
    reuse = KnowledgeBase.objects.filter(name="rag-bench-search", chunk_count=args.chunks).first()
    for stale in KnowledgeBase.objects.filter(name__startswith="rag-bench").exclude(pk=getattr(reuse, "pk", None)):
        knowledge_base_delete(kb=stale)
    if not args.skip_ingest:
        measure_ingestion(owner, make, rng, args)
    if args.skip_search:
        return
    kb = reuse or load_corpus(owner, make, rng, args)
    measure_search(kb, make, rng, args)
    if not args.keep:
        knowledge_base_delete(kb=kb)


def measure_ingestion(owner, make, rng, args) -> None:  # type: ignore[no-untyped-def]
    # 1. Ingestion through the real pipeline: `rag_ingest` on a folder of text files (store the files as documents,
    #    extract, chunk, hashing embeddings, chunks + postings + term statistics, HNSW index; --ingest-batch
    #    documents per transaction, one bulk load for the whole run), then one document at a time as the
    #    per-document Celery task does it.
    sizes = [rng.randint(4, 6) for _ in range(args.ingest_docs)]
    texts = ["\n\n".join(make(rng.randint(14, 24)) for _ in range(n * 6)) for n in sizes]
    kb = knowledge_base_create(owner=owner, name="rag-bench-ingest", chunk_size=120, chunk_overlap=20)
    with tempfile.TemporaryDirectory() as folder:
        for i, text in enumerate(texts):
            Path(folder, f"doc-{i:05d}.txt").write_text(text)
        started = time.perf_counter()
        call_command("rag_ingest", folder, "--kb", kb.name, "--batch", str(args.ingest_batch), stdout=io.StringIO())
        elapsed = time.perf_counter() - started
    kb.refresh_from_db()
    print(
        f"ingestion (rag_ingest, batches of {args.ingest_batch}): {kb.document_count} documents, {kb.chunk_count} "
        f"chunks in {elapsed:.1f}s = {kb.chunk_count / elapsed:.0f} chunks/s, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    knowledge_base_delete(kb=kb)
    if not args.single_docs:
        return
    kb = knowledge_base_create(owner=owner, name="rag-bench-ingest-single", chunk_size=120, chunk_overlap=20)
    single = texts[: args.single_docs]
    started = time.perf_counter()
    for i, text in enumerate(single):
        result = document_create_text(kb=kb, title=f"doc {i}", text=text, enqueue=False)
        document_process(document_id=result.document.pk)
    elapsed = time.perf_counter() - started
    kb.refresh_from_db()
    print(
        f"ingestion (one document per transaction): {len(single)} documents, {kb.chunk_count} chunks in "
        f"{elapsed:.1f}s = {kb.chunk_count / elapsed:.0f} chunks/s, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    knowledge_base_delete(kb=kb)


def load_corpus(owner, make, rng, args) -> KnowledgeBase:  # type: ignore[no-untyped-def]
    # 2. A 100k-chunk base, bulk-loaded with the same insert statement; the HNSW index is built after the load.
    kb = knowledge_base_create(owner=owner, name="rag-bench-search", chunk_size=120, chunk_overlap=20)
    hnsw.hnsw_drop(kb)
    embedder = get_embedder(kb.embedding_backend, kb.embedding_model, kb.embedding_dimension)
    per_doc, per_statement = 100, 10
    started = time.perf_counter()
    for d0 in range(0, args.chunks // per_doc, per_statement):
        batch, texts = [], []
        with transaction.atomic():
            for d in range(d0, min(d0 + per_statement, args.chunks // per_doc)):
                pieces = [
                    ChunkPiece(text=" ".join(make(rng.randint(8, 20)) for _ in range(4)), token_count=60)
                    for _ in range(per_doc)
                ]
                document = Document.objects.create(
                    knowledge_base=kb,
                    title=f"synthetic {d}",
                    mime_type="text/plain",
                    sha256=f"{d:064x}",
                    file=f"rag/bench/{d}.txt",
                    status="ready",
                )
                batch.append((document.pk, pieces))
                texts.extend(p.text for p in pieces)
            index.chunks_insert_many(kb=kb, documents=batch, vectors=embedder.embed(texts))
        if (d0 + per_statement) % 100 == 0:
            print(
                f"  loaded {(d0 + per_statement) * per_doc} chunks ({time.perf_counter() - started:.0f}s)", flush=True
            )
    load = time.perf_counter() - started
    started = time.perf_counter()
    hnsw.hnsw_build(kb)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE rag_chunk; ANALYZE rag_posting; ANALYZE rag_term")
    build = time.perf_counter() - started
    kb.refresh_from_db()
    print(
        f"corpus: {kb.chunk_count} chunks loaded in {load:.0f}s ({kb.chunk_count / load:.0f} chunks/s without HNSW), "
        f"HNSW built in {build:.0f}s"
    )
    return kb


def measure_search(kb, make, rng, args) -> None:  # type: ignore[no-untyped-def]

    queries = [make(rng.randint(3, 8)).rstrip(".") for _ in range(args.queries)]
    for mode in ("lexical", "vector", "hybrid"):
        for q in queries[:10]:
            rank([kb], q, mode=mode, k=10)  # warm-up
        timings = []
        for q in queries:
            t0 = time.perf_counter()
            rank([kb], q, mode=mode, k=10)
            timings.append((time.perf_counter() - t0) * 1000)
        print(
            f"{mode:<8} k=10 over {kb.chunk_count} chunks: P50 {statistics.median(timings):.1f} ms, "
            f"P95 {percentile(timings, 95):.1f} ms, max {max(timings):.1f} ms ({len(timings)} queries), "
            f"load {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
