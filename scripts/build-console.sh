#!/usr/bin/env bash
# Builds the web console (console/, its own npm package) into dist/console, which the api
# serves at /. Each step runs only when needed: `npm ci` when console/package-lock.json
# changed, the vite build when a console source, the schema's generated operations or the
# lockfile changed (sha256 stamps, like setup.sh's npm-ci stamp). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=console/node_modules/.tuneloop-lockfile.sha256
want=$(sha256sum console/package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci --prefix console"
  npm ci --prefix console --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

build_stamp=dist/console/.tuneloop-sources.sha256
sources=$(
  find console/src console/index.html console/vite.config.ts console/package-lock.json scripts/build-console.sh -type f -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
)
if [ ! -f dist/console/index.html ] || [ ! -f "$build_stamp" ] || [ "$(cat "$build_stamp")" != "$sources" ]; then
  echo "setup: building the web console (vite)"
  # A production build whatever the caller's NODE_ENV (vitest sets "test", which would
  # bundle React's development build).
  NODE_ENV=production npm run --prefix console --silent build -- --logLevel warn
  echo "$sources" > "$build_stamp"
fi
