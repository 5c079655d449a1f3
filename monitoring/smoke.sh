#!/usr/bin/env bash
# Monitoring smoke test without Docker (`make monitoring-smoke`): starts the Django development server and Debian's
# Prometheus on free loopback ports, Prometheus scraping the server's /metrics, waits (bounded) for a successful
# scrape, and checks through the Prometheus API that AI Stack's request and business metrics arrived. Both processes
# are stopped on exit. Loopback only; the server uses the dev settings and the embedded PostgreSQL.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
deadline_seconds="${SMOKE_TIMEOUT:-120}"

if ! command -v prometheus >/dev/null 2>&1; then
  echo "installing prometheus" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

free_port() { "$py" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
web_port="$(free_port)"
prom_port="$(free_port)"
tmp="$(mktemp -d)"
web_pid=""
prom_pid=""
cleanup() {
  local status=$?
  set +e
  for pid in $prom_pid $web_pid; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT

wait_for() {  # wait_for <description> <command...>: polls every 0.5 s until the command succeeds or time runs out
  local what="$1" start=$SECONDS
  shift
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS - start > deadline_seconds )); then echo "timed out waiting for $what" >&2; return 1; fi
    sleep 0.5
  done
}

cd "$root"
DJANGO_ENV=dev "$py" manage.py embedded_db start >/dev/null
DJANGO_ENV=dev "$py" manage.py migrate --noinput >/dev/null
# /metrics answers the loopback address (METRICS_ALLOWED_IPS default).
DJANGO_ENV=dev METRICS_ALLOWED_IPS=127.0.0.1 "$py" manage.py runserver --noreload "127.0.0.1:$web_port" \
  >"$tmp/web.log" 2>&1 &
web_pid=$!
wait_for "the web server" curl -fsS "http://127.0.0.1:$web_port/healthz"
# Some traffic for the request counters.
for _ in 1 2 3; do curl -fsS "http://127.0.0.1:$web_port/healthz" >/dev/null; done

cat > "$tmp/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: web
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$web_port"]
YAML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!

api="http://127.0.0.1:$prom_port/api/v1/query"
query_has_result() {
  curl -fsS --get "$api" --data-urlencode "query=$1" \
    | "$py" -c 'import json,sys;d=json.load(sys.stdin);sys.exit(0 if d["status"]=="success" and d["data"]["result"] else 1)'
}
wait_for "a successful scrape" query_has_result 'up{job="web"} == 1' || { tail -20 "$tmp/prometheus.log" >&2; exit 1; }
metric='django_http_requests_total_by_view_transport_method_total{view="healthz"}'
wait_for "$metric" query_has_result "$metric" || { tail -20 "$tmp/web.log" >&2; exit 1; }
value="$(curl -fsS --get "$api" --data-urlencode "query=sum($metric)" \
  | "$py" -c 'import json,sys;print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')"
echo "monitoring smoke: Prometheus scraped the web server; $metric = $value"
# The business metrics of the systems (apps/<system>/metrics.py) arrive through the same scrape: the snapshot's age,
# gauges of the platform, the ERP and the knowledge base computed from the database, and no gauge failing.
for business in aistack_business_metrics_age_seconds aistack_active_users erp_stock_outs erp_revenue_today \
  rag_chunks; do
  wait_for "$business" query_has_result "$business" || { tail -20 "$tmp/web.log" >&2; exit 1; }
done
failed="$(curl -fsS --get "$api" --data-urlencode "query=max(aistack_business_metrics_failed)" \
  | "$py" -c 'import json,sys;print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')"
[ "$failed" = 0 ] || { echo "business gauges failing to compute: $failed" >&2; tail -40 "$tmp/web.log" >&2; exit 1; }
echo "monitoring smoke: business metrics arrived (every gauge computed)"
