import { createHmac, randomInt } from 'node:crypto';
import { and, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../../db/client.js';
import { type OneTimeKind, oneTimeTokens } from '../../../db/schema.js';
import { mailLink } from '../../../mail/mailer.js';
import type { NoticeKind } from '../../../mail/templates.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError } from '../../errors.js';
import { hashSecret, looksLikeSecret, randomSecret } from '../../secret.js';

// Every mailed secret is random, single use (deleted as it is used), stored as a hash,
// expires after EMAIL_TOKEN_TTL_S and replaces the previous one of its kind.

/** A row of auth.one_time_tokens: one mailed link (and code) waiting to be used. */
export type OneTimeTokenRow = typeof oneTimeTokens.$inferSelect;

/** A link that does not work (unknown, expired, used, or superseded); one answer for all. */
export const invalidToken = (): AuthError =>
  new AuthError('BAD_USER_INPUT', 'The link is invalid, expired or already used.', { reason: 'INVALID_TOKEN' });

/** A six-digit code that does not work; the message names no cause, as for a password. */
export const invalidCode = (): AuthError => new AuthError('INVALID_CREDENTIALS', 'Invalid email or code.');

/**
 * What is stored of a six-digit code: an HMAC under the server key, bound to the account (or
 * the address of a pending link). A million codes are quickly hashed, so a plain hash would
 * give a leaked row's code away; without the server key the HMAC gives nothing.
 */
export function codeHash(serverKey: string, owner: string, code: string): string {
  return createHmac('sha256', serverKey).update(`email-otp:${owner}:${code}`).digest('hex');
}

/**
 * A fresh token (and code) of `kind` for the user, replacing any earlier one; `user` null: a
 * magic link for an address without an account yet (see signInWithOtp).
 */
export async function issueToken(
  deps: Pick<AuthDeps, 'config' | 'serverKey'>,
  tx: Tx | Db,
  user: { id: string } | null,
  kind: OneTimeKind,
  email: string,
  withCode = false,
): Promise<{ token: string; code?: string }> {
  const token = randomSecret();
  const code = withCode ? String(randomInt(0, 1_000_000)).padStart(6, '0') : undefined;
  const values = {
    userId: user?.id ?? null,
    kind,
    tokenHash: hashSecret(token),
    codeHash: code ? codeHash(deps.serverKey, user?.id ?? email, code) : null,
    email,
    attempts: 0,
    expiresAt: sql`now() + make_interval(secs => ${deps.config.mail.tokenTtlS})`,
    createdAt: sql`now()`,
  };
  await tx
    .insert(oneTimeTokens)
    .values(values)
    .onConflictDoUpdate(
      user
        ? { target: [oneTimeTokens.userId, oneTimeTokens.kind], set: values }
        : {
            target: [oneTimeTokens.email, oneTimeTokens.kind],
            targetWhere: sql`${oneTimeTokens.userId} is null`,
            set: values,
          },
    );
  return { token, code };
}

/** Mails the link (and code) of a token just issued; `newEmail` for the mail to the current address. */
export function mail(
  deps: Pick<AuthDeps, 'config' | 'mailer'>,
  kind: OneTimeKind,
  to: string,
  secret: { token: string; code?: string },
  newEmail?: string,
): void {
  deps.mailer.send(kind, to, {
    link: mailLink(deps.config.mail.linkUrl, secret.token, kind),
    code: secret.code,
    minutes: Math.max(1, Math.round(deps.config.mail.tokenTtlS / 60)),
    newEmail,
  });
}

/**
 * Issues a token and mails it on a later turn, after the answer: how long the answer takes
 * then tells nothing of whether the address has an account. `what` names the job in the log.
 */
export function mailLater(
  deps: Pick<AuthDeps, 'db' | 'config' | 'serverKey' | 'mailer' | 'queue'>,
  what: string,
  user: { id: string } | null,
  kind: OneTimeKind,
  email: string,
  withCode = false,
): void {
  deps.queue.later(what, async () =>
    mail(deps, kind, email, await issueToken(deps, deps.db, user, kind, email, withCode)),
  );
}

/** A mail that only tells (a password or an address changed): no link, nothing to use. */
export function notify(deps: Pick<AuthDeps, 'mailer'>, kind: NoticeKind, to: string | null, newEmail?: string): void {
  if (to !== null) deps.mailer.send(kind, to, { newEmail });
}

/** Spends a mailed token: gone whatever happens next, so a link works exactly once. */
export async function consume(
  deps: Pick<AuthDeps, 'db'>,
  token: string,
  kinds: OneTimeKind[],
): Promise<OneTimeTokenRow> {
  if (!looksLikeSecret(token)) throw invalidToken();
  const [row] = await deps.db
    .delete(oneTimeTokens)
    .where(
      and(
        eq(oneTimeTokens.tokenHash, hashSecret(token)),
        inArray(oneTimeTokens.kind, kinds),
        gt(oneTimeTokens.expiresAt, sql`now()`),
      ),
    )
    .returning();
  if (!row) throw invalidToken();
  return row;
}

/** Resolves when queued token writes and mails are done; for shutdown and tests. */
export async function idle(deps: Pick<AuthDeps, 'queue' | 'mailer'>): Promise<void> {
  await deps.queue.idle();
  await deps.mailer.idle();
}
