import { eq } from 'drizzle-orm';
import { mfaFactors, mfaRecoveryCodes } from '../../../db/schema.js';
import { auditStatement } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { hasVerifiedFactor, liveSession, type MfaCaller, mfaAudit, ownFactor, requireAal2 } from './factor-session.js';

/**
 * Removes a factor; with a verified one at stake that takes an aal2 session. The last
 * verified factor takes the recovery codes with it: they stand in for a factor.
 */
export async function unenroll(deps: Pick<AuthDeps, 'db'>, caller: MfaCaller, factorId: string): Promise<boolean> {
  return deps.db.transaction(async (tx) => {
    const { session } = await liveSession(tx, caller);
    const factor = await ownFactor(tx, caller.userId, factorId);
    // A user without a verified factor has nothing beyond aal1 to protect, and could
    // not reach aal2 to clear an enrollment they gave up on.
    if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
    await Promise.all([
      tx.delete(mfaFactors).where(eq(mfaFactors.id, factor.id)),
      auditStatement(
        tx,
        mfaAudit(caller, 'mfa.factor_removed', {
          factorId: factor.id,
          factorType: factor.factorType,
          sessionId: session.id,
        }),
      ),
    ]);
    if (!(await hasVerifiedFactor(tx, caller.userId))) {
      await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, caller.userId));
    }
    return true;
  });
}
