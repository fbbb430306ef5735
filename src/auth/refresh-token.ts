import { createHash, createHmac, randomBytes } from 'node:crypto';

/** A session's first refresh token: 32 random bytes, opaque to the client. */
export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What is stored: SHA-256 of the token, so a database leak yields no usable token. */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The token that succeeds `parent` in its chain: HMAC(server key, parent). Deterministic, so
 * a retry of a refresh inside the reuse interval gets the very same child instead of a
 * second live branch; unforgeable without the server key, so a stolen, already-rotated
 * token cannot be turned into its successor offline.
 */
export function childRefreshToken(key: string, parent: string): string {
  return createHmac('sha256', key).update(`refresh-child:${parent}`).digest('base64url');
}

/** Cheap shape check before any database work: our tokens are 43 base64url characters. */
export function looksLikeRefreshToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}
