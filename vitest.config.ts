import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites boot real servers, databases and trainer processes.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: run two files at a time.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
