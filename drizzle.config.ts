import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` diffs src/db/schema.ts against drizzle/; roles, grants and
// functions live in the hand-written (--custom) migrations beside the generated ones.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  casing: 'snake_case',
  schemaFilter: ['public', 'auth'],
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://localhost:5432/authgate' },
});
