import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../../db/client.js';
import { type PasskeyRow, passkeys } from '../../../db/schema.js';
import { isUuid } from '../../../shared/ids.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError, badInput } from '../../errors.js';
import { storable } from '../../validate.js';
import { passkeyInvalid, type RelyingParty, webauthnLib } from '../../webauthn.js';

/** What the passkey flows may use. */
export type PasskeyDeps = Pick<AuthDeps, 'db' | 'config' | 'grants' | 'limiter'>;

/** A passkey as the GraphQL layer shows it: never its public key. */
export type PasskeyView = {
  id: string;
  name: string;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
};

// Passkeys per user: enough for every device a person has, few enough to list at once.
export const MAX_PASSKEYS = 20;
const NAME_MAX = 64;

export const passkeyNotFound = (): AuthError =>
  new AuthError('BAD_USER_INPUT', 'No such passkey.', { reason: 'PASSKEY_NOT_FOUND', field: 'id' });

/** A passkey's name: trimmed, 1-64 printable characters; empty or absent is "Passkey". */
export function checkName(raw: string | null | undefined): string {
  const name = raw?.trim() ?? '';
  if (name === '') return 'Passkey';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if ([...name].length > NAME_MAX || /[\u0000-\u001f\u007f]/.test(name) || !storable(name)) {
    throw badInput(`name is at most ${NAME_MAX} printable characters.`, 'name');
  }
  return name;
}

/** The user's passkeys, oldest first. */
export async function passkeysOf(db: Db | Tx, userId: string): Promise<PasskeyRow[]> {
  return db
    .select()
    .from(passkeys)
    .where(eq(passkeys.userId, userId))
    .orderBy(asc(passkeys.createdAt), asc(passkeys.id));
}

/** The user's own passkey; another user's id reads exactly like an unknown one. */
export async function ownPasskey(db: Db | Tx, userId: string, id: string): Promise<PasskeyRow> {
  if (!isUuid(id)) throw passkeyNotFound();
  const [row] = await db
    .select()
    .from(passkeys)
    .where(and(eq(passkeys.id, id.toLowerCase()), eq(passkeys.userId, userId)));
  if (!row) throw passkeyNotFound();
  return row;
}

export const toPasskeyView = (r: PasskeyRow): PasskeyView => ({
  id: r.id,
  name: r.name,
  transports: r.transports,
  deviceType: r.deviceType,
  backedUp: r.backedUp,
  createdAt: r.createdAt,
  lastUsedAt: r.lastUsedAt,
});

/**
 * Checks an assertion against the challenge taken back, our origins and RP ID, the stored
 * public key and counter, with user verification required. Any failure is PASSKEY_INVALID:
 * which check failed is not for the client.
 */
export async function verifyAssertion(
  rp: RelyingParty,
  response: AuthenticationResponseJSON,
  expectedChallenge: (challenge: string) => boolean,
  passkey: PasskeyRow,
): Promise<number> {
  try {
    const { verified, authenticationInfo } = await (await webauthnLib()).verifyAuthenticationResponse({
      response,
      expectedChallenge,
      expectedOrigin: rp.origins,
      expectedRPID: rp.rpId,
      credential: {
        id: passkey.credentialId,
        publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')),
        counter: passkey.counter,
      },
      requireUserVerification: true,
    });
    if (!verified || !authenticationInfo.userVerified) throw passkeyInvalid();
    return authenticationInfo.newCounter;
  } catch {
    throw passkeyInvalid();
  }
}

/**
 * Records a use: the new counter and last_used_at, only while the counter is still the one
 * the assertion was checked against. Two answers racing with one counter value (a cloned
 * authenticator, a replay) cannot both pass; the verifier already refused a counter that went back.
 */
export async function recordUse(tx: Tx, passkey: PasskeyRow, newCounter: number): Promise<void> {
  const updated = await tx
    .update(passkeys)
    .set({ counter: newCounter, lastUsedAt: sql`now()` })
    .where(and(eq(passkeys.id, passkey.id), eq(passkeys.counter, passkey.counter)))
    .returning({ id: passkeys.id });
  if (updated.length === 0) throw passkeyInvalid();
}
