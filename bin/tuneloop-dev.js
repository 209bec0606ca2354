#!/usr/bin/env node
// `tuneloop` from the TypeScript sources, through tsx's loader (development and tests: no
// build step, always the current code). Users run bin/tuneloop.js, which runs dist/.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli.ts');
await run(process.argv.slice(2));
