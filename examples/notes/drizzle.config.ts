import { defineConfig } from 'drizzle-kit';

// drizzle-kit generate writes the migrations of src/schema.ts to drizzle/; authgate applies
// them (after its own) at start and with `npx authgate db:migrate`. Nothing here connects to
// a database: generating only compares src/schema.ts with drizzle/meta.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema.ts',
  out: './drizzle',
});
