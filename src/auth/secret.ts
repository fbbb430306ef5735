import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes as 43 base64url characters: states, nonces, verifiers, one-time codes. */
export const randomSecret = (): string => randomBytes(32).toString('base64url');

/** What is stored of a one-time secret: its SHA-256, so a database leak yields nothing usable. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** The PKCE S256 challenge of a verifier (RFC 7636, section 4.2). */
export const pkceChallenge = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');

export const looksLikeSecret = (s: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(s);
