import { and, eq, isNull, sql } from 'drizzle-orm';
import { mfaRecoveryCodes } from '../../../db/schema.js';
import { badInput } from '../../errors.js';
import type { AuthPayload } from '../../model.js';
import {
  countAttempt,
  elevate,
  liveSession,
  type MfaCaller,
  type MfaDeps,
  mfaAudit,
  recordingWrongCode,
  wrongCode,
} from './factor-session.js';
import { normalizeRecoveryCode } from './totp.js';

/** The way in without the phone: one recovery code, spent for good, raises to aal2. */
export async function verifyRecoveryCode(
  deps: Pick<MfaDeps, 'db' | 'grants' | 'limiter' | 'keys'>,
  caller: MfaCaller,
  rawCode: string,
): Promise<AuthPayload> {
  const code = normalizeRecoveryCode(rawCode);
  if (code === null) throw badInput('A recovery code is ten letters and digits.', 'code');
  await countAttempt(deps, caller);
  const check = { method: 'recovery_code' };
  const granted = await recordingWrongCode(deps.db, caller, check, () =>
    deps.db.transaction(async (tx) => {
      const { session, user } = await liveSession(tx, caller);
      // Found by its HMAC (the code itself is never stored) and spent in the same statement,
      // only while unused: a code works once.
      const spent = await tx
        .update(mfaRecoveryCodes)
        .set({ usedAt: sql`now()` })
        .where(
          and(
            eq(mfaRecoveryCodes.userId, caller.userId),
            eq(mfaRecoveryCodes.codeHash, deps.keys.recoveryHash(caller.userId, code)),
            isNull(mfaRecoveryCodes.usedAt),
          ),
        )
        .returning({ id: mfaRecoveryCodes.id });
      if (spent.length === 0) throw wrongCode();
      const audit = mfaAudit(caller, 'mfa.recovery_code_used', { method: 'recovery_code', sessionId: session.id });
      return elevate(deps.grants, tx, session, user, 'recovery_code', [audit]);
    }),
  );
  return deps.grants.issue(granted);
}
