import { eq, sql } from 'drizzle-orm';
import { mfaFactors } from '../../../db/schema.js';
import { AuthError } from '../../errors.js';
import type { AuthPayload } from '../../model.js';
import {
  countAttempt,
  elevate,
  factorNotFound,
  hasVerifiedFactor,
  isStale,
  liveSession,
  type MfaCaller,
  type MfaDeps,
  mfaAudit,
  ownFactor,
  replaceRecoveryCodes,
  requireAal2,
  spendCode,
  unusedRecoveryCodes,
} from './factor-session.js';
import { checkTotpCode } from './totp.js';

/** An activated factor's session (now aal2) and, with the user's first factor, their recovery codes. */
export type MfaActivation = { session: AuthPayload; recoveryCodes: string[] };

/**
 * The first code of a new factor proves the app holds the secret: the factor is verified
 * and this session passed it (aal2). Recovery codes come with the user's first factor.
 */
export async function activate(
  deps: Pick<MfaDeps, 'db' | 'grants' | 'limiter' | 'keys'>,
  caller: MfaCaller,
  factorId: string,
  rawCode: string,
): Promise<MfaActivation> {
  const code = checkTotpCode(rawCode);
  await countAttempt(deps, caller);
  const outcome = await deps.db.transaction(async (tx) => {
    const { session, user } = await liveSession(tx, caller);
    const factor = await ownFactor(tx, caller.userId, factorId);
    if (factor.status === 'verified') {
      throw new AuthError('BAD_USER_INPUT', 'This factor is already active; use mfaVerify.', {
        reason: 'FACTOR_ALREADY_VERIFIED',
      });
    }
    if (await isStale(tx, factor.id)) throw factorNotFound();
    // Else an aal1 session could finish an enrollment and come out aal2 without the
    // factor the user relies on.
    if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
    await spendCode(deps.keys, tx, factor, code);
    await tx.update(mfaFactors).set({ status: 'verified', updatedAt: sql`now()` }).where(eq(mfaFactors.id, factor.id));
    const recoveryCodes =
      (await unusedRecoveryCodes(tx, caller.userId)) === 0
        ? await replaceRecoveryCodes(deps.keys, tx, caller.userId)
        : [];
    const factorDetail = { factorId: factor.id, factorType: factor.factorType, sessionId: session.id };
    const audit = [mfaAudit(caller, 'mfa.factor_verified', factorDetail)];
    if (recoveryCodes.length > 0) {
      audit.push(mfaAudit(caller, 'mfa.recovery_codes_generated', { count: recoveryCodes.length }));
    }
    return { granted: await elevate(deps.grants, tx, session, user, 'totp', audit), recoveryCodes };
  });
  return { session: await deps.grants.issue(outcome.granted), recoveryCodes: outcome.recoveryCodes };
}
