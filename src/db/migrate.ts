import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type postgres from 'postgres';
import { connectPostgres } from './connect.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** How many migrations this build ships; /readyz wants the database to have them all. */
export const SHIPPED_MIGRATIONS: number = (
  JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: unknown[] }
).entries.length;

export type Login = { role: string; password: string };
export type Provisioned = {
  /** The request path's login role (member of authgate_authenticator). */
  app: Login;
  /** The auth path's login role (inherits authgate_auth). */
  auth: Login;
  jwtSecret: string;
  refreshKey: string;
};

/**
 * Applies drizzle/ with the admin URL, then makes sure the gateway's secrets exist and the
 * login roles can sign in with their passwords, then runs `underLock` (start-up work of the
 * layers above, such as sealing signing keys) on the same connection. Serialised by an
 * advisory lock so that several instances starting together do not race.
 */
export async function migrateAndProvision(
  adminUrl: string,
  underLock: (sql: postgres.Sql) => Promise<void> = async () => {},
): Promise<Provisioned> {
  const sql = connectPostgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await sql`select pg_advisory_lock(hashtext('authgate:migrate'))`;
    try {
      await migrateRacingRoles(sql);
      const [db] = await sql<{ name: string }[]>`select current_database() as name`;
      const app = { role: loginRoleFor(db!.name), password: await secret(sql, 'login_password') };
      const auth = { role: `${app.role}_auth`, password: await secret(sql, 'auth_login_password') };
      for (const [login, group] of [
        [app, 'authgate_authenticator'],
        [auth, 'authgate_auth'],
      ] as const) {
        await sql`select authgate_private.ensure_login_role(${login.role}, ${scramVerifier(login.password)}, ${group})`;
      }
      await underLock(sql);
      return {
        app,
        auth,
        jwtSecret: await secret(sql, 'jwt_secret'),
        refreshKey: await secret(sql, 'refresh_token_key'),
      };
    } finally {
      await sql`select pg_advisory_unlock(hashtext('authgate:migrate'))`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Roles are cluster-wide but the lock above is per database: gateways of two databases of
 * one cluster migrating for the first time at once can both try to create `anon`. The
 * migration that loses is rolled back whole; run again, it finds the roles and passes.
 */
async function migrateRacingRoles(sql: postgres.Sql): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(drizzle({ client: sql }), { migrationsFolder: MIGRATIONS_FOLDER });
      return;
    } catch (err) {
      const e = (err as { cause?: unknown }).cause ?? err;
      const code = (e as { code?: string }).code;
      const roleRace = code === '42710' || (code === '23505' && /pg_authid/.test(String((e as Error).message)));
      if (!roleRace || attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

/**
 * The request path's login role of this database (the auth path's is this name + `_auth`):
 * readable, and unique per database name within the cluster.
 */
export function loginRoleFor(database: string): string {
  const readable = database
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 30);
  return `authgate_login_${readable}_${createHash('sha256').update(database).digest('hex').slice(0, 8)}`;
}

async function secret(sql: postgres.Sql, name: string): Promise<string> {
  await sql`insert into authgate_private.secrets (name, value)
            values (${name}, ${randomBytes(32).toString('base64url')}) on conflict (name) do nothing`;
  const [row] = await sql<{ value: string }[]>`select value from authgate_private.secrets where name = ${name}`;
  if (!row) throw new Error(`secret ${name} missing after insert`);
  return row.value;
}

/**
 * A SCRAM-SHA-256 verifier (RFC 5802/7677), so the plain password is never sent as SQL and
 * cannot surface in a statement log.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * An app's drizzle-kit migrations, folder by folder after ours (the caller holds the
 * migration lock). Each folder keeps its own journal table in schema drizzle, so its
 * migrations are told from ours and from other folders'.
 */
export async function migrateApp(sql: postgres.Sql, folders: string[]): Promise<void> {
  for (const folder of folders) {
    const table = `__app_${folder
      .split(/[\\/]/)
      .filter(Boolean)
      .slice(-2)
      .join('_')
      .replace(/[^a-zA-Z0-9_]/g, '_')}`;
    await migrate(drizzle({ client: sql }), {
      migrationsFolder: folder,
      migrationsTable: table.slice(0, 63),
      migrationsSchema: 'drizzle',
    });
  }
}
