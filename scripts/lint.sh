#!/usr/bin/env bash
# Formatting and lint checks: Biome for TypeScript/JavaScript/JSON, black and flake8 for
# Python. `bash scripts/lint.sh --fix` rewrites files instead of only checking them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fix" ]; then
  npx biome check --write .
  black -q trainer bench
else
  npx biome check .
  black -q --check trainer bench || { echo "python files need formatting: run npm run format" >&2; exit 1; }
fi
flake8 trainer bench
