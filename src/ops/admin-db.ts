import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import postgres from 'postgres';
import { type Config, loadConfig } from '../config.js';
import { startEmbedded } from '../db/embedded.js';

/**
 * Runs `fn` with an admin connection: DATABASE_URL, else the embedded Postgres of DATA_DIR
 * (the one `npm start` is running, or started here for the duration).
 */
export async function withAdminSql<T>(fn: (sql: postgres.Sql, url: string, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  let url = config.databaseUrl;
  let stop: (() => Promise<void>) | undefined;
  if (!url) {
    const passwordFile = resolve(config.dataDir, 'pg-admin-password');
    const running = existsSync(passwordFile)
      ? `postgres://postgres:${encodeURIComponent(readFileSync(passwordFile, 'utf8').trim())}@127.0.0.1:${config.embeddedPgPort}/postgres`
      : undefined;
    if (running && (await answers(running))) url = running;
    else {
      const db = await startEmbedded({ dataDir: config.dataDir, port: config.embeddedPgPort });
      url = db.url;
      stop = db.stop;
    }
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql, url, config);
  } finally {
    await sql.end({ timeout: 5 });
    await stop?.();
  }
}

async function answers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}
