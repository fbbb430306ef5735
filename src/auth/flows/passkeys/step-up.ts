import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { and, eq } from 'drizzle-orm';
import { passkeys } from '../../../db/schema.js';
import { AuthError } from '../../errors.js';
import type { AuthPayload } from '../../model.js';
import {
  CHALLENGE_TTL_S,
  credentialJson,
  passkeyInvalid,
  storeChallenge,
  takeChallenge,
  webauthnLib,
} from '../../webauthn.js';
import { countAttempt, elevateByFactor, liveSession, type MfaCaller } from '../mfa/factor-session.js';
import { type PasskeyDeps, passkeysOf, recordUse, verifyAssertion } from './shared.js';

/**
 * Options for a second factor: the caller's own passkeys only, bound to this session.
 * Nothing to offer without a passkey.
 */
export async function stepUpOptions(
  deps: Pick<PasskeyDeps, 'db' | 'config'>,
  caller: MfaCaller,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return deps.db.transaction(async (tx) => {
    const { session } = await liveSession(tx, caller);
    const own = await passkeysOf(tx, caller.userId);
    if (own.length === 0) {
      throw new AuthError('BAD_USER_INPUT', 'This account has no passkey; registerPasskey adds one.', {
        reason: 'NO_VERIFIED_FACTOR',
      });
    }
    const options = await (await webauthnLib()).generateAuthenticationOptions({
      rpID: deps.config.webauthn.rpId,
      allowCredentials: own.map((p) => ({ id: p.credentialId, transports: p.transports })),
      userVerification: 'required',
      timeout: CHALLENGE_TTL_S * 1000,
    });
    await storeChallenge(tx, 'stepup', options.challenge, session.id);
    return options;
  });
}

/**
 * The second factor after a password (or any aal1 sign-in): an assertion of one of the
 * caller's passkeys against this session's challenge raises the session to aal2, as a TOTP
 * code does (mfaVerify). Counted like code guesses.
 */
export async function verifyPasskey(deps: PasskeyDeps, caller: MfaCaller, rawResponse: unknown): Promise<AuthPayload> {
  const response = credentialJson<AuthenticationResponseJSON>(rawResponse, 'INVALID_CREDENTIALS');
  await countAttempt(deps, caller);
  const expectedChallenge = await takeChallenge(deps.db, 'stepup', { sessionId: caller.sessionId });
  // Another user's passkey reads exactly like an unknown one.
  const [passkey] = await deps.db
    .select()
    .from(passkeys)
    .where(and(eq(passkeys.credentialId, response.id), eq(passkeys.userId, caller.userId)));
  if (!passkey) throw passkeyInvalid();
  const newCounter = await verifyAssertion(deps.config.webauthn, response, expectedChallenge, passkey);
  const granted = await deps.db.transaction(async (tx) => {
    const { session, user } = await liveSession(tx, caller);
    await recordUse(tx, passkey, newCounter);
    return elevateByFactor(deps.grants, tx, caller, session, user, 'passkey', passkey.id);
  });
  return deps.grants.issue(granted);
}
