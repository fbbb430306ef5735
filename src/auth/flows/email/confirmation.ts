import { and, desc, eq, isNull, or, sql } from 'drizzle-orm';
import type { Tx } from '../../../db/client.js';
import { users } from '../../../db/schema.js';
import { byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError, isUniqueViolation } from '../../errors.js';
import type { AuthPayload, ClientInfo } from '../../model.js';
import { consumeInOrder, emailSendChecks } from '../../rate-limit.js';
import { normalizeEmail } from '../../validate.js';
import { confirmedNow, proveAddress, releasePendingClaims } from '../address-proof.js';
import { ensureEmailIdentity } from './identity.js';
import { consume, invalidToken, mailLater } from './tokens.js';

/**
 * Mails a new confirmation link: for the newest registration waiting on the address, or
 * an account that holds it unproven. True either way, and as fast either way.
 */
export async function resendConfirmation(deps: AuthDeps, rawEmail: string, client: ClientInfo): Promise<boolean> {
  const { db, limiter } = deps;
  const email = normalizeEmail(rawEmail);
  await consumeInOrder(limiter, emailSendChecks(email, client.ip));
  const [user] = await db
    .select()
    .from(users)
    .where(
      or(eq(users.email, email), and(eq(users.pendingEmail, email), isNull(users.email), eq(users.isAnonymous, false))),
    )
    .orderBy(sql`${users.email} is null`, desc(users.createdAt))
    .limit(1);
  if (user && user.emailConfirmedAt === null) mailLater(deps, 'resendConfirmation', user, 'confirmation', email);
  return true;
}

/** A confirmation link: confirms the address and signs the user in. */
export async function verifyEmail(deps: AuthDeps, token: string, client: ClientInfo): Promise<AuthPayload> {
  const { db, grants, limiter } = deps;
  await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  const row = await consume(deps, token, ['confirmation']);
  const userId = row.userId;
  if (userId === null) throw invalidToken(); // only magic links are issued without an account
  try {
    const granted = await db.transaction(async (tx) => {
      await confirmAddress(tx, userId, row.email);
      return grants.finishSignIn(tx, userId, client, 'otp', invalidToken, [
        byUser('user.email_confirmed', userId, client),
      ]);
    });
    return grants.issue(granted);
  } catch (err) {
    // Someone else proved the address first.
    if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
    throw err;
  }
}

/**
 * A confirmation link: the address it was sent to becomes the account's. For the
 * account's pending address (a registration, a first address) it confirms the request
 * that sent it, with the password given there; for an address the account held without
 * proof, it is a first proof like any other (see proveAddress).
 */
export async function confirmAddress(tx: Tx, userId: string, email: string): Promise<void> {
  const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('update');
  if (!user) throw invalidToken();
  if (user.email === email) {
    await proveAddress(tx, userId);
    return;
  }
  if (user.pendingEmail !== email) throw invalidToken(); // superseded by a later request
  const [confirmed] = await tx
    .update(users)
    .set({
      email,
      ...confirmedNow(),
      // An anonymous user with a proven address is permanent: it can always sign in again.
      isAnonymous: false,
    })
    .where(eq(users.id, userId))
    .returning();
  if (!confirmed) throw invalidToken();
  await ensureEmailIdentity(tx, confirmed, email);
  await releasePendingClaims(tx, email, userId);
}
