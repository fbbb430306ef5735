import { eq } from 'drizzle-orm';
import { identities, users } from '../../../db/schema.js';
import { syncProviders } from '../../app-metadata.js';
import { type Caller, callerState, requireAal2IfEnrolled } from '../../assurance.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError } from '../../errors.js';
import type { ClientInfo } from '../../model.js';
import type { ExternalCache } from './resolve-external.js';

/**
 * Removes one of the caller's identities, never the last: a user must keep a way in.
 * With a verified factor it takes an aal2 session.
 * Unlinking "email" also removes the password. False when it is not the caller's.
 */
export async function unlinkIdentity(
  deps: Pick<AuthDeps, 'db'>,
  cache: Pick<ExternalCache, 'forgetUser'>,
  caller: Caller,
  identityId: string,
  client: ClientInfo | null = null,
): Promise<boolean> {
  const userId = caller.id;
  return deps.db.transaction(async (tx) => {
    // A way in is part of how the account is held: aal2 once a factor is verified.
    requireAal2IfEnrolled(await callerState(tx, caller), caller);
    const rows = await tx.select().from(identities).where(eq(identities.userId, userId)).for('update');
    const target = rows.find((r) => r.id === identityId);
    if (!target) return false;
    if (rows.length === 1) {
      throw new AuthError('FORBIDDEN', 'The last way to sign in cannot be unlinked.', { reason: 'LAST_IDENTITY' });
    }
    await Promise.all([
      tx.delete(identities).where(eq(identities.id, target.id)),
      auditStatement(tx, byUser('identity.unlinked', userId, client, { provider: target.provider })),
    ]);
    if (target.provider === 'email') {
      await tx.update(users).set({ encryptedPassword: null }).where(eq(users.id, userId));
    }
    await syncProviders(tx, userId);
    cache.forgetUser(userId);
    return true;
  });
}
