#!/usr/bin/env bash
# Installs everything Tuneloop needs on a Debian 12 machine: PyTorch (Debian's python3-torch)
# with OpenBLAS for the trainer, onnx for quantized exports, pytest for its tests, curl and
# jq for the README's walkthroughs, and the npm packages. Safe to re-run: each step is
# skipped when already done. Then builds the service into dist/ (skipped when its sources
# are unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need_apt+=(python3-torch)
/usr/bin/python3 -c 'import pytest' >/dev/null 2>&1 || need_apt+=(python3-pytest)
# onnx rewrites ONNX exports into quantized ones (trainer quantize-onnx: INT8/INT4 deployments).
/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1 || need_apt+=(python3-onnx)
# OpenBLAS takes over libblas.so.3: matmuls go from ~5 to ~290 GFLOP/s on 2 cores.
dpkg -s libopenblas0-openmp >/dev/null 2>&1 || need_apt+=(libopenblas0-openmp)
# Formatter and linter for the Python side (scripts/lint.sh).
command -v black >/dev/null 2>&1 || need_apt+=(black)
command -v flake8 >/dev/null 2>&1 || need_apt+=(flake8)
# curl and jq: the README's walkthroughs send requests with curl and pick ids out of the JSON
# answers with jq (test/e2e/readme.test.ts runs them).
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
# The browser the web console's tests drive (test/console, through playwright-core).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# npm ci only when the installed tree was not made from this exact lockfile.
stamp=node_modules/.tuneloop-lockfile.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci"
  # onnxruntime-node's install script would fetch CUDA files from a host we cannot reach.
  # npm 11 already refuses it (package.json allowScripts); the variable covers npm 10.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
# The service runs compiled (dist/); rebuilt only when its sources changed (a stamp in dist/).
node scripts/build.mjs --if-changed
# The web console (console/ → dist/console, served at /).
bash scripts/build-console.sh
echo "setup: ready"
