#!/usr/bin/env node
// Runs the compiled service in dist/ (`npm run build`; scripts/setup.sh builds it) with
// plain Node. Development and tests run the TypeScript sources with bin/tuneloop-dev.js.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('tuneloop: not built yet: run `npm run build` (or `bash scripts/setup.sh`) in the tuneloop folder first\n');
  process.exit(1);
}
const { run } = await import(entry.href);
await run(process.argv.slice(2));
