#!/usr/bin/env bash
# Runs the trainer's Python test suite with the interpreter that has PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${TUNELOOP_PYTHON:-}"
if [ -z "$PY" ]; then
  for c in /usr/bin/python3 python3 python; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch' >/dev/null 2>&1; then PY="$c"; break; fi
  done
fi
[ -n "$PY" ] || { echo "no python interpreter with torch found (set TUNELOOP_PYTHON)" >&2; exit 1; }
cd trainer
exec "$PY" -m pytest -q -p no:cacheprovider tests "$@"
