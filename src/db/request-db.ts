import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import type { RequestTx } from './rls.js';

/**
 * Drizzle bound to one request's transaction: an app's resolvers read and write through it,
 * so the claims, the role and the live-session check of the request's first statement
 * apply to every query, and row level security decides. There is no other connection to
 * reach from a resolver: once the request finished, its queries fail.
 */
export type RequestDb = PostgresJsDatabase<Record<string, never>>;

type Query = ReturnType<postgres.ReservedSql['unsafe']>;

/**
 * Drizzle's postgres.js driver calls `client.unsafe(text, params, options)` and then awaits
 * the result or its `.values()`; here each call waits for the request's connection first
 * (the transaction opens on first use, pipelined like our own reads), and `db.transaction`
 * is a savepoint of the request's transaction, so a failed one undoes only its own writes.
 */
export function requestDb(tx: RequestTx, pool: postgres.Sql): RequestDb {
  const run = (query: string, params: unknown[] | undefined, options: unknown, values: boolean) =>
    tx.sql().then((sql) => {
      // `any`: postgres.js types unsafe() parameters as its own ParameterOrJSON union.
      // biome-ignore lint/suspicious/noExplicitAny: see above
      const q: Query = sql.unsafe(query, params as any, options as postgres.UnsafeQueryOptions | undefined);
      return values ? q.values() : q;
    });
  let savepoints = 0;
  const exec = async (statement: string) => {
    await (await tx.sql()).unsafe(statement);
  };
  /** A savepoint of the request's transaction around `fn`, which gets this same client. */
  const savepoint = async (fn: (client: unknown) => unknown) => {
    const name = `authgate_app_${++savepoints}`;
    await exec(`savepoint ${name}`);
    try {
      const result = await fn(client);
      await exec(`release savepoint ${name}`);
      return result;
    } catch (err) {
      await exec(`rollback to savepoint ${name}`);
      throw err;
    }
  };
  const client = {
    // The pool's parsers: drizzle sets its own on them once (see createPools).
    options: pool.options,
    unsafe: (query: string, params?: unknown[], options?: unknown) => ({
      values: () => run(query, params, options, true),
      // biome-ignore lint/suspicious/noThenProperty: drizzle awaits what unsafe() returns
      then: (ok: (v: unknown) => unknown, fail?: (e: unknown) => unknown) =>
        run(query, params, options, false).then(ok, fail),
    }),
    begin: savepoint,
    savepoint,
  };
  // `as never`: a stand-in with the three members drizzle's driver uses, not a whole Sql.
  const db: RequestDb = drizzle({ client: client as never, casing: 'snake_case' });
  clients.set(db, client);
  return db;
}

/** Each request db's client, for preparedQuery: only a request's own db can run one. */
const clients = new WeakMap<RequestDb, unknown>();

/** What Drizzle's `.prepare(name)` gives: the SQL built, `sql.placeholder(…)`s left to fill. */
type Prepared<Result> = { execute(values?: Record<string, unknown>): Promise<Result> };

// Builds queries and runs none: the SQL a prepared query keeps is the same whichever request
// it later runs for (same dialect, same casing as requestDb's).
const buildOnly = drizzle({
  client: {
    options: { parsers: {}, serializers: {} },
    unsafe: () => {
      throw new Error('preparedQuery: a prepared query runs on a request db (ctx.db), not while it is built.');
    },
  } as never,
  casing: 'snake_case',
});

/**
 * A Drizzle query built once for the whole process and run on each request's `ctx.db`, with
 * `sql.placeholder(name)` for what changes per call. Drizzle builds a query's SQL again on every
 * call otherwise, and for a query with a subquery that building cost more CPU than the rest of
 * the batched field (about a tenth of a page of profiles with their notes, profiled under load).
 * The query runs through the request's own client exactly as `ctx.db` would run it: its
 * transaction, claims, role and row level security, and a db kept past its request fails.
 */
export function preparedQuery<Result, Values extends Record<string, unknown> = Record<string, unknown>>(
  build: (db: RequestDb) => Prepared<Result>,
): (db: RequestDb, values: Values) => Promise<Result> {
  let prepared: Prepared<Result> | undefined;
  return async (db, values) => {
    const client = clients.get(db);
    if (client === undefined) throw new Error('preparedQuery runs on a request db (ctx.db) only.');
    prepared ??= build(buildOnly);
    // Drizzle's postgres.js prepared query sends through `this.client`: a view of the one built
    // query whose client is this request's (test/graphql/app.test.ts pins that it is).
    const onRequest: Prepared<Result> = Object.create(prepared, { client: { value: client } });
    return onRequest.execute(values);
  };
}
