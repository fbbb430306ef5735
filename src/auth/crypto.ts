import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * A 32-byte key for one purpose (HKDF-SHA256, `info` names the purpose), so keys derived
 * from one server secret for different uses never coincide.
 */
export function deriveKey(secretKey: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), info, 32));
}

export type SecretBox = {
  /** Encrypts `plain`, bound to `aad` (what the ciphertext belongs to, e.g. its row). */
  seal: (plain: Buffer | string, aad: string) => string;
  /** The plain bytes; throws `<label>: cannot be decrypted` on a wrong key, a wrong aad or tampering. */
  open: (stored: string, aad: string) => Buffer;
};

/**
 * AES-256-GCM, stored as v1:<iv>:<tag>:<ciphertext> in base64url; the version leaves room for
 * a new format. `label` starts every error message (which never holds key or plain text).
 */
export function secretBox(key: Buffer, label = 'secret'): SecretBox {
  return {
    seal(plain, aad) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(aad));
      const ct = Buffer.concat([
        cipher.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain),
        cipher.final(),
      ]);
      return ['v1', iv, cipher.getAuthTag(), ct]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join(':');
    },
    open(stored, aad) {
      const [version, iv, tag, ct] = stored.split(':');
      if (version !== 'v1' || !iv || !tag || !ct) throw new Error(`${label}: unknown format`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
          .setAAD(Buffer.from(aad))
          .setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]);
      } catch {
        // The key changed or the row was tampered with; the cause names nothing secret.
        throw new Error(`${label}: cannot be decrypted`);
      }
    },
  };
}

/** Compares two strings without an early exit, so the time taken does not tell how much matched. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
