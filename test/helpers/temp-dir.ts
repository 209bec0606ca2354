import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** A temp folder created before the file's tests and removed after them. */
export function useTempDir(prefix = 'tuneloop-datasets-'): { readonly path: string; file(name: string): string } {
  let path = '';
  beforeAll(async () => {
    path = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (path) await rm(path, { recursive: true, force: true });
  });
  return {
    get path() {
      return path;
    },
    file: (name: string) => join(path, name),
  };
}

/** A valid chat example line, distinct per `i`. */
export function chatLine(i: number, extra = ''): string {
  return JSON.stringify({
    messages: [
      { role: 'user', content: `Question ${i}${extra}` },
      { role: 'assistant', content: `Answer ${i}${extra}` },
    ],
  });
}
