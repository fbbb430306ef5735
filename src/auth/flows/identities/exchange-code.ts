import { and, eq, gt, sql } from 'drizzle-orm';
import type { Config } from '../../../config.js';
import type { Db, Tx } from '../../../db/client.js';
import { authCodes, identities, users } from '../../../db/schema.js';
import { syncProviders } from '../../app-metadata.js';
import { type AuditEntry, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError } from '../../errors.js';
import type { AuthPayload, ClientInfo } from '../../model.js';
import { hashSecret, looksLikeSecret, pkceChallenge } from '../../secret.js';
import { proveAddress } from '../address-proof.js';
import {
  addIdentity,
  createUser,
  findIdentity,
  insertIdentity,
  lockIdentity,
  providerEmail,
  type Vouched,
} from './provider-users.js';

type AuthCodeRow = typeof authCodes.$inferSelect;

const invalid = (): AuthError =>
  new AuthError('BAD_USER_INPUT', 'The code is invalid, expired or already used.', { reason: 'INVALID_CODE' });

/**
 * Finishes a provider sign-in or link: spends the one-time code (whatever happens next),
 * checks the client's PKCE verifier, then finds, links or creates the user and starts a
 * session. A link only completes for the user who started it.
 */
export async function exchangeCode(
  deps: Pick<AuthDeps, 'db' | 'config' | 'grants' | 'limiter'>,
  input: { code: string; codeVerifier?: string | null },
  viewer: { id: string } | null,
  client: ClientInfo,
): Promise<AuthPayload> {
  const { db, grants } = deps;
  await deps.limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  const row = await spendCode(db, input);
  if (row.linkUserId !== null && viewer?.id !== row.linkUserId) {
    throw new AuthError('FORBIDDEN', 'Only the user who started this link can finish it.');
  }
  const data = row.identityData;
  // The callback stored the ID token's verified iss; without it there is nothing to key by.
  if (typeof data.iss !== 'string' || data.iss.length === 0) throw invalid();
  const vouched: Vouched = {
    provider: row.provider,
    issuer: data.iss,
    providerId: row.providerId,
    email: providerEmail(typeof data.email === 'string' ? data.email : null),
    emailVerified: data.email_verified === true,
    identityData: data,
  };
  const granted = await db.transaction(async (tx) => {
    await lockIdentity(tx, vouched.issuer, vouched.providerId);
    const { userId, event } = await userFor(tx, deps.config, row.linkUserId, vouched);
    const audit: AuditEntry[] =
      event === null ? [] : [byUser(event, userId, client, { method: 'oauth', provider: vouched.provider })];
    // A user deleted meanwhile reads as a spent code; a banned one is refused.
    return grants.finishSignIn(tx, userId, client, 'oauth', invalid, audit);
  });
  return grants.issue(granted);
}

/** Deletes the code's row, so it is spent even if what follows fails; then checks PKCE. */
async function spendCode(db: Db, input: { code: string; codeVerifier?: string | null }): Promise<AuthCodeRow> {
  if (!looksLikeSecret(input.code)) throw invalid();
  const [row] = await db
    .delete(authCodes)
    .where(and(eq(authCodes.codeHash, hashSecret(input.code)), gt(authCodes.expiresAt, sql`now()`)))
    .returning();
  if (!row) throw invalid();
  if (row.clientChallenge !== null) {
    const verifier = input.codeVerifier ?? '';
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || pkceChallenge(verifier) !== row.clientChallenge) {
      throw invalid();
    }
  }
  return row;
}

/**
 * The user the identity signs in: its owner, the link's user, an email's holder, or a new
 * one; and what the audit log records beside the sign-in (a link or a sign-up), if anything.
 */
async function userFor(
  tx: Tx,
  config: Pick<Config, 'oidc'>,
  linkUserId: string | null,
  vouched: Vouched,
): Promise<{ userId: string; event: 'identity.linked' | 'user.signed_up' | null }> {
  const existing = await findIdentity(tx, vouched.issuer, vouched.providerId);
  if (existing && linkUserId !== null && existing.userId !== linkUserId) {
    throw new AuthError('FORBIDDEN', 'This identity belongs to another account.', {
      reason: 'IDENTITY_ALREADY_LINKED',
    });
  }
  if (existing) {
    await tx
      .update(identities)
      .set({ identityData: vouched.identityData, lastSignInAt: sql`now()`, updatedAt: sql`now()` })
      .where(eq(identities.id, existing.id));
    return { userId: existing.userId, event: null };
  }
  if (linkUserId !== null) {
    const [target] = await tx.select().from(users).where(eq(users.id, linkUserId));
    if (!target) throw new AuthError('UNAUTHENTICATED');
    return { userId: (await addIdentity(tx, target, vouched)).id, event: 'identity.linked' };
  }
  const [holder] = vouched.email === null ? [] : await tx.select().from(users).where(eq(users.email, vouched.email));
  if (holder) {
    // Merging on an email is only as safe as the provider's word that the email is
    // its user's: only for providers configured to be trusted, and verified emails.
    const provider = config.oidc.providers.find((p) => p.name === vouched.provider);
    if (!(provider?.trustEmail && vouched.emailVerified)) {
      throw new AuthError(
        'EMAIL_TAKEN',
        'An account with this email already exists; sign in to it and link this provider.',
      );
    }
    // Into an account whose address was never proven, this is its first proof:
    // whoever made it (and set a password) loses it to the prover (proveAddress).
    const identityId = await insertIdentity(tx, holder.id, vouched);
    await proveAddress(tx, holder.id, { identityId });
    return { userId: (await syncProviders(tx, holder.id)).id, event: 'identity.linked' };
  }
  // An unverified email is kept in the identity only: as the account's email it
  // would lock the real owner out of signing up.
  const created = await createUser(tx, { ...vouched, email: vouched.emailVerified ? vouched.email : null });
  return { userId: created.id, event: 'user.signed_up' };
}
