#!/usr/bin/env bash
# Load test (`make loadtest`): gunicorn on loopback against a seeded database of its own and real Redis caching, locust
# headless for a fixed duration, then a per-endpoint table (P50/P95/P99, RPS, error rate). Stops everything it started.
#
#   benchmarks/loadtest.sh                 # 60 s, 40 users
#   DURATION=30s USERS=20 benchmarks/loadtest.sh
#
# Environment: DURATION (locust run time, default 60s, at most 300s), USERS (default 40), SPAWN_RATE (default 20),
# OUT (default var/loadtest), and the server settings described in benchmarks/lib.sh. Results: $OUT/stats.csv (locust)
# and $OUT/summary.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

duration="${DURATION:-60s}"
seconds="$(duration_seconds "$duration" 300)"
users="${USERS:-40}"
begin_run var/loadtest

load_before="$(load_average)"
echo "== locust: $users users for $duration (load average before: $load_before)"
LOADTEST_KEYS="$keys" timeout $((seconds + 60)) locust -f benchmarks/locustfile.py --headless \
  -u "$users" -r "${SPAWN_RATE:-20}" -t "$duration" --stop-timeout 5 --host "$base_url" \
  --csv "$out/stats" --only-summary --loglevel WARNING >/dev/null 2>"$out/locust.log" || true
load_after="$(load_average)"

{
  echo "$users users, $duration, load average before/after: $load_before / $load_after"
  echo
  python benchmarks/locust_report.py endpoints "$out/stats_stats.csv"
} >"$out/summary.md"
cat "$out/summary.md"
[ -s "$out/stats_failures.csv" ] && [ "$(wc -l <"$out/stats_failures.csv")" -gt 1 ] && {
  echo
  echo "failures:"
  cut -c1-200 "$out/stats_failures.csv"
}
exit 0
