"""Retrieval evaluation on a BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels.tsv): nDCG@10 (linear gains,
as pytrec_eval computes it), Recall@10, Recall@100 and MRR@10, per search mode."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path


def load_corpus(path: Path) -> list[dict[str, str]]:
    docs = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                docs.append({"id": str(row["_id"]), "title": row.get("title") or "", "text": row.get("text") or ""})
    return docs


def load_queries(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {str(row["_id"]): row["text"] for row in map(json.loads, filter(str.strip, handle))}


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for row in reader:
            if not row or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def ndcg_at(ranked: list[str], gains: dict[str, int], k: int) -> float:
    dcg = sum(gains.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], gains: dict[str, int], k: int) -> float:
    relevant = {doc for doc, g in gains.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], gains: dict[str, int], k: int) -> float:
    for i, doc in enumerate(ranked[:k]):
        if gains.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def evaluate(
    run: Callable[[str], list[str]], queries: dict[str, str], qrels: dict[str, dict[str, int]]
) -> dict[str, float]:
    """Mean metrics over the queries that have at least one relevant judgment."""
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    judged = [qid for qid in queries if any(g > 0 for g in qrels.get(qid, {}).values())]
    for qid in judged:
        ranked = run(queries[qid])
        gains = qrels[qid]
        totals["ndcg@10"] += ndcg_at(ranked, gains, 10)
        totals["recall@10"] += recall_at(ranked, gains, 10)
        totals["recall@100"] += recall_at(ranked, gains, 100)
        totals["mrr@10"] += mrr_at(ranked, gains, 10)
    return {name: value / len(judged) if judged else 0.0 for name, value in totals.items()} | {"queries": len(judged)}
