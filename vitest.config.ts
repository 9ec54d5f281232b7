import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration suites share one Redis and one PostgreSQL; files run in parallel but each uses its own
    // key prefix / schema, so they never collide.
    pool: 'forks',
  },
});
