#!/usr/bin/env bash
# Static checks of the monitoring configuration (`make monitoring-check`): Prometheus configuration and rules,
# the alert unit tests in tests/*.yml, and the Alertmanager configuration and routing. Installs Debian's prometheus
# (promtool) and prometheus-alertmanager (amtool) packages when the tools are missing. Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

install_tools() {
  local packages=()
  command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
  command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
  if [ "${#packages[@]}" -gt 0 ]; then
    echo "installing ${packages[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  fi
}
install_tools

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# prometheus.yml reads the scrape token from /etc/prometheus/metrics_token, which only exists where Prometheus runs:
# check a copy that points at a throwaway token file, beside links to the rules and targets it refers to.
printf 'check-only-token\n' > "$tmp/metrics_token"
sed "s#/etc/prometheus/metrics_token#$tmp/metrics_token#" prometheus/prometheus.yml > "$tmp/prometheus.yml"
ln -s "$here/prometheus/alerts" "$tmp/alerts"
ln -s "$here/prometheus/targets" "$tmp/targets"

echo "== promtool check config"
promtool check config "$tmp/prometheus.yml"

echo "== promtool check rules"
promtool check rules prometheus/alerts/*.yml

echo "== promtool test rules"
promtool test rules tests/*.yml

echo "== amtool check-config"
amtool check-config alertmanager/config.yml

echo "== alert routing"
route() {
  local expected="$1"
  shift
  amtool config routes test --config.file=alertmanager/config.yml --verify.receivers="$expected" "$@" >/dev/null \
    2> >(grep -v 'overrides the --alertmanager.url' >&2) || { echo "route of $* is not $expected" >&2; return 1; }
  echo "  $* -> $expected"
}
route on-call severity=critical system=web
route on-call severity=critical system=database
route data-team severity=warning system=database
route data-team severity=warning system=cache
route backend-team severity=warning system=worker
route backend-team severity=warning system=erp
route backend-team severity=warning system=chat
route ops-team severity=warning system=security
route ops-team severity=warning system=host
route ops-team severity=warning system=resources
route on-call severity=critical system=resources
route incident-webhook severity=info system=web

echo "monitoring: all checks passed"
