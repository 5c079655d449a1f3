"""manage.py rag_eval --corpus corpus.jsonl --queries queries.jsonl --qrels qrels.tsv

Ingests a BEIR-layout dataset into a temporary knowledge base (everything is rolled back at the end) and prints
nDCG@10, Recall@10, Recall@100 and MRR@10 for BM25, vector, hybrid and the ts_rank baseline.

The whole run is one transaction: it creates an index on rag_chunk, which blocks chunk writes of other sessions in
the same database until it ends, so run it on a database that is not ingesting (e.g. EMBEDDED_DB_NAME=rag_eval)."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import override_settings

from apps.rag.choices import SearchMode
from apps.rag.evaluation import evaluate, load_corpus, load_qrels, load_queries
from apps.rag.models import Chunk
from apps.rag.retrieval import rank
from apps.rag.services import document_create_text, document_process, knowledge_base_create
from apps.rag.services.hnsw import hnsw_bulk_load
from apps.rag.services.ingestion import documents_process, documents_upload_many

MODES = [SearchMode.LEXICAL, SearchMode.TS_RANK, SearchMode.VECTOR, SearchMode.HYBRID]


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Evaluate retrieval on a BEIR-format dataset (temporary knowledge base, rolled back afterwards)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--corpus", required=True, type=Path)
        parser.add_argument("--queries", required=True, type=Path)
        parser.add_argument("--qrels", required=True, type=Path)
        parser.add_argument("--modes", default=",".join(MODES), help="Comma list of modes.")
        parser.add_argument("--language", default="en")
        parser.add_argument("--chunk-size", type=int, default=400)
        parser.add_argument("--k1", type=float, default=1.2)
        parser.add_argument("--b", type=float, default=0.75)
        parser.add_argument("--vector-weight", type=float, default=0.2)
        parser.add_argument("--dimension", type=int, default=None)
        parser.add_argument(
            "--vector-weights", default="", help="Also report hybrid at these vector weights (comma list), e.g. 0.2,0.3"
        )
        parser.add_argument("--rrf-k", type=int, default=60)
        parser.add_argument(
            "--batch",
            type=int,
            default=1,
            help="Documents ingested per statement. Above 1 the corpus goes in as rag_ingest loads a folder (one bulk "
            "load: the HNSW index is built after the load); 1 ingests one document at a time, as single uploads.",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        for name in ("corpus", "queries", "qrels"):
            if not opts[name].is_file():
                raise CommandError(f"--{name}: no such file {opts[name]}")
        modes = [m.strip() for m in opts["modes"].split(",") if m.strip()]
        unknown = set(modes) - set(SearchMode.values)
        if unknown:
            raise CommandError(f"Unknown modes {sorted(unknown)}; use {SearchMode.values}")
        corpus, queries, qrels = load_corpus(opts["corpus"]), load_queries(opts["queries"]), load_qrels(opts["qrels"])
        self.stdout.write(f"{len(corpus)} documents, {len(queries)} queries, {len(qrels)} judged queries")
        with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
            try:
                with transaction.atomic():
                    self._run(corpus, queries, qrels, modes, opts)
                    raise _Rollback
            except _Rollback:
                pass

    def _run(
        self,
        corpus: list[dict[str, str]],
        queries: dict[str, str],
        qrels: dict[str, dict[str, int]],
        modes: list[str],
        opts: dict[str, Any],
    ) -> None:
        User = get_user_model()
        owner, _ = User.objects.get_or_create(username="rag-eval", defaults={"is_active": False})
        extra = {"embedding_dimension": opts["dimension"]} if opts["dimension"] else {}
        kb = knowledge_base_create(
            owner=owner, name=f"rag-eval-{time.time_ns()}", language=opts["language"], chunk_size=opts["chunk_size"],
            chunk_overlap=min(40, opts["chunk_size"] // 4), bm25_k1=opts["k1"], bm25_b=opts["b"],
            vector_weight=opts["vector_weight"], rrf_k=opts["rrf_k"], **extra,
        )  # fmt: skip
        started = time.perf_counter()
        if opts["batch"] > 1:
            doc_of_id = self._ingest_batches(kb, corpus, opts["batch"])
        else:
            doc_of_id = self._ingest_one_by_one(kb, corpus)
        kb.refresh_from_db()
        with connection.cursor() as cursor:  # planner statistics for the rows this transaction wrote
            cursor.execute("ANALYZE rag_chunk; ANALYZE rag_posting; ANALYZE rag_term")
        self.stdout.write(f"ingested {kb.chunk_count} chunks in {time.perf_counter() - started:.1f}s")
        chunk_doc = dict(Chunk.objects.filter(knowledge_base=kb).values_list("id", "document_id"))
        self.stdout.write(f"{'mode':<10} {'nDCG@10':>8} {'R@10':>8} {'R@100':>8} {'MRR@10':>8}")
        runs = [(mode, mode, kb.vector_weight) for mode in modes]
        for weight in filter(None, (w.strip() for w in opts["vector_weights"].split(","))):
            runs.append((f"hybrid@{float(weight):g}", SearchMode.HYBRID, float(weight)))
        for label, mode, weight in runs:
            kb.vector_weight = weight

            def run(query: str, mode: str = mode) -> list[str]:
                ranked: list[str] = []
                for hit in rank([kb], query, mode=mode, k=200, candidates=200):
                    for doc in doc_of_id[chunk_doc[hit.chunk_id]]:  # identical texts rank together
                        if doc not in ranked:
                            ranked.append(doc)
                return ranked[:100]

            m = evaluate(run, queries, qrels)
            self.stdout.write(
                f"{label:<10} {m['ndcg@10']:>8.4f} {m['recall@10']:>8.4f} {m['recall@100']:>8.4f} {m['mrr@10']:>8.4f}"
            )

    def _ingest_one_by_one(self, kb: Any, corpus: list[dict[str, str]]) -> dict[int, list[str]]:
        """Documents one at a time; returns the corpus ids of each document (several when their texts are
        identical: the base stores such content once)."""
        doc_of_id: dict[int, list[str]] = {}
        for n, doc in enumerate(corpus, start=1):
            result = document_create_text(
                kb=kb, title=doc["title"][:300] or doc["id"], text=_text(doc), enqueue=False,
                metadata={"beir_id": doc["id"]},
            )  # fmt: skip
            if result.created:
                document_process(document_id=result.document.pk)
            doc_of_id.setdefault(result.document.pk, []).append(doc["id"])
            if n % 500 == 0:
                self.stdout.write(f"  ingested {n}/{len(corpus)}")
        return doc_of_id

    def _ingest_batches(self, kb: Any, corpus: list[dict[str, str]], batch: int) -> dict[int, list[str]]:
        """The rag_ingest path: documents stored and indexed ``batch`` at a time, in one bulk load. A text seen
        before maps to the existing document, as in the one-by-one path."""
        doc_of_id: dict[int, list[str]] = {}
        by_digest: dict[str, int] = {}
        with hnsw_bulk_load(kb) as load:
            for first in range(0, len(corpus), batch):
                group = corpus[first : first + batch]
                files = [(f"{doc['id']}.txt", _text(doc).encode()) for doc in group]
                uploads = documents_upload_many(kb=kb, files=files)
                for doc, (_, data), upload in zip(group, files, uploads, strict=True):
                    digest = hashlib.sha256(data).hexdigest()
                    pk = upload.document.pk if upload.document is not None else by_digest.get(digest)
                    if pk is not None:
                        doc_of_id.setdefault(pk, []).append(doc["id"])
                        by_digest[digest] = pk
                documents_process(
                    document_ids=[u.document.pk for u in uploads if u.created and u.document is not None],
                    load=load,
                    remaining_documents=len(corpus) - first - len(group),
                )
                self.stdout.write(f"  ingested {first + len(group)}/{len(corpus)}")
        return doc_of_id


def _text(doc: dict[str, str]) -> str:
    return "\n\n".join(part for part in (doc["title"], doc["text"]) if part.strip()) or doc["id"]
