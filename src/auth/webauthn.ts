import { createHash } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db, Tx } from '../db/client.js';
import { type PasskeyChallengeRow, passkeyChallenges } from '../db/schema.js';
import { AuthError } from './errors.js';

// The WebAuthn primitives the passkey flows share: the relying party, the challenges handed
// out and taken back once, and the checks on what a browser sends.

export type RelyingParty = Config['webauthn'];

type WebAuthnLib = typeof import('@simplewebauthn/server');
let lib: Promise<WebAuthnLib> | undefined;
/**
 * @simplewebauthn/server, loaded on the first passkey request: with its ASN.1 and COSE
 * dependencies it adds about 30 MB and 0.4 s to a start, which a deployment whose users
 * never touch passkeys should not pay.
 */
export const webauthnLib = (): Promise<WebAuthnLib> => {
  lib ??= import('@simplewebauthn/server');
  return lib;
};
export type ChallengeKind = PasskeyChallengeRow['kind'];

/** How long a ceremony may take, from options to answer; also the browser's timeout. */
export const CHALLENGE_TTL_S = 300;
// What a browser's answer can reasonably weigh: attestation objects are a few KB.
const RESPONSE_MAX_CHARS = 64 * 1024;
const CREDENTIAL_ID_MAX_CHARS = 1024;

export const challengeExpired = (): AuthError =>
  new AuthError('BAD_USER_INPUT', 'This passkey request expired or was used already; ask for new options.', {
    reason: 'CHALLENGE_EXPIRED',
  });

/** An assertion that does not verify, names no passkey of ours, or comes from an origin not allowed. */
export const passkeyInvalid = (code: 'INVALID_CREDENTIALS' | 'BAD_USER_INPUT' = 'INVALID_CREDENTIALS'): AuthError =>
  new AuthError(code, 'The passkey could not be verified.', { reason: 'PASSKEY_INVALID' });

/** Only the SHA-256 of a challenge is kept: a leaked row answers no ceremony. */
export const hashChallenge = (challenge: string): string => createHash('sha256').update(challenge).digest('hex');

/**
 * Stores a new challenge. A session keeps one outstanding challenge per kind: asking again
 * replaces it, so a page reloaded ten times leaves one row. Expired rows go with the periodic
 * clean-up (src/auth/maintenance.ts); until then they answer nothing.
 */
export async function storeChallenge(
  db: Db | Tx,
  kind: ChallengeKind,
  challenge: string,
  sessionId: string | null,
): Promise<string> {
  if (sessionId !== null) {
    await db
      .delete(passkeyChallenges)
      .where(and(eq(passkeyChallenges.sessionId, sessionId), eq(passkeyChallenges.kind, kind)));
  }
  const [row] = await db
    .insert(passkeyChallenges)
    .values({
      kind,
      challengeHash: hashChallenge(challenge),
      sessionId,
      expiresAt: sql`now() + make_interval(secs => ${CHALLENGE_TTL_S})`,
    })
    .returning({ id: passkeyChallenges.id });
  if (!row) throw new Error('challenge insert returned nothing');
  return row.id;
}

/**
 * Takes a challenge back for good, right answer or wrong: deleted in its own statement,
 * committed before the answer is checked, so no failure rolls the deletion back and a
 * challenge is answered at most once. Expired or already taken: CHALLENGE_EXPIRED.
 */
export async function takeChallenge(
  db: Db,
  kind: ChallengeKind,
  by: { sessionId: string } | { flowId: string },
): Promise<(challenge: string) => boolean> {
  const where =
    'sessionId' in by
      ? and(eq(passkeyChallenges.kind, kind), eq(passkeyChallenges.sessionId, by.sessionId))
      : and(eq(passkeyChallenges.kind, kind), eq(passkeyChallenges.id, by.flowId));
  const [row] = await db
    .delete(passkeyChallenges)
    .where(where)
    .returning({
      challengeHash: passkeyChallenges.challengeHash,
      live: sql<boolean>`${passkeyChallenges.expiresAt} > now()`,
    });
  if (!row?.live) throw challengeExpired();
  return (challenge) => hashChallenge(challenge) === row.challengeHash;
}

/**
 * What a browser sent as a credential (PublicKeyCredential.toJSON()), checked for shape and
 * size before any of it reaches the verifier or the database. T is the library's type of it:
 * the verifier checks every field it reads, and refuses what does not verify.
 */
export function credentialJson<T>(raw: unknown, code: 'INVALID_CREDENTIALS' | 'BAD_USER_INPUT'): T & { id: string } {
  const r = raw as { id?: unknown; rawId?: unknown; type?: unknown; response?: unknown } | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    Array.isArray(r) ||
    typeof r.id !== 'string' ||
    r.id.length === 0 ||
    r.id.length > CREDENTIAL_ID_MAX_CHARS ||
    !/^[A-Za-z0-9_-]+$/.test(r.id) ||
    r.rawId !== r.id ||
    r.type !== 'public-key' ||
    typeof r.response !== 'object' ||
    r.response === null ||
    JSON.stringify(r).length > RESPONSE_MAX_CHARS
  ) {
    throw passkeyInvalid(code);
  }
  return r as T & { id: string };
}

/** The user handle we give a passkey: the user's id as 16 bytes (no email, nothing personal). */
export const userHandleOf = (userId: string): Uint8Array<ArrayBuffer> =>
  new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));

/** The user id a user handle (base64url) names, or null. */
export function userIdOfHandle(handle: string): string | null {
  const hex = Buffer.from(handle, 'base64url').toString('hex');
  if (hex.length !== 32) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
