#!/usr/bin/env bash
# Load test (`make loadtest`): gunicorn on loopback against a seeded database of its own and real Redis caching, locust
# headless for a fixed duration, then a per-endpoint table (P50/P95/P99, RPS, error rate). Stops everything it started.
#
#   benchmarks/loadtest.sh                 # 60 s, 40 users
#   DURATION=30s USERS=20 benchmarks/loadtest.sh
#
# Environment: DURATION (locust run time, default 60s, at most 300s), USERS (default 40), SPAWN_RATE (default 20),
# PORT (default 8123), GUNICORN_WORKERS (default 3), GUNICORN_THREADS (default 4), LOADTEST_REDIS_URL (default
# redis://127.0.0.1:6379/3), OUT (default var/loadtest). Results: $OUT/stats.csv (locust) and $OUT/summary.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ -f .venv/bin/activate ] && . .venv/bin/activate

duration="${DURATION:-60s}"
seconds="${duration%s}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -gt 300 ]; then
  echo "DURATION must be seconds (e.g. 60s), at most 300s" >&2
  exit 2
fi
users="${USERS:-40}"
port="${PORT:-8123}"
out="${OUT:-var/loadtest}"
mkdir -p "$out"
rm -f "$out"/stats*.csv

export DJANGO_ENV=dev DEBUG=false EMBEDDED_DB_NAME=loadtest DB_CONN_MAX_AGE=60
# The load comes from a handful of keys: lift the per-user throttle so it measures the server, not the limiter.
export THROTTLE_USER=1000000/min THROTTLE_ANON=1000000/min

# Seed without Redis: Celery tasks (document ingestion) then run inline, so the knowledge base is searchable.
echo "== migrate and seed the loadtest database"
python manage.py migrate --no-input >/dev/null
python manage.py seed_demo --force >/dev/null
keys="$out/keys.json"
python manage.py shell -c "
import json
from django.contrib.auth import get_user_model
from django.utils import timezone
from apps.core.models import ApiKey
from apps.core.services import api_key_create
keys = {}
for username in ('admin', 'manager', 'user', 'guest'):
    owner = get_user_model().objects.get(username=username)
    ApiKey.objects.filter(owner=owner, name='loadtest', revoked_at__isnull=True).update(revoked_at=timezone.now())
    keys[username] = api_key_create(owner=owner, name='loadtest')[1]
json.dump(keys, open('$keys', 'w'))
"
chmod 600 "$keys"

export REDIS_URL="${LOADTEST_REDIS_URL:-redis://127.0.0.1:6379/3}"
export PROMETHEUS_MULTIPROC_DIR="$out/prometheus-multiproc"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

echo "== gunicorn on 127.0.0.1:$port (${GUNICORN_WORKERS:-3} workers x ${GUNICORN_THREADS:-4} threads)"
gunicorn aistack.wsgi:application --bind "127.0.0.1:$port" --workers "${GUNICORN_WORKERS:-3}" \
  --worker-class gthread --threads "${GUNICORN_THREADS:-4}" --timeout 60 --worker-tmp-dir /dev/shm \
  --error-logfile "$out/gunicorn.log" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== locust: $users users for $duration (load average before: $load_before)"
LOADTEST_KEYS="$keys" timeout $((seconds + 60)) locust -f benchmarks/locustfile.py --headless \
  -u "$users" -r "${SPAWN_RATE:-20}" -t "$duration" --stop-timeout 5 --host "http://127.0.0.1:$port" \
  --csv "$out/stats" --only-summary --loglevel WARNING >/dev/null 2>"$out/locust.log" || true
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

python - "$out/stats_stats.csv" "$users" "$duration" "$load_before" "$load_after" >"$out/summary.md" <<'PY'
import csv
import sys

path, users, duration, before, after = sys.argv[1:]
rows = list(csv.DictReader(open(path)))
print(f"{users} users, {duration}, load average before/after: {before} / {after}\n")
print("| endpoint | requests | RPS | P50 ms | P95 ms | P99 ms | errors |")
print("|---|---:|---:|---:|---:|---:|---:|")
for row in sorted(rows, key=lambda r: (r["Name"] == "Aggregated", -float(r["Requests/s"]))):
    count, failures = int(row["Request Count"]), int(row["Failure Count"])
    name = "**all**" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
    ratio = 100.0 * failures / count if count else 0.0
    print(
        f"| {name} | {count} | {float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} "
        f"| {ratio:.2f}% |"
    )
PY
cat "$out/summary.md"
[ -s "$out/stats_failures.csv" ] && [ "$(wc -l <"$out/stats_failures.csv")" -gt 1 ] && {
  echo
  echo "failures:"
  cut -c1-200 "$out/stats_failures.csv"
}
exit 0
