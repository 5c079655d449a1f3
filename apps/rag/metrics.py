"""Prometheus business metrics of the knowledge base: event counters and latency histograms in the process doing
the work; document and chunk gauges computed by the platform's refresh job (apps.core.metrics)."""

from __future__ import annotations

from django.db.models import Count, Sum
from prometheus_client import Counter, Histogram

from apps.core.metrics import business_gauge

from .models import Document, KnowledgeBase

DOCUMENTS_UPLOADED = Counter("rag_documents_uploaded_total", "Documents accepted for ingestion")
DOCUMENTS_INGESTED = Counter("rag_documents_ingested_total", "Documents ingested successfully")
CHUNKS_INGESTED = Counter("rag_chunks_ingested_total", "Chunks written to the index")
INGESTION_FAILURES = Counter("rag_ingestion_failures_total", "Documents whose ingestion failed")
SEARCHES = Counter("rag_searches_total", "Searches run", ["mode"])
SEARCH_LATENCY = Histogram(
    "rag_search_seconds", "Search latency", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
)
ASK_LATENCY = Histogram(
    "rag_ask_seconds", "Latency of answering a question", ["mode"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30)
)


@business_gauge("rag_documents", "Documents by status", labels=("status",))
def _documents() -> dict[tuple[str, ...], float]:
    return {(row["status"],): row["n"] for row in Document.objects.order_by().values("status").annotate(n=Count("id"))}


@business_gauge("rag_chunks", "Chunks in all knowledge bases")
def _chunks() -> float:
    return KnowledgeBase.objects.aggregate(n=Sum("chunk_count"))["n"] or 0
