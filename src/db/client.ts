import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Config } from '../config.js';
import * as schema from './schema.js';

export type Db = PostgresJsDatabase<typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Pools = { app: postgres.Sql; auth: Db; authSql: postgres.Sql; close: () => Promise<void> };

/**
 * Two pools of the same unprivileged login role: `app` carries GraphQL requests (each
 * transaction switches to anon/authenticated), `auth` is the narrow path that may touch
 * schema auth (its sessions start as authgate_auth). Separate pools keep a sign-in storm
 * from starving ordinary reads.
 */
export function createPools(appUrl: string, config: Config, onQuery?: (query: string) => void): Pools {
  const base = {
    idle_timeout: 30,
    connect_timeout: config.db.connectTimeoutS,
    // postgres.js's default backoff grows to 20 s after a few failed connects (counted
    // across the pool), so a 2 s outage could stall queued work for 20 s; retry at most
    // every second instead.
    backoff: (attempts: number) => Math.min(0.05 * 2 ** attempts, 1),
    onnotice: () => {},
  } as const;
  const app = postgres(appUrl, {
    ...base,
    max: config.db.poolMax,
    connection: {
      application_name: 'authgate',
      // Cursors carry created_at::text; one time zone keeps its shape fixed.
      TimeZone: 'UTC',
      statement_timeout: config.db.statementTimeoutMs,
      // A request's transaction never idles this long unless something is wrong.
      idle_in_transaction_session_timeout: config.db.statementTimeoutMs * 3,
    },
    // Lets tests and the bench count statements per request; off in production.
    ...(onQuery ? { debug: (_conn: number, query: string) => onQuery(query) } : {}),
  });
  const auth = postgres(appUrl, {
    ...base,
    max: config.db.authPoolMax,
    connection: {
      application_name: 'authgate-auth',
      TimeZone: 'UTC',
      statement_timeout: config.db.statementTimeoutMs,
      role: 'authgate_auth',
    },
  });
  return {
    app,
    auth: drizzle({ client: preparing(auth), schema, casing: 'snake_case' }),
    authSql: auth,
    close: async () => {
      await Promise.all([app.end({ timeout: 5 }), auth.end({ timeout: 5 })]);
    },
  };
}

/** The login URL of the gateway: the admin URL's server and database, its own login role. */
export function loginUrl(adminUrl: string, role: string, password: string): string {
  const u = new URL(adminUrl);
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
