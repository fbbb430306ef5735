import { randomInt } from 'node:crypto';
import type { Secret } from 'otpauth';
import { HOTP } from 'otpauth';
import { constantTimeEqual } from '../../crypto.js';
import { badInput } from '../../errors.js';

// The primitives of TOTP second factors (RFC 6238) and their recovery codes: parameters,
// code checks and generation. No database, no keys.

// What every authenticator app understands (Google Authenticator ignores anything else).
export const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
// One step either side absorbs clock drift between the phone and us.
const WINDOW = 1;
/** The size of a new TOTP secret. */
export const SECRET_BYTES = 20;
/** How many recovery codes a user holds at a time. */
export const RECOVERY_CODES = 10;
const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const RECOVERY_LENGTH = 10;
const FRIENDLY_NAME_MAX = 64;

/**
 * The time step a code belongs to, within WINDOW steps of now and after the last one
 * accepted; null when none. Every candidate is compared in constant time.
 */
export function matchingStep(secret: Secret, code: string, nowMs: number, lastUsedStep: number | null): number | null {
  const now = Math.floor(nowMs / 1000 / TOTP_PARAMS.period);
  let found: number | null = null;
  for (let step = now - WINDOW; step <= now + WINDOW; step++) {
    if (lastUsedStep !== null && step <= lastUsedStep) continue;
    const expected = HOTP.generate({ secret, counter: step, ...TOTP_PARAMS });
    if (found === null && constantTimeEqual(expected, code)) found = step;
  }
  return found;
}

/** Six digits; spaces, as apps show "123 456", are ignored. */
export function checkTotpCode(raw: string): string {
  const code = raw.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) throw badInput('A code is six digits.', 'code');
  return code;
}

/** A factor's label: trimmed, null when empty, refused when long or holding control characters. */
export function checkFriendlyName(raw: string | null | undefined): string | null {
  const name = raw?.trim() ?? '';
  if (name === '') return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if ([...name].length > FRIENDLY_NAME_MAX || /[\u0000-\u001f\u007f]/.test(name)) {
    throw badInput(`friendlyName is at most ${FRIENDLY_NAME_MAX} printable characters.`, 'friendlyName');
  }
  return name;
}

/** Ten base32 characters (50 bits) in their canonical form; shown to people as xxxxx-xxxxx. */
export function newRecoveryCode(): string {
  return Array.from({ length: RECOVERY_LENGTH }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('');
}

/** The canonical form that is hashed: lower case, without the dash or spaces people type. */
export function normalizeRecoveryCode(raw: string): string | null {
  const code = raw.toLowerCase().replace(/[\s-]+/g, '');
  return code.length === RECOVERY_LENGTH && [...code].every((c) => RECOVERY_ALPHABET.includes(c)) ? code : null;
}
