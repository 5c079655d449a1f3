#!/usr/bin/env bash
# Stress ramp (`make stress`): the locust user mix against the production-like server of benchmarks/lib.sh at 10, 50,
# 100, 250, 500 and 1,000 concurrent users, STEP_SECONDS at each (default 20 s: two minutes in all), loopback only.
# Shows where throughput stops growing and how latency and errors behave past that point. Result: $OUT/summary.md.
#
#   benchmarks/stress.sh
#   STEP_SECONDS=30 SEED=0 benchmarks/stress.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

step_seconds="$(duration_seconds "${STEP_SECONDS:-20}s" 60)"
export STEP_SECONDS="$step_seconds"
begin_run var/stress
rss_before="$(server_rss_kib)"
load_before="$(load_average)"
echo "== locust stress ramp 10 -> 1000 users, ${step_seconds}s per step (load average before: $load_before)"
LOADTEST_KEYS="$keys" timeout $((step_seconds * 6 + 90)) locust \
  -f benchmarks/locustfile.py,benchmarks/locust_stress.py --headless --host "$base_url" --stop-timeout 10 \
  --csv "$out/stats" --csv-full-history --only-summary --loglevel WARNING >/dev/null 2>"$out/locust.log" || true
{
  echo "stress ramp, ${step_seconds}s per step; load average before/after: $load_before / $(load_average);" \
    "server memory before/after: $((rss_before / 1024)) / $(($(server_rss_kib) / 1024)) MiB"
  echo
  python benchmarks/locust_report.py steps "$out/stats_stats_history.csv"
  echo
  python benchmarks/locust_report.py endpoints "$out/stats_stats.csv"
} >"$out/summary.md"
cat "$out/summary.md"
