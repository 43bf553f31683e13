import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          // The agent's tests run real processes over real trees: 5-10 s alone, 20-30 s on two loaded cores.
          // A timeout is a hang guard, not a speed target (those are the bench's).
          testTimeout: 90_000,
          // all unit files first, then the integration files: the lab's tests never share the two cores with them
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { concurrent: false, groupOrder: 1 },
        },
      },
    ],
  },
});
