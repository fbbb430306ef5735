import type postgres from 'postgres';
import { type Auth, createAuth } from '../auth/index.js';
import { loadSealingKeys, provisionSigningKeys } from '../auth/signing-keys.js';
import { type Config, loadConfig } from '../config.js';
import { createPools, loginUrl } from '../db/client.js';
import { connectPostgres } from '../db/connect.js';
import { embeddedSocketDir, initialisedEmbeddedUrl, startEmbedded } from '../db/embedded.js';
import { migrateAndProvision } from '../db/migrate.js';
import { createLogger } from '../log.js';
import { createMailer } from '../mail/mailer.js';

/**
 * Runs `fn` with an admin connection: DATABASE_URL, else the embedded Postgres of DATA_DIR
 * (the one `npm start` is running, or started here for the duration).
 */
export async function withAdminSql<T>(fn: (sql: postgres.Sql, url: string, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  let url = config.databaseUrl ?? (await runningEmbeddedUrl(config));
  let stop: (() => Promise<void>) | undefined;
  if (!url) {
    const db = await startEmbedded({ dataDir: config.dataDir, port: config.embeddedPgPort });
    url = db.url;
    stop = db.stop;
  }
  // An unreachable host fails in seconds, not after postgres.js's default 30.
  const sql = connectPostgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    return await fn(sql, url, config);
  } finally {
    await sql.end({ timeout: 5 });
    await stop?.();
  }
}

/**
 * The admin URL `withAdminSql` would use, without starting anything: a Postgres started here
 * would have to outlive the command for the URL to be of use, with nobody left to stop it.
 */
export async function adminUrl(): Promise<string> {
  const config = loadConfig();
  const url = config.databaseUrl ?? (await runningEmbeddedUrl(config));
  if (url) return url;
  const where =
    config.embeddedPgPort === undefined
      ? `on its socket in ${embeddedSocketDir(config.dataDir)}`
      : `on port ${config.embeddedPgPort}`;
  throw new Error(
    `DATABASE_URL is not set and the embedded Postgres of DATA_DIR (${config.dataDir}) is not running ${where}: start the gateway (npm start, npx authgate dev), or set DATABASE_URL`,
  );
}

/** The embedded Postgres of DATA_DIR, when it runs (under `npm start`) and answers. */
async function runningEmbeddedUrl(config: Config): Promise<string | undefined> {
  const url = initialisedEmbeddedUrl(config.dataDir, config.embeddedPgPort);
  return url && (await answers(url)) ? url : undefined;
}

/**
 * Runs `fn` with the gateway's auth path (its flows, on the auth login role's own pool), as
 * `npm start` builds it but without the HTTP server: the CLI creates, bans and deletes users
 * through the same code as the API, so the same rules and side effects apply.
 */
export async function withAuthPath<T>(fn: (auth: Auth) => Promise<T>): Promise<T> {
  return withAdminSql(async (_sql, url, config) => {
    const log = createLogger('silent');
    const sealing = loadSealingKeys(config, (line) => log.warn(line));
    const secrets = await migrateAndProvision(url, provisionSigningKeys(sealing));
    const base = config.db.poolUrl ?? url;
    const pools = createPools(
      {
        app: loginUrl(base, secrets.app.role, secrets.app.password),
        auth: loginUrl(base, secrets.auth.role, secrets.auth.password),
      },
      config,
    );
    const mailer = createMailer(config.mail, config.mail.smtpUrl, log);
    try {
      const auth = await createAuth({ pools, config, sealing, secrets, mailer, log, onLimited: () => {} });
      try {
        return await fn(auth);
      } finally {
        auth.stop();
        await auth.idle();
      }
    } finally {
      mailer.close();
      await pools.close();
    }
  });
}

async function answers(url: string): Promise<boolean> {
  const sql = connectPostgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}
