import { eq, type SQL, sql } from 'drizzle-orm';
import type { Tx } from '../../../db/client.js';
import { identities, type UserRow, users } from '../../../db/schema.js';
import { syncProviders } from '../../app-metadata.js';
import type { AuthDeps } from '../../deps.js';

/**
 * The update of an identity row that merges `email` into its identity_data (other keys kept)
 * and stamps updated_at: for `.set(...)` and `onConflictDoUpdate({ set })` alike.
 */
export function mergeIdentityEmail(email: string): { identityData: SQL; updatedAt: SQL } {
  return {
    identityData: sql`${identities.identityData} || ${JSON.stringify({ email })}::jsonb`,
    updatedAt: sql`now()`,
  };
}

/** The "email" identity a password or mailed link stands for, added if missing. */
export async function ensureEmailIdentity(tx: Tx, user: UserRow, email: string): Promise<void> {
  await tx
    .insert(identities)
    .values({
      userId: user.id,
      provider: 'email',
      issuer: 'email',
      providerId: user.id,
      identityData: { sub: user.id, email },
    })
    .onConflictDoUpdate({ target: [identities.issuer, identities.providerId], set: mergeIdentityEmail(email) });
  await syncProviders(tx, user.id);
}

/** The account whose address is `email`: only a held address counts, never a pending one. */
export async function holder(deps: Pick<AuthDeps, 'db'>, email: string): Promise<UserRow | undefined> {
  return (await deps.db.select().from(users).where(eq(users.email, email)))[0];
}
