import { createHash } from 'node:crypto';
import type postgres from 'postgres';
import type { Config } from '../config.js';
import { AuthError } from './errors.js';

export type LimitName =
  | 'signin_pair'
  | 'signin_email'
  | 'token_ip'
  | 'signup_ip'
  | 'email_send_pair'
  | 'email_send'
  | 'mfa_verify'
  | 'reauth';
export type Check = { limit: LimitName; subject: string | null };
export type RateLimiter = { consume: (checks: Check[]) => Promise<void> };

/**
 * Guesses at an address's password (or mailed code) are counted per (address, client IP):
 * wrong attempts from one client must not lock the owner out everywhere. A higher ceiling
 * per address still bounds a guesser spread over many addresses.
 */
export const signInChecks = (email: string, ip: string | null): Check[][] => [
  [
    { limit: 'signin_pair', subject: `${email}\n${ip ?? ''}` },
    { limit: 'token_ip', subject: ip },
  ],
  // Counted only for attempts the client's own limits let through: a client hammering past
  // its limit must not spend the owner's ceiling.
  [{ limit: 'signin_email', subject: email }],
];

/** Mails to an address: per (address, client IP), with a per-address ceiling against mail bombing. */
export const emailSendChecks = (email: string, ip: string | null): Check[][] => [
  [
    { limit: 'email_send_pair', subject: `${email}\n${ip ?? ''}` },
    { limit: 'token_ip', subject: ip },
  ],
  [{ limit: 'email_send', subject: email }],
];

/** Several groups of checks, each counted only if the groups before it passed. */
export async function consumeInOrder(limiter: RateLimiter, groups: Check[][]): Promise<void> {
  for (const checks of groups) await limiter.consume(checks);
}

/** A password or code checked for a signed-in user (deleteAccount, updateUser, MFA): per user and per IP. */
export const reauthChecks = (limit: 'reauth' | 'mfa_verify', userId: string, ip: string | null): Check[] => [
  { limit, subject: userId },
  { limit: 'token_ip', subject: ip },
];

/**
 * Fixed-window counters in auth.rate_limits, so every instance behind a load balancer
 * counts the same attempts. One statement counts every check of an attempt atomically;
 * the attempt is refused (RATE_LIMITED, retryAfter in seconds) before any password is hashed.
 */
export function createRateLimiter(
  sql: postgres.Sql,
  cfg: Config['rateLimits'],
  onLimited: (limit: LimitName) => void,
): RateLimiter {
  const max: Record<LimitName, number> = {
    signin_pair: cfg.signInEmailMax,
    signin_email: cfg.signInEmailCeiling,
    token_ip: cfg.tokenIpMax,
    signup_ip: cfg.signUpIpMax,
    email_send_pair: cfg.emailMax,
    email_send: cfg.emailCeiling,
    // Second-factor codes per user: guessing six digits is a sign-in attempt like a password.
    mfa_verify: cfg.signInEmailMax,
    // The current password asked again by account changes: a guess like a sign-in.
    reauth: cfg.signInEmailMax,
  };
  let calls = 0;
  return {
    async consume(checks) {
      const active = checks.filter((c) => c.subject !== null && max[c.limit] > 0);
      if (active.length === 0) return;
      const keys = active.map((c) => createHash('sha256').update(`${c.limit}:${c.subject}`).digest('hex'));
      const rows = await sql<{ key: string; count: number; retry_after: number }[]>`
        insert into auth.rate_limits as r (key, window_start, count)
        select k, now(), 1 from unnest(${keys}::text[]) as k
        on conflict (key) do update set
          count = case when r.window_start <= now() - make_interval(secs => ${cfg.windowS}) then 1 else r.count + 1 end,
          window_start = case when r.window_start <= now() - make_interval(secs => ${cfg.windowS}) then now() else r.window_start end
        returning key, count,
          greatest(1, ceil(extract(epoch from r.window_start + make_interval(secs => ${cfg.windowS}) - now())))::int as retry_after`;
      // Now and then, forget windows that ended long ago.
      if (++calls % 500 === 0) {
        void sql`delete from auth.rate_limits where window_start < now() - make_interval(secs => ${cfg.windowS * 2})`.catch(
          () => {},
        );
      }
      for (const [i, check] of active.entries()) {
        const row = rows.find((r) => r.key === keys[i]);
        if (row && row.count > max[check.limit]) {
          onLimited(check.limit);
          throw new AuthError('RATE_LIMITED', undefined, { retryAfter: row.retry_after });
        }
      }
    },
  };
}
