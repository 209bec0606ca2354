import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Small tmpfs mounts for disk-full tests: a real filesystem that fills up, not a mock.
 * Mounting needs root (and a kernel that allows it in this container); `tmpfsUnavailable`
 * says why not, so suites can skip with that reason.
 */
export const tmpfsUnavailable: string | null = probe();

function probe(): string | null {
  if (process.getuid?.() !== 0) return 'mounting a small tmpfs needs root; run the tests as root to check full-disk behaviour';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuneloop-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()}); full-disk behaviour is not checked`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `size` (e.g. `16m`) at `dir` (created if missing); returns its unmount. */
export function mountTmpfs(dir: string, size: string): () => void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  return () => execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
}
