#!/usr/bin/env bash
# Capacity of the hot read endpoints (`make hotreads`): the production-like server of benchmarks/lib.sh, loaded by wrk
# (a C load generator that leaves the server most of the two cores) one endpoint at a time and then all together.
# Detail pages and list pages rotate over real ids and page numbers; knowledge-base searches run twice: with the
# eight queries of the locust mix repeated (the cached path), and with a new query on every request (the search
# itself: BM25 in SQL, and hybrid with HNSW).
#
#   benchmarks/hotreads.sh                          # 15 s per run, 32 connections
#   DURATION=30s CONNECTIONS=64 SEED=0 benchmarks/hotreads.sh
#
# Environment: DURATION (per run, default 15s, at most 120s), CONNECTIONS (default 32), OUT (default var/hotreads),
# and the server settings of benchmarks/lib.sh. Needs wrk (Debian: apt-get install wrk). Result: $OUT/summary.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 2; }

duration="${DURATION:-15s}"
duration_seconds "$duration" 120 >/dev/null
connections="${CONNECTIONS:-32}"
begin_run var/hotreads
key="$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['user'])" "$keys")"

# Request files: real ids and page numbers read from the API, search queries from the demo corpus' vocabulary.
python - "$base_url" "$key" "$out" <<'PY'
import json
import random
import sys
import urllib.request

base, key, out = sys.argv[1:]


def get(path):
    request = urllib.request.Request(base + path, headers={"X-API-Key": key, "Accept": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def write(name, lines):
    with open(f"{out}/{name}.txt", "w") as handle:
        handle.write("\n".join(lines) + "\n")


for name, path in (("products", "/api/v1/erp/products/"), ("orders", "/api/v1/erp/sales-orders/")):
    first = get(path)
    pages = max(1, -(-first["count"] // len(first["results"])))
    write(f"{name}_list", [f"GET {path}?page={n}" for n in range(1, pages + 1)])
    ids = [row["id"] for n in range(1, pages + 1) for row in get(f"{path}?page={n}")["results"]]
    write(f"{name}_detail", [f"GET {path}{i}/" for i in ids])

repeated = [
    "boundary layer", "supersonic flow over a wedge", "heat transfer in laminar flow", "buckling of cylindrical shells",
    "shock wave interaction", "wing aerodynamic loads", "turbulent skin friction", "panel flutter",
]
words = sorted({w for q in repeated for w in q.split()} | set(
    "pressure distribution hypersonic viscous compressible slender body cone nozzle jet mach number reynolds "
    "stagnation point ablation plate cylinder wake separation transition vortex lift drag airfoil delta "
    "stability oscillation vibration thermal stress elastic plastic shell dynamic load".split()))
rng = random.Random(7)
search = "/api/v1/rag/search/"
write("search_repeated", [f"POST {search} " + json.dumps({"query": q, "mode": "lexical", "k": 10}) for q in repeated])
for mode in ("lexical", "hybrid"):
    unique = [" ".join(rng.sample(words, rng.randint(2, 5))) for _ in range(200000)]
    write(f"search_{mode}_unique", [f"POST {search} " + json.dumps({"query": q, "mode": mode, "k": 10}) for q in unique])
PY
cat "$out"/products_list.txt "$out"/products_detail.txt "$out"/orders_list.txt "$out"/orders_detail.txt \
  "$out"/search_repeated.txt | shuf --random-source=<(yes) >"$out/mixed.txt"

runs=(
  "GET /api/v1/erp/products/ (8 pages)|products_list"
  "GET /api/v1/erp/products/[id]/|products_detail"
  "GET /api/v1/erp/sales-orders/ (all pages)|orders_list"
  "GET /api/v1/erp/sales-orders/[id]/|orders_detail"
  "POST /api/v1/rag/search/ lexical, 8 repeated queries|search_repeated"
  "POST /api/v1/rag/search/ lexical, a new query each time|search_lexical_unique"
  "POST /api/v1/rag/search/ hybrid, a new query each time|search_hybrid_unique"
  "all of the first five, interleaved|mixed"
)
summary="$out/summary.md"
{
  echo "wrk, 2 threads, $connections connections, $duration per run, server: ${GUNICORN_WORKERS:-3}" \
    "${GUNICORN_WORKER_CLASS:-gthread} workers x ${GUNICORN_THREADS:-4} threads"
  echo
  echo "| endpoint | requests | RPS | P50 ms | P95 ms | P99 ms | errors | load before |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
} >"$summary"
for run in "${runs[@]}"; do
  label="${run%%|*}" file="$out/${run##*|}.txt"
  # a short warm-up fills the caches and the connection pools, then the measured run; the two start at opposite points
  # of the request list (WRK_OFFSET), so a list of distinct requests is not replayed from the warm-up's cache
  lines="$(wc -l <"$file")"
  WRK_OFFSET=0 WRK_THREADS=2 WRK_REQUESTS="$file" WRK_KEY="$key" wrk -t2 -c"$connections" -d3s \
    -s benchmarks/wrk/requests.lua "$base_url" >/dev/null
  before="$(load_average | cut -d' ' -f1)"
  line="$(WRK_OFFSET=$((lines / 4)) WRK_THREADS=2 WRK_REQUESTS="$file" WRK_KEY="$key" wrk -t2 -c"$connections" \
    -d"$duration" -s benchmarks/wrk/requests.lua "$base_url" | grep '^RESULT')"
  eval "${line#RESULT }"  # requests= seconds= rps= p50= p95= p99= max= errors=
  # shellcheck disable=SC2154
  ratio="$(python -c "print(f'{100 * $errors / max($requests, 1):.2f}%')")"
  # shellcheck disable=SC2154
  echo "| $label | $requests | $rps | $p50 | $p95 | $p99 | $ratio | $before |" | tee -a "$summary"
done
echo
cat "$summary"
