#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s against the Kubernetes JSON schemas bundled in the
# kubernetes-validate package (no cluster and no network needed), in strict mode (unknown fields are errors), for
# the oldest and newest Kubernetes versions we support. Also checks that kustomization.yaml lists every manifest
# and, when kubectl is installed, validates the rendered kustomization.
#   deploy/k8s/validate.sh            (K8S_VERSIONS="1.29.0 1.33.0" to choose the versions)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
versions="${K8S_VERSIONS:-1.29.0 1.33.0}"

py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
if ! "$py" -c "import kubernetes_validate" 2>/dev/null; then
  echo "installing kubernetes-validate" >&2
  "$py" -m pip install --quiet "kubernetes-validate==1.37.0"
fi

cd "$here"
manifests=()
for f in *.yaml; do
  [ "$f" = kustomization.yaml ] && continue
  manifests+=("$f")
done

# Every manifest except the Secret template belongs to the kustomization, and every listed resource exists.
"$py" - "${manifests[@]}" <<'PY'
import sys, yaml
listed = yaml.safe_load(open("kustomization.yaml"))["resources"]
present = set(sys.argv[1:]) - {"secret.template.yaml"}
missing = sorted(present - set(listed))
unknown = sorted(set(listed) - set(sys.argv[1:]))
if missing or unknown:
    sys.exit(f"kustomization.yaml: not listed {missing}, listed but absent {unknown}")
print(f"kustomization.yaml lists all {len(listed)} manifests")
PY

status=0
for version in $versions; do
  echo "== Kubernetes $version"
  "$py" -m kubernetes_validate --strict --quiet -k "$version" "${manifests[@]}" || status=1
  if command -v kubectl >/dev/null 2>&1; then
    rendered="$(mktemp --suffix=.yaml)"
    kubectl kustomize . > "$rendered"
    "$py" -m kubernetes_validate --strict --quiet -k "$version" "$rendered" || status=1
    rm -f "$rendered"
  fi
done
if [ "$status" -eq 0 ]; then echo "deploy/k8s: all manifests valid"; fi
exit "$status"
