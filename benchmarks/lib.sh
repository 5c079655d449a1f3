# Shared by the load scripts (loadtest.sh, hotreads.sh, stress.sh, soak.sh): a seeded database of their own, one API
# key per demo role, and a production-like gunicorn on loopback. Source it; it defines functions and exports settings.
#
# Environment: PORT (default 8123), GUNICORN_WORKERS (default 3), GUNICORN_WORKER_CLASS (default gthread),
# GUNICORN_THREADS (default 4), LOADTEST_REDIS_URL (default redis://127.0.0.1:6379/3), SEED (default 1; 0 reuses the
# database seeded by an earlier run), OUT (results folder).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -f .venv/bin/activate ] && . .venv/bin/activate

port="${PORT:-8123}"
base_url="http://127.0.0.1:$port"
export DJANGO_ENV=dev DEBUG=false EMBEDDED_DB_NAME=loadtest DB_CONN_MAX_AGE=60
# The load comes from a handful of keys: lift the per-user throttle so it measures the server, not the limiter.
export THROTTLE_USER=1000000/min THROTTLE_ANON=1000000/min

# Migrate and seed the loadtest database (without Redis: document ingestion then runs inline, so the knowledge base is
# searchable), then write $1 = {"admin": key, "manager": ..., "user": ..., "guest": ...}. The demo users' plans limit
# their API calls (Free: 1,000 a month); each gets an approved override of a trillion a month, so the load is counted
# and checked against a limit on every request (the metered path) without running out.
prepare_database() {
  local keys="$1"
  if [ "${SEED:-1}" != 0 ]; then
    echo "== migrate and seed the loadtest database"
    python manage.py migrate --no-input >/dev/null
    python manage.py seed_demo --force >/dev/null
  fi
  python manage.py shell -c "
import json
from django.contrib.auth import get_user_model
from django.utils import timezone
from apps.core.models import ApiKey
from apps.core.services import api_key_create
from apps.resources.services.plans import quota_override_set
keys = {}
for username in ('admin', 'manager', 'user', 'guest'):
    owner = get_user_model().objects.get(username=username)
    quota_override_set(user=owner, meter='api.calls', period='month', limit=10**12, reason='load test', approved=True)
    ApiKey.objects.filter(owner=owner, name='loadtest', revoked_at__isnull=True).update(revoked_at=timezone.now())
    keys[username] = api_key_create(owner=owner, name='loadtest')[1]
json.dump(keys, open('$keys', 'w'))
" >/dev/null 2>&1
  chmod 600 "$keys"
}

# gunicorn on 127.0.0.1:$port with Redis caching (its database emptied first); stopped when the calling script exits.
# Sets $server (its pid).
start_server() {
  local logdir="$1"
  export REDIS_URL="${LOADTEST_REDIS_URL:-redis://127.0.0.1:6379/3}"
  # every run starts with an empty cache (a run must not be served what an earlier run cached)
  python -c "import os, redis; redis.Redis.from_url(os.environ['REDIS_URL']).flushdb()"
  export PROMETHEUS_MULTIPROC_DIR="$logdir/prometheus-multiproc"
  rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  local workers="${GUNICORN_WORKERS:-3}" klass="${GUNICORN_WORKER_CLASS:-gthread}" threads="${GUNICORN_THREADS:-4}"
  echo "== gunicorn on $base_url ($workers $klass workers x $threads threads)"
  gunicorn aistack.wsgi:application --bind "127.0.0.1:$port" --workers "$workers" --worker-class "$klass" \
    --threads "$threads" --timeout 60 --worker-tmp-dir /dev/shm --error-logfile "$logdir/gunicorn.log" >/dev/null 2>&1 &
  server=$!
  trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
  for _ in $(seq 1 60); do
    curl -fsS "$base_url/healthz" >/dev/null 2>&1 && break
    sleep 1
  done
  curl -fsS "$base_url/healthz" >/dev/null
}

# Resident memory (KiB) of the gunicorn master and its workers.
server_rss_kib() {
  local pids
  pids="$(
    echo "$server"
    pgrep -P "$server" || true
  )"
  ps -o rss= -p "$(echo "$pids" | paste -sd, -)" | awk '{s += $1} END {print s + 0}'
}

# The start of every load script: results folder $out ($OUT, default $1, emptied of earlier locust CSV files), the
# seeded database with its keys in $keys, and the server.
begin_run() {
  out="${OUT:-$1}"
  mkdir -p "$out"
  rm -f "$out"/stats*.csv
  keys="$out/keys.json"
  prepare_database "$keys"
  start_server "$out"
}

load_average() {
  cut -d' ' -f1-3 /proc/loadavg
}

# "DURATION=60s" -> 60, refusing anything over $2 seconds.
duration_seconds() {
  local seconds="${1%s}" limit="$2"
  if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -gt "$limit" ]; then
    echo "duration must be seconds (e.g. 60s), at most ${limit}s" >&2
    return 2
  fi
  echo "$seconds"
}
