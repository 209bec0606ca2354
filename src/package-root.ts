import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder that holds Tuneloop's package.json: the repository root, or where the package
 * is installed. Found by walking up from this module rather than by a fixed number of
 * `..`, because the module runs from two depths — `src/` under tsx and vitest, and
 * `dist/src/` once built — and `trainer/` sits beside both. (A loop of four lines; a
 * dependency such as `package-directory` would do the same.)
 */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
