import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.slow.test.ts', 'test/**/*.browser.test.ts', 'test/faults/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'slow',
          environment: 'node',
          include: ['test/**/*.slow.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          // Attack suites: each replays an attack on a real server or state machine on loopback and
          // asserts the bounded, coded outcome (`npm run test:faults`).
          name: 'faults',
          environment: 'node',
          include: ['test/faults/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // Memory and fairness figures are read off live processes: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
