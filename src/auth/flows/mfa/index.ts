import type { AuthDeps } from '../../deps.js';
import { activate } from './activate.js';
import { enroll } from './enroll.js';
import type { MfaCaller, MfaDeps } from './factor-session.js';
import { factors } from './factors.js';
import { mfaKeys } from './keys.js';
import { verifyRecoveryCode } from './recovery-code.js';
import { regenerateRecoveryCodes } from './regenerate-recovery-codes.js';
import { unenroll } from './unenroll.js';
import { verify } from './verify.js';

export type { MfaActivation } from './activate.js';
export type { MfaEnrollment } from './enroll.js';
export type { MfaCaller } from './factor-session.js';
export type { MfaFactorView } from './factors.js';

export type MfaService = ReturnType<typeof createMfaService>;

/** TOTP second factors (RFC 6238): enroll, activate, challenge, recovery codes, unenroll. */
export function createMfaService(deps: AuthDeps) {
  // The keys are derived from the server secret once, not per request; the flows never see the secret.
  const { db, config, grants, limiter } = deps;
  const mfa: MfaDeps = { db, config, grants, limiter, keys: mfaKeys(deps.serverKey) };
  return {
    factors: (userId: string) => factors(mfa, userId),
    enroll: (caller: MfaCaller, rawName: string | null | undefined) => enroll(mfa, caller, rawName),
    activate: (caller: MfaCaller, factorId: string, rawCode: string) => activate(mfa, caller, factorId, rawCode),
    verify: (caller: MfaCaller, factorId: string, rawCode: string) => verify(mfa, caller, factorId, rawCode),
    verifyRecoveryCode: (caller: MfaCaller, rawCode: string) => verifyRecoveryCode(mfa, caller, rawCode),
    unenroll: (caller: MfaCaller, factorId: string) => unenroll(mfa, caller, factorId),
    regenerateRecoveryCodes: (caller: MfaCaller) => regenerateRecoveryCodes(mfa, caller),
  };
}
