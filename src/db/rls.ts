import type postgres from 'postgres';
import { SessionEndedError } from './errors.js';

/** What Postgres learns about the caller: the verified JWT claims, or `{ role: 'anon' }`. */
export type Claims = { role: string; sub?: string; session_id?: string } & Record<string, unknown>;

/** The request's transaction, opened lazily by the first resolver that needs the database. */
export type RequestTx = {
  /**
   * Opens the transaction without waiting: BEGIN and the identity statement go out at once,
   * and the queries resolvers issue next are pipelined behind them on the same connection.
   */
  open: () => void;
  /** The request's connection (postgres.js), inside the transaction; opens it if needed. */
  sql: () => Promise<postgres.ReservedSql>;
  /** Resolves once the identity statement succeeded; SessionEndedError for an ended session. */
  ready: () => Promise<void>;
  /**
   * The identity statement alone, as one statement on any connection of the pool, which
   * goes straight back: a mutation checks its session without holding a connection while
   * it works elsewhere (hashing a password, the auth path). Opens no transaction.
   */
  check: () => Promise<void>;
  /** Whether a resolver opened the transaction. */
  isOpen: () => boolean;
  /**
   * Commits (ok) or rolls back, then returns the connection to the pool. With `wait` false
   * (read-only operations) the answer does not wait for COMMIT's round trip.
   */
  finish: (ok: boolean, wait: boolean) => Promise<void>;
};

type Opened = { sql: postgres.ReservedSql; setup: Promise<void> };

const SESSION_ENDED = 'AG401';

/** Told when a request takes a connection of the pool and when it gives it back (metrics). */
export type PoolHooks = { taken: () => void; returned: () => void };

export type RequestTxOptions = {
  /** Also one `jwt.claims.<claim>` setting per top-level claim (PG_SETTINGS_POSTGRAPHILE). */
  postgraphile?: boolean;
  /** How long a request waits for a connection of the pool before it fails fast (ACQUIRE_TIMEOUT). */
  acquireTimeoutMs?: number;
  /** Prepare the identity statement (off behind a pooler that cannot carry prepared statements). */
  prepare?: boolean;
  hooks?: PoolHooks;
};

/**
 * One transaction per request whose Postgres identity is `claims`, so RLS decides every
 * row. Its first statement sets both settings transaction-locally and, for a token with a
 * session, calls auth.require_live_session, which raises for a signed-out session or a
 * banned or deleted user (a trusted issuer's token, which has no session of ours, calls
 * auth.require_active_user): the transaction aborts and nothing pipelined behind it runs.
 * Nothing is reset afterwards: the settings die with the transaction.
 */
export function requestTx(pool: postgres.Sql, claims: Claims, opts: RequestTxOptions = {}): RequestTx {
  const { postgraphile = false, acquireTimeoutMs = 5000, prepare = true, hooks } = opts;
  let opened: Promise<Opened> | undefined;
  // Once the request is finished nothing may open a transaction: a resolver still running
  // after its operation ended (graphql-js does not wait for siblings of a failed non-null
  // field) would otherwise hold a connection idle in transaction until the server's timeout.
  let finished = false;
  const sessionEnded = (err: unknown) =>
    (err as { code?: string }).code === SESSION_ENDED ? new SessionEndedError() : err;

  const open = (): Promise<Opened> => {
    if (finished && !opened) return Promise.reject(new RequestFinishedError());
    opened ??= reserve(pool, acquireTimeoutMs).then((sql) => {
      hooks?.taken();
      const begin = sql`begin`.execute();
      // prepare: unsafe() statements are unnamed by default, and an unnamed statement with
      // parameters costs a Describe round trip before every Bind; prepared, it pipelines.
      const identity = sql
        .unsafe(identityStatement(claims, postgraphile), identityParams(claims, postgraphile), { prepare })
        .execute();
      const setup = Promise.all([begin, identity]).then(
        () => undefined,
        (err: unknown) => {
          throw sessionEnded(err);
        },
      );
      setup.catch(() => {}); // observed by ready() and finish()
      return { sql, setup };
    });
    return opened;
  };

  return {
    check: async () => {
      if (opened) return (await opened).setup;
      const statement = pool.unsafe(identityStatement(claims, postgraphile), identityParams(claims, postgraphile), {
        prepare,
      });
      try {
        await withDeadline(statement.execute(), acquireTimeoutMs);
      } catch (err) {
        throw sessionEnded(err);
      }
    },
    isOpen: () => opened !== undefined,
    open: () => void open().catch(() => {}),
    sql: async () => {
      if (finished) throw new RequestFinishedError();
      return (await open()).sql;
    },
    ready: async () => (await open()).setup,
    finish: async (ok, wait) => {
      finished = true;
      if (!opened) return;
      let o: Opened;
      try {
        o = await opened;
      } catch {
        return; // no connection was reserved
      }
      const healthy = await o.setup.then(
        () => true,
        () => false,
      );
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        o.sql.release();
        hooks?.returned();
      };
      const end = o.sql
        .unsafe(ok && healthy ? 'commit' : 'rollback', [], {
          prepare: true,
          // The connection goes back as soon as COMMIT is on it, not when its answer is back:
          // Postgres runs what the next holder sends strictly after it, so the next request's
          // BEGIN waits no round trip and often shares COMMIT's socket write. postgres.js
          // calls onexecute only once the statement is handed to the connection (a query
          // still queued behind a busy one is not, and is released when it completes).
          onexecute: () => {
            queueMicrotask(release);
            return true;
          },
          // `as`: onexecute is postgres.js's own option (its sql.begin uses it), not in its types.
        } as postgres.UnsafeQueryOptions)
        .execute()
        .finally(release);
      if (wait) await end;
      else end.catch(() => {});
    },
  };
}

