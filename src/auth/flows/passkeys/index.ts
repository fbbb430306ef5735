import type { AuthDeps } from '../../deps.js';
import type { ClientInfo } from '../../model.js';
import type { MfaCaller } from '../mfa/factor-session.js';
import { mfaKeys } from '../mfa/keys.js';
import { deletePasskey, listPasskeys, renamePasskey } from './manage.js';
import { registerPasskey, registrationOptions } from './registration.js';
import type { PasskeyDeps } from './shared.js';
import { signInOptions, signInWithPasskey } from './sign-in.js';
import { stepUpOptions, verifyPasskey } from './step-up.js';

export type { PasskeyRegistration } from './registration.js';
export type { PasskeyView } from './shared.js';
export type { PasskeySignInOptions } from './sign-in.js';

export type PasskeyService = ReturnType<typeof createPasskeyService>;

/** Passkeys (WebAuthn): registration, sign-in on their own, the second factor, management. */
export function createPasskeyService(deps: AuthDeps) {
  const { db, config, grants, limiter } = deps;
  const pk: PasskeyDeps = { db, config, grants, limiter };
  // The same keys as the MFA flows' (derived from the server secret): recovery codes are shared.
  const keys = mfaKeys(deps.serverKey);
  return {
    list: (userId: string) => listPasskeys(pk, userId),
    registrationOptions: (caller: MfaCaller) => registrationOptions(pk, caller),
    register: (caller: MfaCaller, response: unknown, name: string | null | undefined) =>
      registerPasskey({ ...pk, keys }, caller, response, name),
    rename: (caller: MfaCaller, id: string, name: string) => renamePasskey(pk, caller, id, name),
    delete: (caller: MfaCaller, id: string) => deletePasskey(pk, caller, id),
    signInOptions: (client: ClientInfo) => signInOptions(pk, client),
    signIn: (flowId: string, response: unknown, client: ClientInfo) => signInWithPasskey(pk, flowId, response, client),
    stepUpOptions: (caller: MfaCaller) => stepUpOptions(pk, caller),
    verify: (caller: MfaCaller, response: unknown) => verifyPasskey(pk, caller, response),
  };
}
