#!/usr/bin/env node
// Compiles the service (src/ and migrations/) to JavaScript in dist/, one .js file per .ts
// file, same layout (dist/src/…, dist/migrations/…), so relative imports and the
// `new URL('./x.js', import.meta.url)` of worker threads hold unchanged. Production runs
// dist/ with plain Node: no TypeScript loader, no tsx.
//
// esbuild and not `tsc`: transpiling alone is what a build needs (`tsc --noEmit` in
// `npm test` is the type check), and on our 2-core machines esbuild takes ≈ 0.2 s of CPU for
// the whole tree where tsc's emit, which type-checks again, takes ≈ 6 s. Every file is
// transpiled on its own, which `isolatedModules` and `verbatimModuleSyntax` in
// tsconfig.json keep safe.
//
// `--if-changed` skips the build when dist/ was built from exactly these sources (a stamp
// of their sha256, like setup.sh's npm stamp), so `bash scripts/setup.sh` stays fast.
//
// Only dist/src and dist/migrations are replaced: other folders under dist/ (the web
// console's build goes to dist/console/) are left alone.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'dist');
const STAMP = path.join(OUT, '.sources.sha256');
/** Compiled folders, relative to the repository root. */
const FOLDERS = ['src', 'migrations'];
/** Development tooling shared by tests and benchmarks: never part of the service. */
const EXCLUDED = ['src/dev'];

const started = performance.now();
const sources = FOLDERS.flatMap((folder) =>
  readdirSync(path.join(ROOT, folder), { recursive: true })
    .map((name) => path.join(folder, String(name)))
    .filter((file) => !EXCLUDED.some((dir) => file.startsWith(`${dir}${path.sep}`)) && statSync(path.join(ROOT, file)).isFile()),
).sort();
const entryPoints = sources.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'));

const hash = createHash('sha256');
// What decides the output: the sources, this script, and the esbuild that runs it.
for (const file of [...sources, 'scripts/build.mjs', 'package-lock.json']) {
  hash
    .update(`${file}\0`)
    .update(readFileSync(path.join(ROOT, file)))
    .update('\0');
}
const digest = hash.digest('hex');

const built = FOLDERS.every((folder) => existsSync(path.join(OUT, folder)));
if (process.argv.includes('--if-changed') && built && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === digest) {
  process.exit(0);
}

for (const folder of FOLDERS) rmSync(path.join(OUT, folder), { recursive: true, force: true });
rmSync(STAMP, { force: true });
await build({
  absWorkingDir: ROOT,
  entryPoints,
  outdir: OUT,
  outbase: '.',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Stack traces point at the TypeScript sources under `node --enable-source-maps`.
  sourcemap: 'linked',
  logLevel: 'warning',
});
// Anything else in the source folders (none today; e.g. a .json or .sql file) is copied as is.
for (const file of sources.filter((f) => !f.endsWith('.ts'))) cpSync(path.join(ROOT, file), path.join(OUT, file));
writeFileSync(STAMP, `${digest}\n`);
console.log(`built ${entryPoints.length} files into dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
