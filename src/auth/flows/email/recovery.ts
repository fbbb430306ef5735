import { and, eq, gt, sql } from 'drizzle-orm';
import { oneTimeTokens, sessions, users } from '../../../db/schema.js';
import { byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { type AuthPayload, type ClientInfo, isBanned } from '../../model.js';
import { consumeInOrder, emailSendChecks } from '../../rate-limit.js';
import { hashSecret, looksLikeSecret } from '../../secret.js';
import { checkPassword, normalizeEmail } from '../../validate.js';
import { proveAddress } from '../address-proof.js';
import { ensureEmailIdentity, holder } from './identity.js';
import { consume, invalidToken, mailLater, notify } from './tokens.js';

/** Mails a recovery link if the address has an account; answers the same either way, as fast. */
export async function requestPasswordReset(deps: AuthDeps, rawEmail: string, client: ClientInfo): Promise<boolean> {
  const email = normalizeEmail(rawEmail);
  await consumeInOrder(deps.limiter, emailSendChecks(email, client.ip));
  const user = await holder(deps, email);
  if (user && !isBanned(user)) mailLater(deps, 'requestPasswordReset', user, 'recovery', email);
  return true;
}

/**
 * Sets a new password from a recovery link: every session ends, the link is spent, and
 * a new session starts. The link proves the address, so an account that never proved
 * it first loses whatever was set before (see proveAddress). A user who had only a
 * provider gains password sign-in.
 */
export async function resetPassword(
  deps: AuthDeps,
  token: string,
  newPassword: string,
  client: ClientInfo,
): Promise<AuthPayload> {
  const { db, grants, limiter, passwords } = deps;
  await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  // Checked against the policy before the token is spent, so a weak choice can be retried;
  // and only for a live token, so a made-up one never costs a password hash.
  const [owner] = looksLikeSecret(token)
    ? await db
        .select({ email: oneTimeTokens.email })
        .from(oneTimeTokens)
        .where(
          and(
            eq(oneTimeTokens.tokenHash, hashSecret(token)),
            eq(oneTimeTokens.kind, 'recovery'),
            gt(oneTimeTokens.expiresAt, sql`now()`),
          ),
        )
    : [];
  if (!owner) throw invalidToken();
  checkPassword(newPassword, owner.email);
  const hash = await passwords.hash(newPassword);
  const row = await consume(deps, token, ['recovery']);
  const userId = row.userId;
  if (userId === null) throw invalidToken(); // only magic links are issued without an account
  const granted = await db.transaction(async (tx) => {
    const proven = await proveAddress(tx, userId);
    // The address changed since the link was sent: it proves nothing about this account.
    if (proven.email !== row.email) throw invalidToken();
    const [user] = await tx
      .update(users)
      .set({ encryptedPassword: hash, isAnonymous: false })
      .where(eq(users.id, userId))
      .returning();
    if (!user) throw invalidToken();
    await tx.delete(sessions).where(eq(sessions.userId, user.id));
    await ensureEmailIdentity(tx, user, row.email);
    return grants.finishSignIn(tx, user.id, client, 'recovery', invalidToken, [
      byUser('user.password_reset', user.id, client),
    ]);
  });
  notify(deps, 'password_changed', row.email);
  return grants.issue(granted);
}
