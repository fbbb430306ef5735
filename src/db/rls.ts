import { sql } from 'drizzle-orm';
import { AuthError } from '../auth/errors.js';
import type { Db, Tx } from './client.js';

/** What Postgres learns about the caller: the verified JWT claims, or `{ role: 'anon' }`. */
export type Claims = { role: string; sub?: string; session_id?: string } & Record<string, unknown>;

export type RequestTx = {
  /** The request's transaction, opened on first use with the caller's identity set. */
  get: () => Promise<Tx>;
  /** Commits (ok) or rolls back; a no-op when the transaction was never opened. */
  finish: (ok: boolean) => Promise<void>;
};

class Rollback extends Error {}

/**
 * One transaction per request whose Postgres identity is `claims`, so RLS decides every
 * row. It opens lazily (a request that never reads the database takes no connection). The
 * first statement sets both settings transaction-locally and, for a token with a session,
 * checks in the same round trip that the session is live and the user not banned: revoked
 * tokens fail on their next request. Nothing is reset afterwards: the settings die with
 * the transaction.
 */
export function requestTx(db: Db, claims: Claims, postgraphile = false): RequestTx {
  let opened: Promise<Tx> | undefined;
  let release: ((ok: boolean) => void) | undefined;
  let done: Promise<unknown> | undefined;

  const open = (): Promise<Tx> =>
    new Promise<Tx>((resolveTx, rejectTx) => {
      let inside = false;
      const gate = new Promise<boolean>((r) => {
        release = r;
      });
      done = db
        .transaction(async (tx) => {
          const sessionId = claims.session_id;
          const [row] = await tx.execute<{ live: boolean | null }>(sql`
            select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
                   ${postgraphile ? postgraphileSettings(claims) : sql``}
                   set_config('role', ${claims.role}, true),
                   ${sessionId && claims.sub ? sql`auth.session_is_live(${sessionId}::uuid, ${claims.sub}::uuid)` : sql`null::boolean`} as live`);
          if (sessionId && row?.live !== true) throw new AuthError('UNAUTHENTICATED');
          inside = true;
          resolveTx(tx);
          if (!(await gate)) throw new Rollback();
        })
        .catch((err: unknown) => {
          // Before the transaction was handed out, its failure is the caller's (rejectTx);
          // after, only a failed commit matters and finish() rethrows it.
          if (!inside) return rejectTx(err);
          if (!(err instanceof Rollback)) throw err;
        });
    });

  return {
    get: () => {
      opened ??= open();
      return opened;
    },
    finish: async (ok) => {
      if (!opened) return;
      await opened.catch(() => {});
      release?.(ok);
      await done;
    },
  };
}

/**
 * PostGraphile's convention: one `jwt.claims.<claim>` setting per top-level claim, objects
 * as JSON, so policies written for PostGraphile (`current_setting('jwt.claims.sub')`) work.
 * Claim names are checked, never spliced unchecked: they become part of a setting name.
 */
function postgraphileSettings(claims: Claims) {
  const parts = Object.entries(claims)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(k))
    .map(([k, v]) => sql`set_config(${`jwt.claims.${k}`}, ${typeof v === 'string' ? v : JSON.stringify(v)}, true),`);
  return sql.join(parts, sql` `);
}
