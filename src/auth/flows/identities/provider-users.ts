import { and, eq, sql } from 'drizzle-orm';
import type { Tx } from '../../../db/client.js';
import { type IdentityRow, identities, profiles, type UserRow, users } from '../../../db/schema.js';
import { syncProviders } from '../../app-metadata.js';
import { normalizeEmail } from '../../validate.js';
import { releasePendingClaims } from '../address-proof.js';

// The pieces shared by the ways a provider's word becomes one of our users: a trusted
// issuer's token (resolve-external.ts) and a provider sign-in's one-time code (exchange-code.ts).

/** What a provider vouches for about the person it signed in. */
export type Vouched = {
  /** The configured name, shown to people. */
  provider: string;
  /** The verified iss: with providerId, what the identity is keyed by. */
  issuer: string;
  providerId: string;
  email: string | null;
  emailVerified: boolean;
  identityData: Record<string, unknown>;
};

/** Serialises the first sign-in of one identity across requests and instances. */
export async function lockIdentity(tx: Tx, issuer: string, providerId: string): Promise<void> {
  await tx.execute(
    sql`select pg_advisory_xact_lock(hashtextextended(${`identity:${JSON.stringify([issuer, providerId])}`}, 0))`,
  );
}

/**
 * By issuer, not by the configured name: two entries that share a name (or a renamed
 * one) must never let one issuer's subject open another issuer's account.
 */
export async function findIdentity(tx: Tx, issuer: string, providerId: string): Promise<IdentityRow | undefined> {
  const [row] = await tx
    .select()
    .from(identities)
    .where(and(eq(identities.issuer, issuer), eq(identities.providerId, providerId)));
  return row;
}

/** A new user for an identity no user has; the email only when nobody holds it yet. */
export async function createUser(tx: Tx, v: Vouched): Promise<UserRow> {
  let email = v.email;
  if (email !== null) {
    const [holder] = await tx.select({ id: users.id }).from(users).where(eq(users.email, email));
    if (holder) email = null;
  }
  const [user] = await tx
    .insert(users)
    .values({
      email,
      rawAppMetaData: { provider: v.provider, providers: [v.provider] },
      emailConfirmedAt: email !== null && v.emailVerified ? sql`now()` : null,
      lastSignInAt: sql`now()`,
    })
    .returning();
  if (!user) throw new Error('user insert returned nothing');
  await addIdentity(tx, user, v);
  await tx.insert(profiles).values({ id: user.id });
  if (email !== null && v.emailVerified) await releasePendingClaims(tx, email, user.id);
  return user;
}

/** Links the identity to `user` and refreshes its app_metadata providers. */
export async function addIdentity(tx: Tx, user: UserRow, v: Vouched): Promise<UserRow> {
  await insertIdentity(tx, user.id, v);
  return syncProviders(tx, user.id);
}

/** The identity row alone (app_metadata left to the caller); its id. */
export async function insertIdentity(tx: Tx, userId: string, v: Vouched): Promise<string> {
  const [row] = await tx
    .insert(identities)
    .values({
      userId,
      provider: v.provider,
      issuer: v.issuer,
      providerId: v.providerId,
      identityData: v.identityData,
      lastSignInAt: sql`now()`,
    })
    .returning({ id: identities.id });
  if (!row) throw new Error('identity insert returned nothing');
  return row.id;
}

/** A provider's email as we store emails, or null when it is not one we would accept. */
export function providerEmail(raw: string | null): string | null {
  if (raw === null) return null;
  try {
    return normalizeEmail(raw);
  } catch {
    return null;
  }
}
