import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Node (and so yoga and Pothos) loads graphql's CommonJS build; Vite would otherwise give
  // our modules the .mjs build, and two GraphQLError classes break error masking.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // One Postgres cluster for the run; files share it one at a time, each in its own database.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
