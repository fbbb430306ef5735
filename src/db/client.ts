import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { drizzle } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import type { Config } from '../config.js';
import { connectPostgres } from './connect.js';
import * as schema from './schema.js';

export type Db = PostgresJsDatabase<typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Pools = { app: postgres.Sql; auth: Db; authSql: postgres.Sql; close: () => Promise<void> };

/**
 * Two pools, each on its own unprivileged login role (neither superuser nor BYPASSRLS):
 * `app` carries GraphQL requests as the request path's login role (each transaction
 * switches to anon/authenticated, and it can never become authgate_auth); `auth` is the
 * narrow path that may touch schema auth, as the auth path's login role, which inherits
 * authgate_auth. Separate pools also keep a sign-in storm from starving ordinary reads.
 */
export function createPools(
  urls: { app: string; auth: string },
  config: Config,
  onQuery?: (query: string) => void,
  onAuthQuery?: (query: string) => void,
): Pools {
  // Behind a transaction-mode pooler, session settings sent at start-up are refused or
  // lost; the roles' own defaults and the pooler's timeouts apply instead.
  const session = (statementTimeoutMs: number) =>
    config.db.pooler
      ? {}
      : {
          statement_timeout: statementTimeoutMs,
          // A request's transaction never idles this long unless something is wrong.
          idle_in_transaction_session_timeout: statementTimeoutMs * 3,
        };
  const base = {
    idle_timeout: 30,
    connect_timeout: config.db.connectTimeoutS,
    // Named prepared statements, unless a pooler cannot carry them (PgBouncer < 1.21).
    prepare: config.db.prepare,
    // postgres.js's default backoff grows to 20 s after a few failed connects (counted
    // across the pool), so a 2 s outage could stall queued work for 20 s; retry at most
    // every second instead.
    backoff: (attempts: number) => Math.min(0.05 * 2 ** attempts, 1),
    onnotice: () => {},
  } as const;
  const app = connectPostgres(urls.app, {
    ...base,
    max: config.db.poolMax,
    connection: {
      application_name: 'authgate',
      // Cursors carry created_at::text; one time zone keeps its shape fixed.
      TimeZone: 'UTC',
      ...session(config.db.statementTimeoutMs),
    },
    // Lets tests and the bench count statements per request; off in production.
    ...(onQuery ? { debug: (_conn: number, query: string) => onQuery(query) } : {}),
  });
  // Drizzle reads dates and times as text and maps them itself; it sets those parsers on the
  // client it is given. Set once here, so an app's queries through ctx.db (requestDb) and our
  // own raw ones (which cast timestamps to text anyway) always see the same parsers.
  drizzle({ client: app });
  // Its own login role, which inherits authgate_auth: no SET ROLE needed, so it works
  // through a transaction-mode pooler too.
  const auth = connectPostgres(urls.auth, {
    ...base,
    max: config.db.authPoolMax,
    connection: { application_name: 'authgate-auth', TimeZone: 'UTC', ...session(config.db.statementTimeoutMs) },
    // The bench counts the auth path's round trips (sign-in, refresh) with it; off in production.
    ...(onAuthQuery ? { debug: (_conn: number, query: string) => onAuthQuery(query) } : {}),
  });
  return {
    app,
    auth: drizzle({ client: config.db.prepare ? preparing(auth) : auth, schema, casing: 'snake_case' }),
    authSql: auth,
    close: async () => {
      await Promise.all([app.end({ timeout: 5 }), auth.end({ timeout: 5 })]);
    },
  };
}

/** A login URL of the gateway: the server and database of `baseUrl`, one of its own roles. */
export function loginUrl(baseUrl: string, role: string, password: string): string {
  const u = new URL(baseUrl);
  u.username = role;
  u.password = password;
  return u.toString();
}

/**
 * drizzle sends its queries as unnamed statements (it prepares only queries given a name),
 * and postgres.js then spends a Describe round trip before every statement with
 * parameters. The same SQL text comes back on every sign-in and refresh, so the auth
 * path asks postgres.js to prepare it: one round trip per statement instead of two.
 */
function preparing<T extends postgres.Sql | postgres.TransactionSql>(sql: T): T {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (query: string, params?: unknown[], options?: { prepare?: boolean }) =>
          // `any`: postgres.js types unsafe() parameters as its own ParameterOrJSON union.
          // biome-ignore lint/suspicious/noExplicitAny: see above
          target.unsafe(query, params as any, { ...options, prepare: true });
      }
      if (prop === 'begin') {
        type Scope = (tx: postgres.TransactionSql) => unknown;
        const begin = (target as postgres.Sql).begin.bind(target);
        return (a: string | Scope, b?: Scope) =>
          typeof a === 'function' ? begin((tx) => a(preparing(tx))) : begin(a, (tx) => b!(preparing(tx)));
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
