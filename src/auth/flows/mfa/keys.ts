import { createHmac } from 'node:crypto';
import { Secret } from 'otpauth';
import { deriveKey, secretBox } from '../../crypto.js';

/** The keys of the MFA flows, derived once from the server secret (createMfaService). */
export type MfaKeys = {
  /** Seals TOTP secrets at rest, bound to their row. */
  box: TotpBox;
  /** The HMAC of a recovery code, as stored: the code itself is never kept. */
  recoveryHash: (userId: string, code: string) => string;
};

type TotpBox = { seal: (plain: Buffer, aad: string) => string; open: (stored: string, aad: string) => Secret };

/** Derives the MFA keys from the server secret. */
export function mfaKeys(serverKey: string): MfaKeys {
  // Separate keys per use, so neither the secret box nor the code hashes share a key with
  // anything else derived from the same server secret.
  const box = totpBox(deriveKey(serverKey, 'authgate mfa totp secret'));
  const recoveryKey = deriveKey(serverKey, 'authgate mfa recovery code');
  return {
    box,
    recoveryHash: (userId, code) => createHmac('sha256', recoveryKey).update(`${userId}:${code}`).digest('hex'),
  };
}

/** Binds a ciphertext to its row: a secret copied into another user's factor does not open. */
export const aadOf = (userId: string, factorId: string): string => `mfa_factors:${userId}:${factorId}`;

/** The generic box (src/auth/crypto.ts) with TOTP's error label, opening to an otpauth Secret. */
function totpBox(key: Buffer): TotpBox {
  const box = secretBox(key, 'mfa secret');
  return {
    seal: box.seal,
    open(stored: string, aad: string): Secret {
      const plain = box.open(stored, aad);
      return new Secret({ buffer: plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength) });
    },
  };
}
