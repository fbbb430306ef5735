import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The first gateway starts an embedded Postgres (initdb) and applies the migrations.
    hookTimeout: 120_000,
    testTimeout: 30_000,
  },
});