/**
 * The identity statement's text depends only on which settings are made, so postgres.js
 * prepares it once per connection and every request after that only binds parameters.
 */
function identityStatement(claims: Claims, postgraphile: boolean): string {
  const parts = [`set_config('request.jwt.claims', $1, true)`, `set_config('role', $2, true)`];
  let n = 2;
  const settings = postgraphile ? postgraphileKeys(claims).length : 0;
  for (let i = 0; i < settings; i++) parts.push(`set_config($${++n}, $${++n}, true)`);
  if (claims.session_id && claims.sub) parts.push(`auth.require_live_session($${++n}::uuid, $${++n}::uuid)`);
  else if (claims.sub && claims.role === 'authenticated') parts.push(`auth.require_active_user($${++n}::uuid)`);
  return `select ${parts.join(', ')}`;
}

// The claims of a cached access token are one object for every request that sends it.
const claimsJson = new WeakMap<Claims, string>();

function identityParams(claims: Claims, postgraphile: boolean): string[] {
  let json = claimsJson.get(claims);
  if (json === undefined) {
    json = JSON.stringify(claims);
    claimsJson.set(claims, json);
  }
  const params = [json, claims.role];
  if (postgraphile) {
    for (const key of postgraphileKeys(claims)) {
      const v = claims[key];
      params.push(`jwt.claims.${key}`, typeof v === 'string' ? v : JSON.stringify(v));
    }
  }
  if (claims.session_id && claims.sub) params.push(claims.session_id, claims.sub);
  else if (claims.sub && claims.role === 'authenticated') params.push(claims.sub);
  return params;
}

/**
 * PostGraphile's convention: one `jwt.claims.<claim>` setting per top-level claim, objects
 * as JSON, so policies written for PostGraphile (`current_setting('jwt.claims.sub')`) work.
 * Claim names become part of a setting name, so only plain identifiers pass.
 */
function postgraphileKeys(claims: Claims): string[] {
  return Object.keys(claims).filter((k) => /^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(k));
}

/**
 * A connection of the pool, or ACQUIRE_TIMEOUT after `ms`: while the database is away, a
 * request fails fast instead of queueing without end. A connection that arrives after the
 * deadline goes straight back.
 */
function reserve(pool: postgres.Sql, ms: number): Promise<postgres.ReservedSql> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(Object.assign(new Error('timed out waiting for a database connection'), { code: 'ACQUIRE_TIMEOUT' }));
    }, ms);
    pool.reserve().then(
      (sql) => {
        clearTimeout(timer);
        if (settled) sql.release();
        else {
          settled = true;
          resolve(sql);
        }
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(err);
        }
      },
    );
  });
}

/**
 * The pool's answer, or ACQUIRE_TIMEOUT after `ms` (the query, still queued, runs later
 * and its answer is dropped): while the database is away a request fails fast.
 */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(Object.assign(new Error('timed out waiting for a database connection'), { code: 'ACQUIRE_TIMEOUT' })),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A resolver asked for the request's transaction after the request had finished. */
class RequestFinishedError extends Error {
  override name = 'RequestFinishedError';
  constructor() {
    super('the request has finished; its transaction can no longer be opened');
  }
}
