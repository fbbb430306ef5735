import { and, eq } from 'drizzle-orm';
import { mfaRecoveryCodes, passkeys } from '../../../db/schema.js';
import { auditStatement } from '../../audit.js';
import { hasVerifiedFactor, liveSession, type MfaCaller, mfaAudit, requireAal2 } from '../mfa/factor-session.js';
import {
  checkName,
  ownPasskey,
  type PasskeyDeps,
  type PasskeyView,
  passkeyNotFound,
  passkeysOf,
  toPasskeyView,
} from './shared.js';

/** The caller's passkeys, oldest first. */
export async function listPasskeys(deps: Pick<PasskeyDeps, 'db'>, userId: string): Promise<PasskeyView[]> {
  return (await passkeysOf(deps.db, userId)).map(toPasskeyView);
}

/** A new name for one of the caller's passkeys: a label, it changes how nobody signs in. */
export async function renamePasskey(
  deps: Pick<PasskeyDeps, 'db'>,
  caller: MfaCaller,
  id: string,
  rawName: string,
): Promise<PasskeyView> {
  const name = checkName(rawName);
  return deps.db.transaction(async (tx) => {
    await liveSession(tx, caller);
    const own = await ownPasskey(tx, caller.userId, id);
    const [row] = await tx.update(passkeys).set({ name }).where(eq(passkeys.id, own.id)).returning();
    if (!row) throw passkeyNotFound();
    return toPasskeyView(row);
  });
}

/**
 * Removes one of the caller's passkeys. A passkey is a factor (docs/passkeys.md), so this
 * takes an aal2 session, as mfaUnenroll of a verified factor does: else a stolen password
 * could remove the owner's second factor. The last factor takes the recovery codes along.
 */
export async function deletePasskey(deps: Pick<PasskeyDeps, 'db'>, caller: MfaCaller, id: string): Promise<boolean> {
  return deps.db.transaction(async (tx) => {
    const { session } = await liveSession(tx, caller);
    const own = await ownPasskey(tx, caller.userId, id);
    if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
    await Promise.all([
      tx.delete(passkeys).where(and(eq(passkeys.id, own.id), eq(passkeys.userId, caller.userId))),
      auditStatement(tx, mfaAudit(caller, 'passkey.removed', { factorId: own.id, factorType: 'passkey' })),
    ]);
    if (!(await hasVerifiedFactor(tx, caller.userId))) {
      await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, caller.userId));
    }
    return true;
  });
}
