#!/usr/bin/env bash
# Soak (`make soak`): the locust user mix at a steady USERS (default 20) for DURATION (default 300s, at most 600s)
# against the production-like server of benchmarks/lib.sh, sampling the resident memory of gunicorn (master and
# workers) every 10 s. Fails when the mean of the last minute exceeds the mean of the first minute after warm-up by
# more than MEMORY_GROWTH_LIMIT percent (default 10). Result: $OUT/summary.md and $OUT/memory.csv.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

duration="${DURATION:-300s}"
seconds="$(duration_seconds "$duration" 600)"
[ "$seconds" -ge 180 ] || { echo "a soak needs at least 180s (one minute of warm-up, two to compare)" >&2; exit 2; }
users="${USERS:-20}"
limit="${MEMORY_GROWTH_LIMIT:-10}"
begin_run var/soak

echo "seconds,rss_kib" >"$out/memory.csv"
load_before="$(load_average)"
echo "== locust soak: $users users for $duration (load average before: $load_before)"
LOADTEST_KEYS="$keys" timeout $((seconds + 60)) locust -f benchmarks/locustfile.py --headless -u "$users" \
  -r "$users" -t "$duration" --stop-timeout 5 --host "$base_url" --csv "$out/stats" --only-summary \
  --loglevel WARNING >/dev/null 2>"$out/locust.log" &
load=$!
started=$SECONDS
while kill -0 "$load" 2>/dev/null; do
  echo "$((SECONDS - started)),$(server_rss_kib)" >>"$out/memory.csv"
  sleep 10
done
wait "$load" || true

verdict="$(python - "$out/memory.csv" "$seconds" "$limit" <<'PY'
import csv
import sys

path, seconds, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
samples = [(int(r["seconds"]), int(r["rss_kib"])) for r in csv.DictReader(open(path))]
first = [rss for t, rss in samples if 60 <= t < 120]  # the first minute after a minute of warm-up
last = [rss for t, rss in samples if seconds - 60 <= t <= seconds]
if not first or not last:
    print("FAIL not enough memory samples")
    sys.exit()
a, b = sum(first) / len(first) / 1024, sum(last) / len(last) / 1024
growth = 100.0 * (b - a) / a
status = "PASS" if growth <= limit else "FAIL"
print(f"{status} server memory {a:.1f} MiB (minute 2) -> {b:.1f} MiB (last minute): {growth:+.1f}% (limit {limit:g}%)")
PY
)"
{
  echo "soak, $users users, $duration, load average before/after: $load_before / $(load_average)"
  echo
  echo "memory: $verdict"
  echo
  python benchmarks/locust_report.py endpoints "$out/stats_stats.csv"
} >"$out/summary.md"
cat "$out/summary.md"
[[ "$verdict" == PASS* ]]
