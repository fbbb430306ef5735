import { AuthError } from '../../errors.js';
import type { AuthPayload } from '../../model.js';
import {
  countAttempt,
  elevate,
  liveSession,
  type MfaCaller,
  type MfaDeps,
  mfaAudit,
  ownFactor,
  recordingWrongCode,
  spendCode,
} from './factor-session.js';
import { checkTotpCode } from './totp.js';

/** The challenge after sign-in: a code of a verified factor raises this session to aal2. */
export async function verify(
  deps: Pick<MfaDeps, 'db' | 'grants' | 'limiter' | 'keys'>,
  caller: MfaCaller,
  factorId: string,
  rawCode: string,
): Promise<AuthPayload> {
  const code = checkTotpCode(rawCode);
  await countAttempt(deps, caller);
  const check = { method: 'totp', factorId };
  const granted = await recordingWrongCode(deps.db, caller, check, () =>
    deps.db.transaction(async (tx) => {
      const { session, user } = await liveSession(tx, caller);
      const factor = await ownFactor(tx, caller.userId, factorId);
      if (factor.status !== 'verified') {
        throw new AuthError('BAD_USER_INPUT', 'This factor is not active yet; use mfaActivate.', {
          reason: 'FACTOR_NOT_VERIFIED',
        });
      }
      await spendCode(deps.keys, tx, factor, code);
      const audit = mfaAudit(caller, 'mfa.challenge_verified', {
        method: 'totp',
        factorId: factor.id,
        sessionId: session.id,
      });
      return elevate(deps.grants, tx, session, user, 'totp', [audit]);
    }),
  );
  return deps.grants.issue(granted);
}
