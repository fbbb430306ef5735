import { and, desc, eq, isNull } from 'drizzle-orm';
import { users } from '../../../db/schema.js';
import { auditStatement } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError, bannedError } from '../../errors.js';
import { type AuthPayload, type ClientInfo, isBanned } from '../../model.js';
import { consumeInOrder, signInChecks } from '../../rate-limit.js';
import { normalizeEmail, PASSWORD_MAX } from '../../validate.js';
import type { ConfirmDeps } from './deps.js';

type SignInDeps = Pick<AuthDeps, 'db' | 'passwords' | 'limiter' | 'grants'> & ConfirmDeps;

// A sign-in with no account behind the address checks at most this many registrations
// still waiting for their link; each costs a hash.
const PENDING_CHECKED = 3;

const emailNotConfirmed = (): AuthError =>
  new AuthError('FORBIDDEN', 'Confirm your email first; resendConfirmation sends a new link.', {
    reason: 'EMAIL_NOT_CONFIRMED',
  });

/** Email and password sign-in: one message for an unknown address and a wrong password. */
export async function signIn(
  deps: SignInDeps,
  input: { email: string; password: string },
  client: ClientInfo,
): Promise<AuthPayload> {
  const { db, passwords, limiter, grants } = deps;
  const email = normalizeEmail(input.email);
  // Counted before any hash is computed, so a storm costs us one statement per attempt.
  // A refused (rate-limited) attempt is not audited: that would be a write per request of
  // the very storm the limit holds off.
  await consumeInOrder(limiter, signInChecks(email, client.ip));
  // No change rides on a failed attempt, so its audit row is a statement of its own; the
  // attempt's address is not in it (a password typed into the email field would be).
  const fail = async (err: AuthError, userId: string | null = null, reason: string = err.code): Promise<never> => {
    await auditStatement(db, {
      event: 'user.sign_in_failed',
      userId,
      actor: { kind: 'anonymous' },
      client,
      detail: { method: 'password', reason },
    });
    throw err;
  };
  // Longer than any accepted password: it cannot match, and hashing it is wasted work.
  if ([...input.password].length > PASSWORD_MAX) return fail(new AuthError('INVALID_CREDENTIALS'));
  const [found] = await db.select().from(users).where(eq(users.email, email));
  if (!found) {
    await refuseUnknown(deps, email, input.password).catch((err: unknown) =>
      err instanceof AuthError ? fail(err, null, 'EMAIL_NOT_CONFIRMED') : Promise.reject(err),
    );
    return fail(new AuthError('INVALID_CREDENTIALS'), null, 'UNKNOWN_EMAIL');
  }
  const ok = await passwords.verify(found.encryptedPassword, input.password);
  if (!ok) return fail(new AuthError('INVALID_CREDENTIALS'), found.id, 'WRONG_PASSWORD');
  if (isBanned(found)) return fail(bannedError(), found.id, 'BANNED');
  // Checked after the password, so it tells nothing to someone who does not know it.
  if (deps.email.requireConfirmation && found.emailConfirmedAt === null) {
    return fail(emailNotConfirmed(), found.id, 'EMAIL_NOT_CONFIRMED');
  }
  // An imported (bcrypt) hash, or one of an older cost, becomes ours with this sign-in:
  // hashed with no connection held, written in the sign-in's own transaction, and only
  // over the hash just verified (a password changed meanwhile stays changed).
  const verified = found.encryptedPassword;
  const upgraded = verified !== null && passwords.needsUpgrade(verified) ? await passwords.hash(input.password) : null;
  const granted = await db.transaction(async (tx) => {
    if (upgraded !== null && verified !== null) {
      await tx
        .update(users)
        .set({ encryptedPassword: upgraded })
        .where(and(eq(users.id, found.id), eq(users.encryptedPassword, verified)));
    }
    return grants.finishSignIn(tx, found.id, client, 'password', () => new AuthError('INVALID_CREDENTIALS'));
  });
  return grants.issue(granted);
}

/**
 * No account holds the address. A registration still waiting for its confirmation link
 * answers EMAIL_NOT_CONFIRMED to its own password (several may wait: nobody holds the
 * address yet); anything else is INVALID_CREDENTIALS after the usual one hash.
 */
async function refuseUnknown(
  deps: Pick<SignInDeps, 'db' | 'passwords' | 'email'>,
  email: string,
  password: string,
): Promise<void> {
  const { db, passwords } = deps;
  const waiting = deps.email.requireConfirmation
    ? await db
        .select({ hash: users.encryptedPassword })
        .from(users)
        .where(and(eq(users.pendingEmail, email), isNull(users.email), eq(users.isAnonymous, false)))
        .orderBy(desc(users.createdAt))
        .limit(PENDING_CHECKED)
    : [];
  if (waiting.length === 0) {
    await passwords.verify(null, password);
    return;
  }
  for (const w of waiting) {
    if (await passwords.verify(w.hash, password)) throw emailNotConfirmed();
  }
}
