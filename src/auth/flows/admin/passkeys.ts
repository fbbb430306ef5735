import { and, asc, eq } from 'drizzle-orm';
import type { Db } from '../../../db/client.js';
import { passkeys } from '../../../db/schema.js';
import { auditStatement, byService } from '../../audit.js';

/** A user's passkeys as the service role sees them (never a public key), oldest first. */
export async function listUserPasskeys(deps: { db: Db }, userId: string) {
  return deps.db
    .select({
      id: passkeys.id,
      name: passkeys.name,
      transports: passkeys.transports,
      deviceType: passkeys.deviceType,
      backedUp: passkeys.backedUp,
      createdAt: passkeys.createdAt,
      lastUsedAt: passkeys.lastUsedAt,
    })
    .from(passkeys)
    .where(eq(passkeys.userId, userId))
    .orderBy(asc(passkeys.createdAt), asc(passkeys.id));
}

/**
 * Removes a user's passkey (a lost device, a support case). False when the user has no such
 * passkey. Sessions it opened stay: adminSignOut ends them.
 */
export async function deleteUserPasskey(deps: { db: Db }, userId: string, passkeyId: string): Promise<boolean> {
  return deps.db.transaction(async (tx) => {
    const gone = await tx
      .delete(passkeys)
      .where(and(eq(passkeys.id, passkeyId), eq(passkeys.userId, userId)))
      .returning({ id: passkeys.id });
    if (gone.length === 0) return false;
    await auditStatement(
      tx,
      byService('passkey.removed', userId, null, { factorId: passkeyId, factorType: 'passkey' }),
    );
    return true;
  });
}
