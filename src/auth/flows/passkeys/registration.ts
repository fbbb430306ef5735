import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { count, eq } from 'drizzle-orm';
import type { SessionRow, UserRow } from '../../../db/schema.js';
import { passkeys } from '../../../db/schema.js';
import { reauthenticationRequired, recentlyAuthenticated } from '../../assurance.js';
import { auditStatement } from '../../audit.js';
import { AuthError, isUniqueViolation } from '../../errors.js';
import {
  CHALLENGE_TTL_S,
  credentialJson,
  passkeyInvalid,
  storeChallenge,
  takeChallenge,
  userHandleOf,
  webauthnLib,
} from '../../webauthn.js';
import {
  hasVerifiedFactor,
  liveSession,
  type MfaCaller,
  mfaAudit,
  replaceRecoveryCodes,
  requireAal2,
  unusedRecoveryCodes,
} from '../mfa/factor-session.js';
import type { MfaKeys } from '../mfa/keys.js';
import { checkName, MAX_PASSKEYS, type PasskeyDeps, type PasskeyView, passkeysOf, toPasskeyView } from './shared.js';

/** A stored passkey and, with the user's first factor, their recovery codes (as mfaActivate gives them). */
export type PasskeyRegistration = { passkey: PasskeyView; recoveryCodes: string[] };

/**
 * Options for navigator.credentials.create, bound to the caller's session. A discoverable
 * credential with user verification: the passkey alone can later sign in. With a factor or
 * passkey already, only an aal2 session may add one: else a stolen password would be enough
 * to plant a passkey of the thief's, which signs in at aal2.
 */
export async function registrationOptions(
  deps: Pick<PasskeyDeps, 'db' | 'config'>,
  caller: MfaCaller,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { rpId, rpName } = deps.config.webauthn;
  return deps.db.transaction(async (tx) => {
    const { session, user } = await liveSession(tx, caller);
    requireRecentSignIn(session, user, deps.config.reauthWindowS);
    if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
    const existing = await passkeysOf(tx, caller.userId);
    if (existing.length >= MAX_PASSKEYS) throw tooMany();
    const options = await (await webauthnLib()).generateRegistrationOptions({
      rpName,
      rpID: rpId,
      userID: userHandleOf(user.id),
      userName: user.email ?? user.id,
      userDisplayName: user.email ?? '',
      timeout: CHALLENGE_TTL_S * 1000,
      attestationType: 'none',
      // The browser refuses an authenticator that holds one of these already.
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    });
    await storeChallenge(tx, 'registration', options.challenge, session.id);
    return options;
  });
}

/**
 * The browser's answer to registrationOptions: verified against the session's challenge
 * (taken for good first), our origins and RP ID, with user verification; then stored. The
 * session keeps its aal: verifyPasskey (or a passkey sign-in) is what reaches aal2.
 */
export async function registerPasskey(
  deps: Pick<PasskeyDeps, 'db' | 'config'> & { keys: MfaKeys },
  caller: MfaCaller,
  rawResponse: unknown,
  rawName: string | null | undefined,
): Promise<PasskeyRegistration> {
  const name = checkName(rawName);
  const response = credentialJson<RegistrationResponseJSON>(rawResponse, 'BAD_USER_INPUT');
  const expectedChallenge = await takeChallenge(deps.db, 'registration', { sessionId: caller.sessionId });
  const { rpId, origins } = deps.config.webauthn;
  let verified: Awaited<ReturnType<Awaited<ReturnType<typeof webauthnLib>>['verifyRegistrationResponse']>>;
  try {
    verified = await (await webauthnLib()).verifyRegistrationResponse({
      response,
      expectedChallenge,
      expectedOrigin: origins,
      expectedRPID: rpId,
      requireUserVerification: true,
    });
  } catch {
    // The verifier's message says which check failed; it is not for the client.
    throw passkeyInvalid('BAD_USER_INPUT');
  }
  if (!verified.verified) throw passkeyInvalid('BAD_USER_INPUT');
  const { credential, credentialDeviceType, credentialBackedUp } = verified.registrationInfo;
  try {
    return await deps.db.transaction(async (tx) => {
      // Checked again: the session may have been signed out, or a factor added, meanwhile.
      const { session, user } = await liveSession(tx, caller);
      requireRecentSignIn(session, user, deps.config.reauthWindowS);
      if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
      const [n] = await tx.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, caller.userId));
      if ((n?.n ?? 0) >= MAX_PASSKEYS) throw tooMany();
      const [row] = await tx
        .insert(passkeys)
        .values({
          userId: caller.userId,
          credentialId: credential.id,
          publicKey: Buffer.from(credential.publicKey).toString('base64url'),
          counter: credential.counter,
          transports: (credential.transports ?? []).slice(0, 8),
          name,
          deviceType: credentialDeviceType,
          backedUp: credentialBackedUp,
        })
        .returning();
      if (!row) throw new Error('passkey insert returned nothing');
      await auditStatement(tx, mfaAudit(caller, 'passkey.registered', { factorId: row.id, factorType: 'passkey' }));
      // A passkey-only user who loses the device would be held at aal1 for good without these.
      const recoveryCodes =
        (await unusedRecoveryCodes(tx, caller.userId)) === 0
          ? await replaceRecoveryCodes(deps.keys, tx, caller.userId)
          : [];
      return { passkey: toPasskeyView(row), recoveryCodes };
    });
  } catch (err) {
    if (isUniqueViolation(err, 'passkeys_credential_id_key')) {
      throw new AuthError('BAD_USER_INPUT', 'This passkey is registered already.', {
        reason: 'PASSKEY_ALREADY_REGISTERED',
      });
    }
    throw err;
  }
}

const tooMany = (): AuthError =>
  new AuthError('BAD_USER_INPUT', `A user has at most ${MAX_PASSKEYS} passkeys; remove one first.`, {
    reason: 'TOO_MANY_FACTORS',
  });

/**
 * A passkey signs in on its own, so adding one is adding a way in: it takes a session that
 * signed in (or passed a factor) within REAUTH_WINDOW_S, as a new email does. Else an access
 * token stolen hours later would plant a lasting credential. An anonymous user's session is
 * its only credential: nothing to ask again.
 */
function requireRecentSignIn(session: SessionRow, user: UserRow, windowS: number): void {
  const authenticatedAt = session.amr.length > 0 ? Math.max(...session.amr.map((a) => a.timestamp)) : null;
  if (!user.isAnonymous && !recentlyAuthenticated({ authenticatedAt }, windowS)) throw reauthenticationRequired();
}
