import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { eq } from 'drizzle-orm';
import { passkeys } from '../../../db/schema.js';
import { isUuid } from '../../../shared/ids.js';
import type { AuthPayload, ClientInfo } from '../../model.js';
import { consumeInOrder, signInChecks } from '../../rate-limit.js';
import {
  CHALLENGE_TTL_S,
  challengeExpired,
  credentialJson,
  passkeyInvalid,
  storeChallenge,
  takeChallenge,
  userIdOfHandle,
  webauthnLib,
} from '../../webauthn.js';
import { type PasskeyDeps, recordUse, verifyAssertion } from './shared.js';

/** A sign-in ceremony: its id (for signInWithPasskey) and the options for navigator.credentials.get. */
export type PasskeySignInOptions = { flowId: string; options: PublicKeyCredentialRequestOptionsJSON };

/**
 * Options for a sign-in with no email typed: no allowCredentials, so the browser offers the
 * discoverable passkeys it holds for our RP ID. The challenge is bound to a flow id, there
 * being no session yet. Counted per client, as every unauthenticated way in.
 */
export async function signInOptions(
  deps: Pick<PasskeyDeps, 'db' | 'config' | 'limiter'>,
  client: ClientInfo,
): Promise<PasskeySignInOptions> {
  await deps.limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  const options = await (await webauthnLib()).generateAuthenticationOptions({
    rpID: deps.config.webauthn.rpId,
    userVerification: 'required',
    timeout: CHALLENGE_TTL_S * 1000,
  });
  const flowId = await storeChallenge(deps.db, 'signin', options.challenge, null);
  return { flowId, options };
}

/**
 * A passkey's assertion opens a new session at aal2, amr passkey: the authenticator proved
 * possession of the key and verified its user (PIN or biometric), two factors in one, and
 * the origin check makes it phishing-resistant. The flow's challenge is taken for good
 * before anything is checked, so an assertion answers at most once.
 */
export async function signInWithPasskey(
  deps: PasskeyDeps,
  flowId: string,
  rawResponse: unknown,
  client: ClientInfo,
): Promise<AuthPayload> {
  const response = credentialJson<AuthenticationResponseJSON>(rawResponse, 'INVALID_CREDENTIALS');
  // Guesses are counted per (credential, client) and per credential, as passwords are per
  // (address, client) and per address; before any database work beyond the counters.
  await consumeInOrder(deps.limiter, signInChecks(`passkey:${response.id}`, client.ip));
  if (!isUuid(flowId)) throw challengeExpired();
  const expectedChallenge = await takeChallenge(deps.db, 'signin', { flowId: flowId.toLowerCase() });
  const [passkey] = await deps.db.select().from(passkeys).where(eq(passkeys.credentialId, response.id));
  if (!passkey) throw passkeyInvalid();
  // A discoverable credential names its user; it must be the passkey's owner.
  const handle = response.response?.userHandle;
  if (typeof handle !== 'string' || userIdOfHandle(handle) !== passkey.userId) throw passkeyInvalid();
  const newCounter = await verifyAssertion(deps.config.webauthn, response, expectedChallenge, passkey);
  const granted = await deps.db.transaction(async (tx) => {
    await recordUse(tx, passkey, newCounter);
    return deps.grants.finishSignIn(tx, passkey.userId, client, 'passkey', () => passkeyInvalid(), [], 'aal2');
  });
  return deps.grants.issue(granted);
}
