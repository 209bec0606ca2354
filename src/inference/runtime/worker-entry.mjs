// The runtime worker's entry point, plain JavaScript on purpose: a worker thread does not
// inherit the parent's TypeScript loader, so it registers tsx itself before it loads the
// TypeScript module (the same as bin/tuneloop.js does for the main thread).
import { register } from 'tsx/esm/api';

register();
await import('./worker-main.ts');
