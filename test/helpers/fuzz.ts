import type { Parameters } from 'fast-check';

/**
 * fast-check options for the fuzz suites (test/fuzz/): a fixed seed, so a run is the same
 * every time and a failure can be replayed; `TUNELOOP_FUZZ_SEED` picks another seed (e.g.
 * a random one in a long soak) and `TUNELOOP_FUZZ_RUNS` another run count. fast-check
 * prints the seed and the shrunk path of a failing case; `TUNELOOP_FUZZ_SEED` with that
 * seed runs it again.
 */
export function fuzzOptions<T>(numRuns: number): Parameters<T> {
  const seed = Number(process.env.TUNELOOP_FUZZ_SEED ?? 20261205);
  const runs = Number(process.env.TUNELOOP_FUZZ_RUNS ?? numRuns);
  return { seed, numRuns: runs, verbose: 1 };
}
