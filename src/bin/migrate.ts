import { loadConfig } from '../config.js';
import { startEmbedded } from '../db/embedded.js';
import { migrateAndProvision } from '../db/migrate.js';

/** `npm run db:migrate`: applies drizzle/ to DATABASE_URL, or to the embedded Postgres. */
const config = loadConfig();
const embedded = config.databaseUrl
  ? undefined
  : await startEmbedded({ dataDir: config.dataDir, port: config.embeddedPgPort });
try {
  await migrateAndProvision(config.databaseUrl ?? embedded!.url);
  console.log('migrations applied');
} finally {
  await embedded?.stop();
}
