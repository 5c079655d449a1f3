"""Convert the Cranfield collection (cran.all.1400, cran.qry, cranqrel) to the BEIR layout.

    python benchmarks/rag_cranfield_to_beir.py ../shared/data/ir/cranfield /tmp/cranfield-beir

Query ids in cranqrel are the 1..225 positions of the queries in cran.qry, not their .I numbers, so queries are
numbered by position. Cranfield grades relevance 1 (complete answer) to 4 (minimum interest), -1 means not relevant;
BEIR gains grow with relevance, so a grade g becomes gain 5 - g (1 -> 4, 2 -> 3, 3 -> 2, 4 -> 1) and -1 is dropped.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def parse_records(text: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    field = None
    for line in text.splitlines():
        match = re.match(r"^\.([ITABW])\b\s*(.*)$", line)
        if match:
            field, rest = match.group(1), match.group(2)
            if field == "I":
                records.append({"I": rest.strip()})
                field = None
            else:
                records[-1][field] = ""
            continue
        if field and records:
            records[-1][field] += line.strip() + " "
    return [{key: value.strip() for key, value in record.items()} for record in records]


def convert(source: Path, target: Path) -> dict[str, int]:
    target.mkdir(parents=True, exist_ok=True)
    docs = parse_records((source / "cran.all.1400").read_text(encoding="utf-8", errors="replace"))
    with (target / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc in docs:
            row = {"_id": str(int(doc["I"])), "title": doc.get("T", ""), "text": doc.get("W", "")}
            handle.write(json.dumps(row) + "\n")
    queries = parse_records((source / "cran.qry").read_text(encoding="utf-8", errors="replace"))
    with (target / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for position, query in enumerate(queries, start=1):
            handle.write(json.dumps({"_id": str(position), "text": query.get("W", "")}) + "\n")
    kept = dropped = 0
    with (target / "qrels.tsv").open("w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for line in (source / "cranqrel").read_text().splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            query, doc, grade = parts[0], parts[1], int(parts[2])
            if grade < 1 or grade > 4:
                dropped += 1
                continue
            handle.write(f"{int(query)}\t{int(doc)}\t{5 - grade}\n")
            kept += 1
    return {"documents": len(docs), "queries": len(queries), "qrels": kept, "dropped": dropped}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(convert(Path(sys.argv[1]), Path(sys.argv[2])))
