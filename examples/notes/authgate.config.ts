import { defineConfig } from 'authgate';

// What authgate adds to itself for this app: `npx authgate dev|start|db:migrate|schema:print`
// find this file in the folder they run in.
export default defineConfig({
  // Modules that add types and fields to authgate's GraphQL builder (imported at start).
  graphql: ['./src/graphql.ts'],
  // drizzle-kit's output folder: applied after authgate's own migrations, under one lock.
  migrations: ['./drizzle'],
  // Refuse to start while a table anon or authenticated can reach has no row level security.
  strictRls: true,
});
