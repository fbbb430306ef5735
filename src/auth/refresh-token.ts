import { createHmac } from 'node:crypto';
import { hashSecret, looksLikeSecret, randomSecret } from './secret.js';

/** A session's first refresh token: 32 random bytes, opaque to the client. */
export const newRefreshToken = randomSecret;

/** What is stored: SHA-256 of the token, so a database leak yields no usable token. */
export const hashRefreshToken = hashSecret;

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
export const looksLikeRefreshToken = looksLikeSecret;
