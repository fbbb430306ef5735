import { and, eq, ne, type SQL, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import {
  authCodes,
  identities,
  mfaFactors,
  mfaRecoveryCodes,
  oidcFlows,
  oneTimeTokens,
  passkeys,
  sessions,
  type UserRow,
  users,
} from '../../db/schema.js';
import { syncProviders } from '../app-metadata.js';
import { AuthError } from '../errors.js';

/**
 * Someone has just proved they control the address of account `userId` (a magic link, a
 * mailed code, a recovery link, a provider that verified it). If that address was never
 * proven before, whoever made the account may not be that person (pre-registration
 * takeover): every session ends and every credential set before this proof goes — the
 * password, factors, passkeys and recovery codes, identities other than the email one (and `keep`,
 * the identity doing the proving), links and provider flows still outstanding — so only
 * the prover holds the account. Then the address counts as confirmed.
 *
 * The row is locked first, so a concurrent change of the account waits for the outcome.
 */
export async function proveAddress(tx: Tx, userId: string, keep?: { identityId: string }): Promise<UserRow> {
  const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('update');
  if (!user) throw new AuthError('BAD_USER_INPUT', 'The link is invalid, expired or already used.');
  if (user.emailConfirmedAt !== null) return user;
  await tx.delete(sessions).where(eq(sessions.userId, userId));
  await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
  await tx.delete(mfaFactors).where(eq(mfaFactors.userId, userId));
  // A passkey signs in on its own: the squatter's would outlive everything else.
  await tx.delete(passkeys).where(eq(passkeys.userId, userId));
  await tx
    .delete(identities)
    .where(
      and(
        eq(identities.userId, userId),
        ne(identities.provider, 'email'),
        keep ? ne(identities.id, keep.identityId) : undefined,
      ),
    );
  await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
  await tx.delete(oidcFlows).where(eq(oidcFlows.linkUserId, userId));
  await tx.delete(authCodes).where(eq(authCodes.linkUserId, userId));
  await tx
    .update(users)
    .set({ encryptedPassword: null, ...confirmedNow() })
    .where(eq(users.id, userId));
  if (user.email !== null) await releasePendingClaims(tx, user.email, userId);
  return syncProviders(tx, userId);
}

/** The columns of an account whose address was proven just now: confirmed, no change pending. */
export function confirmedNow(): {
  pendingEmail: null;
  pendingEmailProven: false;
  pendingEmailApproved: false;
  emailConfirmedAt: SQL;
  updatedAt: SQL;
} {
  return {
    pendingEmail: null,
    pendingEmailProven: false,
    pendingEmailApproved: false,
    emailConfirmedAt: sql`now()`,
    updatedAt: sql`now()`,
  };
}

/**
 * `email` has just become `ownerId`'s proven address: other accounts that merely claimed it
 * (a registration never confirmed, an email change never finished) lose the claim and the
 * links that would have proven it. A registration that was nothing but that claim (never
 * signed in, no address of its own) is deleted.
 */
export async function releasePendingClaims(tx: Tx, email: string, ownerId: string): Promise<void> {
  await tx.execute(sql`
    delete from auth.users
    where pending_email = ${email} and id <> ${ownerId}
      and email is null and not is_anonymous and last_sign_in_at is null`);
  await tx.execute(sql`
    with released as (
      update auth.users
      set pending_email = null, pending_email_proven = false, pending_email_approved = false, updated_at = now()
      where pending_email = ${email} and id <> ${ownerId}
      returning id
    )
    delete from auth.one_time_tokens t using released r
    where t.user_id = r.id and t.kind in ('confirmation', 'email_change', 'email_change_current')`);
}
