import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.rag.evaluation import mrr_at, ndcg_at, recall_at
from apps.rag.models import Chunk, Document, KnowledgeBase
from apps.rag.services.hnsw import hnsw_status

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_metric_functions_by_hand():
    gains = {"a": 2, "b": 1, "x": 0}
    assert ndcg_at(["b", "a"], gains, 10) == pytest.approx((1 + 2 / 1.5849625) / (2 + 1 / 1.5849625))
    assert recall_at(["b", "z"], gains, 10) == 0.5
    assert recall_at(["z", "b"], gains, 1) == 0.0
    assert mrr_at(["x", "z", "a"], gains, 10) == pytest.approx(1 / 3)


@pytest.mark.parametrize("ingestion", [[], ["--batch", "3"]], ids=["one-by-one", "bulk-load"])
def test_rag_eval_on_a_tiny_beir_dataset_gives_the_hand_computed_metrics(ingestion, settings):
    settings.RAG_HNSW_REBUILD_MIN_CHUNKS, settings.RAG_HNSW_REBUILD_FRACTION = 1, 0.0  # bulk loads drop the index
    out = run(
        "rag_eval",
        "--corpus", str(FIXTURES / "beir" / "corpus.jsonl"),
        "--queries", str(FIXTURES / "beir" / "queries.jsonl"),
        "--qrels", str(FIXTURES / "beir" / "qrels.tsv"),
        *ingestion,
    )  # fmt: skip
    rows = {
        line.split()[0]: [float(v) for v in line.split()[1:]]
        for line in out.splitlines()
        if line[:1].islower()
        and len(line.split()) == 5
        and line.split()[0] in ("lexical", "vector", "hybrid", "ts_rank")
    }
    # q1 "zebra": d1 (gain 1) first -> 1, 1, 1, 1.  q2 "giraffe": d3 (not judged; three mentions) beats d2 (gain 2)
    # -> nDCG (2/log2 3)/2 = 0.6309, recall 1, MRR 0.5.  q3 "elephant": no lexical match -> 0.  q4 has no judgments.
    assert rows["lexical"] == pytest.approx([(1 + 0.6309) / 3, 2 / 3, 2 / 3, 1.5 / 3], abs=1e-4)
    assert set(rows) == {"lexical", "vector", "hybrid", "ts_rank"}
    assert "4 documents, 4 queries, 3 judged queries" in out
    # the temporary base was rolled back
    assert not KnowledgeBase.objects.exists() and not Document.objects.exists()


@pytest.mark.parametrize("ingestion", [[], ["--batch", "2"]], ids=["one-by-one", "bulk-load"])
def test_rag_eval_keeps_every_id_of_identical_documents(tmp_path, ingestion):
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "a", "title": "", "text": "Heat flux on a cone."}\n'
        '{"_id": "b", "title": "", "text": "Heat flux on a cone."}\n'
        '{"_id": "c", "title": "", "text": "Shock waves at Mach two."}\n'
    )
    (tmp_path / "queries.jsonl").write_text('{"_id": "q", "text": "heat flux"}\n')
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq\tb\t1\n")
    out = run(
        "rag_eval", "--corpus", str(tmp_path / "corpus.jsonl"), "--queries", str(tmp_path / "queries.jsonl"),
        "--qrels", str(tmp_path / "qrels.tsv"), "--modes", "lexical", *ingestion,
    )  # fmt: skip
    [row] = [line.split() for line in out.splitlines() if line.startswith("lexical")]
    # "a" and "b" are one stored document ranked first; "b" comes second in the ranking: nDCG 1/log2(3), MRR 1/2
    assert [float(v) for v in row[1:]] == pytest.approx([0.6309, 1.0, 1.0, 0.5], abs=1e-4)


def test_rag_eval_refuses_missing_files(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run("rag_eval", "--corpus", str(tmp_path / "x"), "--queries", "y", "--qrels", "z")


def test_rag_ingest_files_and_folders_with_progress(kb, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Title\n\nBody text.")
    (folder / "b.txt").write_text("Plain text.")
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    out = run("rag_ingest", str(folder), str(FIXTURES / "sample.pdf"), "--kb", kb.name, "--tag", "cli")
    assert "[##############################] 3/3" in out
    assert "3 ingested, 0 already present, 0 failed" in out
    assert Document.objects.filter(knowledge_base=kb, status="ready", tags=["cli"]).count() == 3
    again = run("rag_ingest", str(folder / "b.txt"), "--kb", kb.name)
    assert "already in this knowledge base" in again and "0 ingested, 1 already present" in again


def test_rag_ingest_reports_bad_files(kb):
    with pytest.raises(CommandError, match="Nothing could be ingested"):
        run("rag_ingest", str(FIXTURES / "encrypted.pdf"), "--kb", kb.name)
    with pytest.raises(CommandError, match="No knowledge base"):
        run("rag_ingest", str(FIXTURES / "sample.md"), "--kb", "nope")
    # a partial failure keeps the good files and still fails the command, so scripts notice
    with pytest.raises(CommandError, match="1 failed"):
        run("rag_ingest", str(FIXTURES / "sample.md"), str(FIXTURES / "encrypted.pdf"), "--kb", kb.name)
    assert Document.objects.filter(knowledge_base=kb, title__icontains="sample", status="ready").exists()


def test_rag_reindex_changes_the_dimension_and_rebuilds_the_index(kb, ingest):
    ingest(kb, title="t", text="Wing flutter is an instability.")
    out = run("rag_reindex", "--kb", kb.name, "--dimension", "128")
    assert "Re-embedded 1 chunks with hashing/hashing-v1 (128)" in out
    kb.refresh_from_db()
    assert kb.embedding_dimension == 128
    assert len(Chunk.objects.get(knowledge_base=kb).embedding) == 128
    assert hnsw_status([kb]) == {kb.pk: "ok"}  # the index was built again, for 128 dimensions
    from apps.rag.retrieval import search

    assert search(user=kb.owner, query="flutter", mode="vector")[0].vector_score > 0
