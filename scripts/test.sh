#!/usr/bin/env bash
# The whole test suite: generated files up to date, types, TypeScript tests (vitest), and
# the trainer's Python tests. With TEST_DATABASE_URL set, suites run on both PGlite and
# that PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_OPTIONS="${NODE_OPTIONS:-} --no-warnings=ExperimentalWarning"

echo "== schema and generated code are up to date"
npx tsx src/graphql/print-schema.ts --check
npx graphql-codegen --config codegen.ts --check >/dev/null || {
  echo "test/generated is stale: run npm run build:schema && npm run codegen and commit the result" >&2
  exit 1
}
echo "== formatting and lint"
bash scripts/lint.sh
echo "== types"
npx tsc --noEmit
npx tsc -p console/tsconfig.json --noEmit
echo "== web console build (for test/console)"
bash scripts/build-console.sh
echo "== TypeScript tests"
npx vitest run "$@"
echo "== trainer tests"
bash scripts/test-python.sh
