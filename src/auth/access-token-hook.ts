import { sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Tx } from '../db/client.js';
import type { Logger } from '../log.js';
import { type AccessClaims, MAX_CLAIMS_BYTES } from './access-token.js';
import { AccessTokenHookFailed } from './errors.js';

export type AccessTokenHook = {
  /** The claims to issue: the hook's, once checked; AccessTokenHookFailed otherwise. */
  run: (tx: Tx, claims: AccessClaims) => Promise<AccessClaims>;
};

/** Claims the hook must hand back exactly as it got them: identity, session and assurance. */
const FIXED_CLAIMS = ['sub', 'aud', 'iss', 'exp', 'iat', 'session_id', 'aal', 'amr', 'is_anonymous'] as const;

/**
 * The operator's Postgres function `(event jsonb) returns jsonb` (ACCESS_TOKEN_HOOK), called
 * on the auth path's connection inside the minting transaction, as Supabase's custom access
 * token hook: it gets `{ user_id, claims, authentication_method }` and returns `{ claims }`.
 */
export function createAccessTokenHook(cfg: NonNullable<Config['accessTokenHook']>, log: Logger): AccessTokenHook {
  const roles = new Set(['authenticated', ...cfg.roles]);
  const name = `${cfg.schema}.${cfg.name}`;
  const fail = (why: string, extra: Record<string, unknown> = {}): never => {
    // Names the rule that failed, never a claim's value or the token.
    log.error({ hook: name, why, ...extra }, 'access-token hook failed; nothing was issued');
    throw new AccessTokenHookFailed();
  };

  return {
    async run(tx, claims) {
      const event = { user_id: claims.sub, claims, authentication_method: newestMethod(claims.amr) };
      let text: string | null | undefined;
      try {
        // Its own statement timeout, set transaction-locally and put back right after, so a
        // slow hook fails the grant instead of holding the auth pool's connection. The three
        // statements are pipelined on the transaction's connection.
        const [, rows] = await Promise.all([
          tx.execute(sql`select set_config('statement_timeout', ${String(cfg.timeoutMs)}, true)`),
          tx.execute<{ out: string | null }>(
            sql`select ${sql.identifier(cfg.schema)}.${sql.identifier(cfg.name)}(${JSON.stringify(event)}::jsonb)::text as out`,
          ),
          tx.execute(sql`set local statement_timeout to default`),
        ]);
        text = rows[0]?.out;
      } catch (err) {
        const e = ((err as { cause?: unknown }).cause ?? err) as { code?: unknown; message?: unknown };
        return fail(e.code === '57014' ? 'timed out' : 'raised', {
          sqlstate: typeof e.code === 'string' ? e.code : undefined,
          err: typeof e.message === 'string' ? e.message.slice(0, 300) : undefined,
        });
      }
      if (typeof text !== 'string') return fail('returned null');
      if (Buffer.byteLength(text) > 2 * MAX_CLAIMS_BYTES) return fail('output too large');
      const out: unknown = JSON.parse(text);
      if (!isObject(out) || !isObject(out.claims)) return fail('output is not an object with a claims object');
      const next = out.claims;
      for (const claim of FIXED_CLAIMS) {
        if (!sameJson(next[claim], claims[claim])) return fail('changed a claim it may not change', { claim });
      }
      if (typeof next.role !== 'string' || !roles.has(next.role)) {
        return fail('set role to a role not in ACCESS_TOKEN_HOOK_ROLES');
      }
      const bytes = Buffer.byteLength(JSON.stringify(next));
      if (bytes > MAX_CLAIMS_BYTES) return fail('claims too large', { bytes, max: MAX_CLAIMS_BYTES });
      return next as AccessClaims;
    },
  };
}

/** The method of the latest amr entry: what just authenticated the session. */
function newestMethod(amr: AccessClaims['amr']): string | null {
  let newest: AccessClaims['amr'][number] | undefined;
  for (const a of amr) if (!newest || a.timestamp >= newest.timestamp) newest = a;
  return newest?.method ?? null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Equal as JSON values; object key order is ignored (jsonb reorders keys). */
function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (isObject(a) || isObject(b)) {
    if (!isObject(a) || !isObject(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && sameJson(a[k], b[k]));
  }
  return a === b;
}
