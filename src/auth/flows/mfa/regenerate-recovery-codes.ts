import { auditStatement } from '../../audit.js';
import { AuthError } from '../../errors.js';
import {
  hasVerifiedFactor,
  liveSession,
  type MfaCaller,
  type MfaDeps,
  mfaAudit,
  replaceRecoveryCodes,
  requireAal2,
} from './factor-session.js';

/** A new set of recovery codes (the old ones stop working); aal2 only. */
export async function regenerateRecoveryCodes(
  deps: Pick<MfaDeps, 'db' | 'keys'>,
  caller: MfaCaller,
): Promise<string[]> {
  return deps.db.transaction(async (tx) => {
    const { session } = await liveSession(tx, caller);
    requireAal2(caller, session);
    if (!(await hasVerifiedFactor(tx, caller.userId))) {
      throw new AuthError('BAD_USER_INPUT', 'Recovery codes need an active factor.', {
        reason: 'NO_VERIFIED_FACTOR',
      });
    }
    const codes = await replaceRecoveryCodes(deps.keys, tx, caller.userId);
    await auditStatement(tx, mfaAudit(caller, 'mfa.recovery_codes_generated', { count: codes.length }));
    return codes;
  });
}
