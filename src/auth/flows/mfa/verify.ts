import { AuthError } from '../../errors.js';
import type { AuthPayload } from '../../model.js';
import {
  countAttempt,
  elevateByFactor,
  liveSession,
  type MfaCaller,
  type MfaDeps,
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
      return elevateByFactor(deps.grants, tx, caller, session, user, 'totp', factor.id);
    }),
  );
  return deps.grants.issue(granted);
}
