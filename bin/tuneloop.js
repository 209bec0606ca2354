#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader: `npx tuneloop` works from a
// clean clone with no build step.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli.ts');
await run(process.argv.slice(2));
