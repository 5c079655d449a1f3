#!/usr/bin/env bash
# Rolling deployment of one image to one namespace, with automatic rollback. Used by .github/workflows/cd.yml and
# usable by hand:
#   IMAGE=ghcr.io/<owner>/aistack:sha-... NAMESPACE=aistack PUBLIC_URL=https://aistack.example.com deploy/k8s/deploy.sh
# Optional: KUBECONFIG_B64 (base64 kubeconfig; otherwise the current kubectl context), APP_SECRET_ENV (KEY=value
# lines written to the Secret aistack-secrets), ROLLOUT_TIMEOUT (default 300s).
#
# Steps: update the Secret, apply the manifests with the new image except the Deployments' rollout, run the
# migration Job and wait for it, roll out web/worker/beat and wait, then check /readyz through PUBLIC_URL. If the
# rollout or the health check fails, every Deployment is rolled back to its previous revision and the script fails.
set -euo pipefail
: "${IMAGE:?set IMAGE}"
: "${NAMESPACE:=aistack}"
: "${ROLLOUT_TIMEOUT:=300s}"
here="$(cd "$(dirname "$0")" && pwd)"

if [ -n "${KUBECONFIG_B64:-}" ]; then
  KUBECONFIG="$(mktemp)"
  export KUBECONFIG
  trap 'rm -f "$KUBECONFIG"' EXIT
  printf '%s' "$KUBECONFIG_B64" | base64 -d > "$KUBECONFIG"
fi
kc=(kubectl --namespace "$NAMESPACE")

if [ -n "${APP_SECRET_ENV:-}" ]; then
  printf '%s\n' "$APP_SECRET_ENV" \
    | "${kc[@]}" create secret generic aistack-secrets --from-env-file=/dev/stdin --dry-run=client -o yaml \
    | "${kc[@]}" apply -f -
fi

# Render the manifests through an overlay that sets this deployment's image and namespace.
work="$(mktemp -d)"
mkdir -p "$work/base"
cp "$here"/*.yaml "$work/base/"
cat > "$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${NAMESPACE}
resources: [base]
images:
  - name: ghcr.io/aistack/aistack
    newName: ${IMAGE%:*}
    newTag: ${IMAGE##*:}
# The namespace exists already (the deploy account may only act inside it).
patches:
  - patch: |-
      \$patch: delete
      apiVersion: v1
      kind: Namespace
      metadata:
        name: aistack
YAML
kubectl kustomize "$work" > "$work/rendered.yaml"

# The migration Job is immutable: replace the previous one, then wait for it before touching the Deployments.
"${kc[@]}" delete job aistack-migrate --ignore-not-found --wait=true
"${kc[@]}" apply -f "$work/rendered.yaml"
if ! "${kc[@]}" wait --for=condition=complete job/aistack-migrate --timeout=900s; then
  "${kc[@]}" logs job/aistack-migrate --tail=200 || true
  echo "migration failed: Deployments were not rolled out past their readiness checks" >&2
  for d in aistack-web aistack-worker aistack-beat; do "${kc[@]}" rollout undo "deployment/$d" || true; done
  exit 1
fi

rollback() {
  echo "deployment failed: rolling back" >&2
  for d in aistack-web aistack-worker aistack-beat; do
    "${kc[@]}" rollout undo "deployment/$d" || true
  done
  for d in aistack-web aistack-worker aistack-beat; do
    "${kc[@]}" rollout status "deployment/$d" --timeout="$ROLLOUT_TIMEOUT" || true
  done
  exit 1
}

for d in aistack-web aistack-worker aistack-beat; do
  "${kc[@]}" rollout status "deployment/$d" --timeout="$ROLLOUT_TIMEOUT" || rollback
done

if [ -n "${PUBLIC_URL:-}" ]; then
  ok=0
  for _ in $(seq 1 12); do
    if curl -fsS --max-time 10 "${PUBLIC_URL%/}/readyz" > /dev/null; then ok=1; break; fi
    sleep 10
  done
  [ "$ok" -eq 1 ] || rollback
fi
echo "deployed $IMAGE to $NAMESPACE"
